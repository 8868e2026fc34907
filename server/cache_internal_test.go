package server

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCacheRecent: figures are computed once a period; past it, or after
// a change, the old ones are served at once while new ones are computed
// in the background, once; past keep, the caller waits for new ones.
func TestCacheRecent(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c := newCache(clock)
	var fills atomic.Int32
	release := make(chan struct{}, 10)
	fill := func() (any, error) {
		n := fills.Add(1)
		if n > 1 {
			<-release // a background computation waits to be let go
		}
		return n, nil
	}
	get := func() (int32, time.Time) {
		t.Helper()
		v, at, err := c.recent("k", 30*time.Second, 5*time.Minute, fill)
		if err != nil {
			t.Fatal(err)
		}
		return v.(int32), at
	}
	if v, at := get(); v != 1 || !at.Equal(clock()) {
		t.Fatalf("first: %d at %s, want 1 computed now", v, at)
	}
	advance(10 * time.Second)
	if v, _ := get(); v != 1 || fills.Load() != 1 {
		t.Fatalf("within the period: %d after %d computations, want the first, once", v, fills.Load())
	}
	// Past the period: the old figures at once, new ones computed once
	// however many ask meanwhile.
	advance(30 * time.Second)
	for range 5 {
		if v, _ := get(); v != 1 {
			t.Fatalf("past the period: %d, want the old figures served while new ones are computed", v)
		}
	}
	release <- struct{}{}
	waitFor(t, func() bool { v, _ := get(); return v == 2 })
	if n := fills.Load(); n != 2 {
		t.Errorf("%d computations, want 2: one in the background for every caller", n)
	}
	// A change marks them stale: served at once, computed again.
	c.clear()
	if v, _ := get(); v != 2 {
		t.Fatalf("after a change: %d, want the stale figures at once", v)
	}
	release <- struct{}{}
	waitFor(t, func() bool { v, _ := get(); return v == 3 })
	// Past keep, the caller waits for new figures.
	advance(6 * time.Minute)
	release <- struct{}{}
	if v, at := get(); v != 4 || !at.Equal(clock()) {
		t.Fatalf("past keep: %d at %s, want new figures computed now", v, at)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not within 10s")
		}
	}
}

// TestCacheChangeDuringComputation: a response computed while a change is
// made through the server is given to those who asked for it, but the
// next reader has it computed again rather than join or read it.
func TestCacheChangeDuringComputation(t *testing.T) {
	c := newCache(time.Now)
	var fills atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	fill := func() (string, []byte, error) {
		if fills.Add(1) == 1 {
			close(started)
			<-release
		}
		return "text/plain", []byte("x"), nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := c.get("k", time.Minute, fill); err != nil {
			t.Error(err)
		}
	}()
	<-started
	c.clear() // a change, while the first computation is under way
	if _, err := c.get("k", time.Minute, fill); err != nil {
		t.Fatal(err)
	}
	if n := fills.Load(); n != 2 {
		t.Errorf("a reader after the change joined the computation begun before it (%d computations, want 2)", n)
	}
	close(release)
	<-done
	if _, err := c.get("k", time.Minute, fill); err != nil {
		t.Fatal(err)
	}
	if n := fills.Load(); n != 2 {
		t.Errorf("%d computations, want 2: the one begun after the change is kept, the one before is not", n)
	}
}
