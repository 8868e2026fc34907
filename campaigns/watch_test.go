package campaigns_test

import (
	"context"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// stepClock moves a minute on at every look and never waits.
type stepClock struct{ t time.Time }

func (c *stepClock) Now() time.Time { c.t = c.t.Add(time.Minute); return c.t }
func (c *stepClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- c.t
	return ch
}

func TestWatch(t *testing.T) {
	tests := []struct {
		name      string
		actions   []orchestrator.Action // before the watch
		untilDone bool
		cancelAt  int   // in this round (1-based), cancel the campaign
		rounds    int   // rounds seen before Watch returns
		stopped   int   // times Stopped was called
		active    []int // Active per round
	}{
		{"nothing live: done at once", nil, true, 0, 1, 0, []int{0}},
		{"a draft is not live", nil, true, 0, 1, 0, []int{0}},
		{"running until cancelled, then stopped once", []orchestrator.Action{orchestrator.ActionStart}, true, 3, 4, 1, []int{1, 1, 1, 0}},
		{"paused counts as live", []orchestrator.Action{orchestrator.ActionStart, orchestrator.ActionPause}, true, 2, 3, 1, []int{1, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEstate(t, hosts(2)...)
			ctx := context.Background()
			svc := e.service()
			if tt.name != "nothing live: done at once" {
				if _, err := svc.Create(ctx, "c.yaml", []byte("name: c\nplaybook: discover\nwaves: [{name: all}]\n")); err != nil {
					t.Fatal(err)
				}
			}
			for _, a := range tt.actions {
				if _, err := svc.Act(ctx, "c", a); err != nil {
					t.Fatal(err)
				}
			}
			var active []int
			stopped := 0
			err := svc.Watch(ctx, campaigns.WatchOptions{Clock: &stepClock{t: now}, UntilDone: tt.untilDone,
				Stopped: func() { stopped++ },
				Round: func(r campaigns.Round) {
					active = append(active, r.Active)
					for _, p := range r.Campaigns {
						if p.Total != 2 || p.Finished != 0 || p.PerMinute != 0 || p.ETA != 0 {
							t.Errorf("progress = %+v", p)
						}
					}
					if len(active) == tt.cancelAt {
						if _, err := svc.Act(ctx, "c", orchestrator.ActionCancel); err != nil {
							t.Error(err)
						}
					}
					if len(active) > 10 {
						t.Fatal("does not stop")
					}
				}})
			if err != nil {
				t.Fatal(err)
			}
			if len(active) != tt.rounds || stopped != tt.stopped || !equal(active, tt.active) {
				t.Fatalf("rounds %v, stopped %d; want %v, %d", active, stopped, tt.active, tt.stopped)
			}
		})
	}
}

func TestWatchEndsWithItsContext(t *testing.T) {
	e := newEstate(t, hosts(2)...)
	svc := e.service()
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := svc.Create(ctx, "c.yaml", []byte("name: c\nplaybook: discover\nwaves: [{name: all}]\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Act(ctx, "c", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := svc.Watch(ctx, campaigns.WatchOptions{Clock: &stepClock{t: now}, Round: func(campaigns.Round) {
		if n++; n == 2 {
			cancel()
		}
	}})
	if err != nil || n < 2 {
		t.Fatalf("err %v after %d rounds", err, n)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
