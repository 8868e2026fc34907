package scheduler

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// statuses is a store's view of campaign statuses that counts its reads.
type statuses struct {
	mu    sync.Mutex
	by    map[string]orchestrator.Status
	reads map[string]int
}

func (s *statuses) campaign(_ context.Context, name string) (orchestrator.Campaign, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads[name]++
	st, ok := s.by[name]
	if !ok {
		return orchestrator.Campaign{}, errkind.NotFound
	}
	return orchestrator.Campaign{Name: name, Status: st}, nil
}

// device counts how often a watch cancelled it.
type device struct {
	mu sync.Mutex
	n  int
}

func (d *device) cancel() { d.mu.Lock(); d.n++; d.mu.Unlock() }

func (d *device) cancelled() int { d.mu.Lock(); defer d.mu.Unlock(); return d.n }

// TestCancelWatch checks that one poll reads each watched campaign once,
// however many devices watch it, cancels each device of exactly the
// cancelled ones once, cancels at once a device that starts watching a
// campaign already seen cancelled, and stops reading a campaign nobody
// watches any more.
func TestCancelWatch(t *testing.T) {
	tests := []struct {
		name      string
		watchers  map[string]int // campaign -> devices watching it
		status    map[string]orchestrator.Status
		cancelled []string
	}{
		{"nothing cancelled", map[string]int{"a": 3, "b": 1},
			map[string]orchestrator.Status{"a": orchestrator.StatusRunning, "b": orchestrator.StatusPaused}, nil},
		{"one of two cancelled", map[string]int{"a": 1000, "b": 2},
			map[string]orchestrator.Status{"a": orchestrator.StatusCancelled, "b": orchestrator.StatusRunning}, []string{"a"}},
		{"a campaign gone is not a cancel", map[string]int{"gone": 2, "c": 1},
			map[string]orchestrator.Status{"c": orchestrator.StatusCancelled}, []string{"c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &statuses{by: tt.status, reads: map[string]int{}}
			// A poll interval no test waits for: the test polls itself.
			w := &cancelWatch{campaign: st.campaign, every: time.Hour, timeout: time.Second}
			devices := map[string][]*device{}
			var releases []func()
			for name, n := range tt.watchers {
				for range n {
					d := &device{}
					devices[name] = append(devices[name], d)
					releases = append(releases, w.watch(name, d.cancel))
				}
			}
			if !w.poll(context.Background()) {
				t.Fatal("poll says nothing is watched")
			}
			for name := range tt.watchers {
				if st.reads[name] != 1 {
					t.Errorf("%s read %d times in one poll, want once for its %d devices", name, st.reads[name], tt.watchers[name])
				}
				want := false
				for _, c := range tt.cancelled {
					want = want || c == name
				}
				for _, d := range devices[name] {
					if (d.cancelled() == 1) != want || d.cancelled() > 1 {
						t.Fatalf("%s: cancelled %d times, want cancelled %v (once)", name, d.cancelled(), want)
					}
				}
				// A device that starts on a campaign seen cancelled is
				// cancelled at once; on another, not.
				late := &device{}
				releases = append(releases, w.watch(name, late.cancel))
				if (late.cancelled() == 1) != want {
					t.Fatalf("%s: a device starting after the poll cancelled %d times, want cancelled %v", name, late.cancelled(), want)
				}
			}
			// A cancelled campaign is not read again, nor its devices
			// cancelled twice; the others are read again.
			w.poll(context.Background())
			for name := range tt.watchers {
				want := 2
				if devices[name][0].cancelled() > 0 {
					want = 1
				}
				if st.reads[name] != want {
					t.Errorf("%s read %d times in two polls, want %d", name, st.reads[name], want)
				}
				for _, d := range devices[name] {
					if d.cancelled() > 1 {
						t.Errorf("%s: a device cancelled %d times", name, d.cancelled())
					}
				}
			}
			for _, release := range releases {
				release()
				release() // twice is once
			}
			if w.poll(context.Background()) {
				t.Fatal("poll says something is still watched after every release")
			}
			w.mu.Lock()
			polling, left := w.polling, len(w.byName)
			w.mu.Unlock()
			if polling || left != 0 {
				t.Fatalf("after every release: polling %v, %d campaigns watched", polling, left)
			}
		})
	}
}

// TestCancelWatchAgain checks that a device that starts after every
// earlier one was released starts the poll goroutine again and still sees
// a cancel.
func TestCancelWatchAgain(t *testing.T) {
	st := &statuses{by: map[string]orchestrator.Status{"a": orchestrator.StatusRunning}, reads: map[string]int{}}
	w := &cancelWatch{campaign: st.campaign, every: time.Millisecond, timeout: time.Second}
	release := w.watch("a", func() { t.Error("cancelled, though running") })
	release()
	// The goroutine ends on its own once it finds nothing watched.
	for {
		w.mu.Lock()
		polling := w.polling
		w.mu.Unlock()
		if !polling {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ch := make(chan struct{})
	release = w.watch("a", func() { close(ch) })
	defer release()
	st.mu.Lock()
	st.by["a"] = orchestrator.StatusCancelled
	st.mu.Unlock()
	<-ch // the restarted goroutine cancels it; a hang fails the test by its timeout
}

// TestCancelWatchReleased checks that a device released before its
// campaign is seen cancelled is not cancelled.
func TestCancelWatchReleased(t *testing.T) {
	st := &statuses{by: map[string]orchestrator.Status{"a": orchestrator.StatusCancelled}, reads: map[string]int{}}
	w := &cancelWatch{campaign: st.campaign, every: time.Hour, timeout: time.Second}
	gone, stays := &device{}, &device{}
	w.watch("a", gone.cancel)()
	release := w.watch("a", stays.cancel)
	defer release()
	w.poll(context.Background())
	if gone.cancelled() != 0 || stays.cancelled() != 1 {
		t.Fatalf("released device cancelled %d times, running one %d, want 0 and 1", gone.cancelled(), stays.cancelled())
	}
}
