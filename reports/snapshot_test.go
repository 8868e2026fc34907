package reports_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/report"
	"github.com/ringmaster-fleet/ringmaster/reports"
)

// fakeClock is moved by hand; After's channels fire when it passes them.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	waiting chan time.Duration // each After, as it is called
}

type waiter struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: testNow, waiting: make(chan time.Duration, 16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	c.waiting <- d
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.c <- c.now
	}
	c.waiters = kept
}

// recorder passes each recording to the real history and tells the test.
type recorder struct {
	h        reports.Recorder
	recorded chan []report.Snapshot
	fail     error
}

func (r *recorder) Record(ctx context.Context, snaps []report.Snapshot) error {
	if r.fail != nil {
		r.recorded <- nil
		return r.fail
	}
	err := r.h.Record(ctx, snaps)
	r.recorded <- snaps
	return err
}

// TestSnapshotter drives the snapshotter's timer by hand: a snapshot at
// start, none before the interval, one when it passes, one when asked,
// and one asked for just as the context ends.
func TestSnapshotter(t *testing.T) {
	e := newEstate(t, 100)
	e.addAlert(t, true)
	clock := newFakeClock()
	rec := &recorder{h: e.history, recorded: make(chan []report.Snapshot, 16)}
	sn, err := reports.NewSnapshotter(reports.SnapshotterConfig{Reports: e.service(t, nil), History: rec, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sn.Run(ctx)
	}()
	expect := func(what string) []report.Snapshot {
		t.Helper()
		snaps := <-rec.recorded
		if len(snaps) == 0 {
			t.Fatalf("%s: nothing recorded", what)
		}
		if d := <-clock.waiting; d != reports.DefaultSnapshotInterval {
			t.Fatalf("%s: then waits %v, want %v", what, d, reports.DefaultSnapshotInterval)
		}
		return snaps
	}
	snaps := expect("at start")
	if snaps[0].Day.IsZero() {
		t.Errorf("snapshot without a day: %+v", snaps[0])
	}
	clock.Advance(59 * time.Minute)
	select {
	case <-rec.recorded:
		t.Fatal("recorded before the hour passed")
	default:
	}
	clock.Advance(time.Minute)
	expect("after an hour")
	sn.Ask()
	expect("when asked")

	// Asked as the process stops: still recorded.
	sn.Ask()
	cancel()
	<-done
	select {
	case <-rec.recorded:
	default:
		t.Fatal("the snapshot asked for as the context ended was lost")
	}
	h, err := e.history.Load(context.Background())
	if err != nil || len(h) == 0 {
		t.Errorf("history: %d snapshots, %v", len(h), err)
	}
}

// TestSnapshotterOnce records once, and a failure to record is returned
// wrapped, while Run logs it and goes on.
func TestSnapshotterOnce(t *testing.T) {
	e := newEstate(t, 60)
	for _, tc := range []struct {
		name string
		fail error
	}{
		{"records", nil},
		{"fails", errors.New("disk full")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{h: e.history, recorded: make(chan []report.Snapshot, 1), fail: tc.fail}
			sn, err := reports.NewSnapshotter(reports.SnapshotterConfig{Reports: e.service(t, nil), History: rec, Clock: newFakeClock()})
			if err != nil {
				t.Fatal(err)
			}
			snaps, err := sn.Once(context.Background())
			<-rec.recorded
			if tc.fail != nil {
				if !errors.Is(err, tc.fail) {
					t.Fatalf("Once: %v, want %v", err, tc.fail)
				}
				return
			}
			if err != nil || len(snaps) < 2 || !snaps[0].Day.Equal(testNow.Truncate(24*time.Hour)) {
				t.Fatalf("Once: %d snapshots, %v", len(snaps), err)
			}
		})
	}
	if _, err := reports.NewSnapshotter(reports.SnapshotterConfig{}); err == nil {
		t.Error("a snapshotter without stores: no error")
	}
}
