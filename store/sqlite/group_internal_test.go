package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// openInternal opens a new database file, closed when t ends.
func openInternal(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestGroupedWrites: many workers beginning, saving and finishing devices
// at once share transactions, yet each write is committed when its call
// returns, a refusal (a stale job) refuses only that write, and a write
// that fails otherwise (its context cancelled) fails alone.
func TestGroupedWrites(t *testing.T) {
	ctx := context.Background()
	db := openInternal(t)
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

// TestControlPassGoesFirst: while a control pass claims the writer, the
// workers' next batch waits for it, rather than taking the one connection
// first by database/sql's random choice among its waiters.
func TestControlPassGoesFirst(t *testing.T) {
	ctx := context.Background()
	db := openInternal(t)
	if _, err := db.db.ExecContext(ctx, `CREATE TABLE turn (who TEXT)`); err != nil {
		t.Fatal(err)
	}
	write := func(ctx context.Context, tx *sql.Tx, who string) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO turn (who) VALUES (?)`, who)
		return err
	}
	for round := range 20 {
		release := db.group.claim()
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = db.group.run(ctx, func(ctx context.Context, tx *sql.Tx) error { return write(ctx, tx, "worker") })
			}()
		}
		time.Sleep(time.Millisecond) // the workers queue up
		if err := withTx(ctx, db.db, func(tx *sql.Tx) error { return write(ctx, tx, "controller") }); err != nil {
			t.Fatal(err)
		}
		release()
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		var first string
		if err := db.db.QueryRowContext(ctx, `SELECT who FROM turn ORDER BY rowid LIMIT 1`).Scan(&first); err != nil {
			t.Fatal(err)
		}
		if first != "controller" {
			t.Fatalf("round %d: %s wrote first; want the controller, which claimed the writer", round, first)
		}
		if _, err := db.db.ExecContext(ctx, `DELETE FROM turn`); err != nil {
			t.Fatal(err)
		}
	}
}

// TestObservationsGrouped: runs recording what they observed share the
// workers' transactions; an unknown device is refused alone.
func TestObservationsGrouped(t *testing.T) {
	ctx := context.Background()
	db := openInternal(t)
	var csv strings.Builder
	csv.WriteString("hostname,org\n")
	const n = 200
	for i := range n {
		fmt.Fprintf(&csv, "d%03d.rxx,RXX\n", i)
	}
	r, err := format.NewCSVReader(strings.NewReader(csv.String()), "estate.csv", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	inv := db.Inventory()
	if _, err := inv.Import(ctx, r, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "Europe/London"}); err != nil {
		t.Fatal(err)
	}
	seen := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make([]error, n+1)
	for i := range n + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := fmt.Sprintf("d%03d.rxx", i) // the last is not in the inventory
			var f inventory.Facts
			if err := f.Set(inventory.FactOSBuild, "10.0.19045", seen); err != nil {
				errs[i] = err
				return
			}
			errs[i] = inv.RecordObservation(ctx, h, f, seen)
		}()
	}
	wg.Wait()
	if !errors.Is(errs[n], errkind.NotFound) {
		t.Errorf("an unknown device: %v, want NotFound", errs[n])
	}
	for i := range n {
		h := fmt.Sprintf("d%03d.rxx", i)
		d, err := inv.Device(ctx, h)
		if err != nil || errs[i] != nil {
			t.Fatalf("%s: %v %v", h, errs[i], err)
		}
		if !d.LastSeen.Equal(seen) || d.Facts.OSBuild.Build != 19045 {
			t.Errorf("%s: seen %s build %s; want the observation recorded", h, d.LastSeen, d.Facts.OSBuild)
		}
	}
}

// TestApplyLeavesCheckpointsOn: a control pass's commit does not
// checkpoint the WAL, but with no batch of the workers' to do it next, the
// pass turns automatic checkpoints back on, so the WAL cannot grow while
// the workers are idle.
func TestApplyLeavesCheckpointsOn(t *testing.T) {
	ctx := context.Background()
	db := openInternal(t)
	cs, err := db.Campaigns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ms := []orchestrator.Member{{Hostname: "a.rxx", Org: "RXX"}, {Hostname: "b.rxx", Org: "RXX", Order: 1}}
	if err := cs.Create(ctx, orchestrator.Campaign{Name: "g"}, []string{"w"}, slices.Values(ms)); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.ChangeStatus(ctx, "g", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	for _, plan := range []orchestrator.Plan{{Dispatch: []string{"a.rxx"}}, {}} {
		if _, err := cs.Apply(ctx, "g", 1, plan, time.Now(), "test", nil); err != nil {
			t.Fatal(err)
		}
		var pages int
		if err := db.db.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil {
			t.Fatal(err)
		}
		if pages != autoCheckpoint {
			t.Errorf("after a control pass dispatching %d: wal_autocheckpoint %d, want %d", len(plan.Dispatch), pages, autoCheckpoint)
		}
	}
}
