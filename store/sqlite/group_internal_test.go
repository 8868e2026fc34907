package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// TestGroupedWrites: many workers beginning, saving and finishing devices
// at once share transactions, yet each write is committed when its call
// returns, a refusal (a stale job) refuses only that write, and a write
// that fails otherwise (its context cancelled) fails alone.
func TestGroupedWrites(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "g.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cs, err := db.Campaigns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	var ms []orchestrator.Member
	var hosts []string
	for i := range n {
		h := fmt.Sprintf("d%03d.rxx", i)
		ms = append(ms, orchestrator.Member{Hostname: h, Org: "RXX", Order: i})
		hosts = append(hosts, h)
	}
	if err := cs.Create(ctx, orchestrator.Campaign{Name: "g"}, []string{"w"}, slices.Values(ms)); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.ChangeStatus(ctx, "g", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Apply(ctx, "g", 1, orchestrator.Plan{Dispatch: hosts}, time.Now(), "test", nil); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	var wg sync.WaitGroup
	errs := make([]error, n)
	stale := make([]error, n)
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cs.Begin(ctx, "g", h, 1, time.Now(), time.Minute); err != nil {
				errs[i] = err
				return
			}
			stale[i] = cs.Heartbeat(ctx, "g", h, 0, time.Now().Add(time.Minute), "old job", nil)
			if err := cs.Heartbeat(ctx, "g", h, 1, time.Now().Add(time.Minute), "step", []byte("cp")); err != nil {
				errs[i] = err
				return
			}
			c := ctx
			if i%50 == 7 {
				c = cancelled
			}
			errs[i] = cs.Finish(c, "g", h, 1, orchestrator.DeviceSucceeded, "completed", "", time.Time{})
		}()
	}
	wg.Wait()
	for i, h := range hosts {
		if !errors.Is(stale[i], orchestrator.ErrStale) {
			t.Errorf("%s: a stale job's heartbeat: %v, want ErrStale", h, stale[i])
		}
		d, err := cs.Device(ctx, "g", h)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case i%50 == 7:
			if !errors.Is(errs[i], context.Canceled) || d.State != orchestrator.DeviceRunning || string(d.Checkpoint) != "cp" {
				t.Errorf("%s: finish with a cancelled context: %v, device %s checkpoint %q; want it refused and the device running at its checkpoint",
					h, errs[i], d.State, d.Checkpoint)
			}
		case errs[i] != nil || d.State != orchestrator.DeviceSucceeded:
			t.Errorf("%s: %v, device %s; want it succeeded", h, errs[i], d.State)
		}
	}
}
