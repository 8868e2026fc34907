package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/pgtest"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
	"github.com/ringmaster-fleet/ringmaster/store/postgres"
)

// importCSV imports an estate file.
func importCSV(t *testing.T, s *postgres.Inventory, csv string, now time.Time) error {
	t.Helper()
	r, err := format.NewReader(format.CSV, strings.NewReader(csv), "estate.csv", now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Import(context.Background(), r, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC", Now: now})
	return err
}

// cohortKey is a cohort without its count, keeping of its updates those
// watched (all when watched is nil).
func cohortKey(c inventory.Cohort, watched map[string]bool) string {
	var kbs []string
	for _, kb := range c.KBs {
		if watched == nil || watched[kb] {
			kbs = append(kbs, kb)
		}
	}
	slices.Sort(kbs)
	return fmt.Sprintf("%s|%s|%s|%v|%s|%s|%s", c.Org, c.Site, c.Build, c.KBsKnown, strings.Join(kbs, ","),
		c.SeenDay.Format(time.DateOnly), c.ObservedDay.Format(time.DateOnly))
}

// checkRollup compares the rollup with the devices counted one by one,
// keeping of their updates those watched (not nil).
func checkRollup(t *testing.T, s *postgres.Inventory, watched map[string]bool) {
	t.Helper()
	ctx := context.Background()
	got, want := map[string]int{}, map[string]int{}
	for c, err := range s.Cohorts(ctx, inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		got[cohortKey(c, nil)] += c.Devices
	}
	for d, err := range s.Devices(ctx, inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		want[cohortKey(inventory.CohortOf(d), watched)]++
	}
	if !maps.Equal(got, want) {
		t.Fatalf("the rollup has %d cohorts, counting the devices gives %d: they differ", len(got), len(want))
	}
}

// TestInventoryFromSeveralNodes writes one estate from several nodes at
// once (workers' observations of the same devices, each of another fact;
// two imports of a file moving devices; updates watched): no observation
// is lost and the rollup is exact.
func TestInventoryFromSeveralNodes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	first := open(t, url, clock).Inventory()
	var estate bytes.Buffer
	if _, err := synth.Generate(&estate, synth.Options{Devices: 2000, Orgs: 5, Seed: 11, Now: now}); err != nil {
		t.Fatal(err)
	}
	if err := importCSV(t, first, estate.String(), now); err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for d, err := range first.Devices(ctx, inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, d.Hostname)
	}
	// Each node observes its own fact of every device, in batches, at a
	// time of its own, on another day for some.
	facts := []inventory.Fact{inventory.FactManufacturer, inventory.FactModel, inventory.FactSerial, inventory.FactKBs}
	values := []string{"Contoso", "Model 7", "SER-%d", "KB5000001;KB4512578"}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for n, fact := range facts {
		node := open(t, url, clock).Inventory()
		wg.Go(func() {
			at := now.Add(time.Duration(n+1) * 7 * time.Hour)
			for batch := range slices.Chunk(hosts, 97) {
				obs := make([]inventory.Observation, len(batch))
				for i, h := range batch {
					v := values[n]
					if strings.Contains(v, "%d") {
						v = fmt.Sprintf(v, i)
					}
					obs[i] = inventory.Observation{Hostname: h, Seen: at}
					if err := obs[i].Facts.Set(fact, v, at); err != nil {
						errs <- err
						return
					}
				}
				if err := node.RecordObservations(ctx, obs); err != nil {
					errs <- fmt.Errorf("node %d: %w", n, err)
					return
				}
			}
		})
	}
	// An import moving a third of the devices to another site.
	lines := strings.Split(strings.TrimSpace(estate.String()), "\n")
	col := slices.Index(strings.Split(lines[0], ","), "site")
	var moved strings.Builder
	moved.WriteString(lines[0] + "\n")
	for i, l := range lines[1:] {
		if i%3 == 0 {
			f := strings.Split(l, ",")
			f[col] = "Moved Site"
			l = strings.Join(f, ",")
		}
		moved.WriteString(l + "\n")
	}
	// Two nodes import it at once: the second waits for the first's
	// devices, and finds them as the first left them.
	for range 2 {
		importer := open(t, url, clock).Inventory()
		wg.Go(func() {
			if err := importCSV(t, importer, moved.String(), now); err != nil {
				errs <- fmt.Errorf("import: %w", err)
			}
		})
	}
	watcher := open(t, url, clock).Inventory()
	wg.Go(func() {
		if _, err := watcher.WatchKBs(ctx, []string{"KB5000001"}); err != nil {
			errs <- fmt.Errorf("watch: %w", err)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	movedN := 0
	for d, err := range first.Devices(ctx, inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		if d.Site == "Moved Site" {
			movedN++
		}
		for _, f := range facts {
			if !d.Facts.Known(f) {
				t.Fatalf("device %s lost its %s observation", d.Hostname, f)
			}
		}
	}
	if want := (len(lines) + 1) / 3; movedN != want {
		t.Errorf("%d devices moved, want %d", movedN, want)
	}
	checkRollup(t, first, map[string]bool{"KB5000001": true})
}

// TestRollupFolds: a writer alone folds the rows of the keys it touches,
// so the rollup holds one row per cohort, however many writes made it.
func TestRollupFolds(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	db := open(t, pgtest.URL(t), func() time.Time { return now })
	s := db.Inventory()
	var estate bytes.Buffer
	if _, err := synth.Generate(&estate, synth.Options{Devices: 500, Orgs: 3, Seed: 5, Now: now}); err != nil {
		t.Fatal(err)
	}
	if err := importCSV(t, s, estate.String(), now); err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for d, err := range s.Devices(ctx, inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, d.Hostname)
	}
	for i, h := range hosts {
		var f inventory.Facts
		at := now.Add(time.Duration(i%3) * 24 * time.Hour)
		if err := f.Set(inventory.FactOSBuild, "10.0.19045", at); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordObservation(ctx, h, f, at); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RemoveDevices(ctx, inventory.MustParseSelector("hostname in ("+strings.Join(hosts[:50], ",")+")")); err != nil {
		t.Fatal(err)
	}
	checkRollup(t, s, map[string]bool{}) // no update watched
	cohorts := 0
	for _, err := range s.Cohorts(ctx, inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		cohorts++
	}
	var rows int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM device_rollup`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != cohorts {
		t.Errorf("the rollup holds %d rows for %d cohorts", rows, cohorts)
	}
}
