package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/ctxtest"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
)

// cohortCounts adds cohorts up by their key.
func cohortCounts(t *testing.T, cs func(yield func(inventory.Cohort, error) bool), watched map[string]bool) map[string]int {
	t.Helper()
	out := map[string]int{}
	for c, err := range cs {
		if err != nil {
			t.Fatal(err)
		}
		var kbs []string
		for _, kb := range c.KBs {
			if watched == nil || watched[kb] {
				kbs = append(kbs, kb)
			}
		}
		slices.Sort(kbs)
		key := fmt.Sprintf("%s|%s|%s|%v|%s|%s|%s", c.Org, c.Site, c.Build, c.KBsKnown, strings.Join(kbs, ","),
			c.SeenDay.Format(time.DateOnly), c.ObservedDay.Format(time.DateOnly))
		out[key] += c.Devices
	}
	return out
}

// TestRollupStaysExact writes devices every way the store can (a bulk
// load, an import that updates, observations, removal, new watched
// updates) and checks after each that the rollup reports read agrees with
// counting the devices one by one.
func TestRollupStaysExact(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, "")
	watched := map[string]bool{}
	check := func(step string) {
		t.Helper()
		got := cohortCounts(t, s.Cohorts(ctx, inventory.Selector{}), nil) // exactly the watched updates
		all, _ := inventory.ParseSelector("hostname")
		if all.ForCohorts() {
			t.Fatal("a hostname selector cannot be answered by cohorts")
		}
		want := cohortCounts(t, s.Cohorts(ctx, all), watched)
		if !maps.Equal(got, want) {
			for k, n := range want {
				if got[k] != n {
					t.Errorf("%s: %s: rollup %d, devices %d", step, k, got[k], n)
				}
			}
			for k, n := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("%s: %s: rollup %d, devices none", step, k, n)
				}
			}
			t.FailNow()
		}
		if len(want) < 10 {
			t.Fatalf("%s: only %d cohorts: the estate proves nothing", step, len(want))
		}
	}
	var buf strings.Builder
	if _, err := synth.Generate(&buf, synth.Options{Devices: 3000, Orgs: 6, Seed: 3, Now: testNow}); err != nil {
		t.Fatal(err)
	}
	importCSV := func(text string) {
		t.Helper()
		r, err := format.NewCSVReader(strings.NewReader(text), "e.csv", testNow)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Import(ctx, r, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"}); err != nil {
			t.Fatal(err)
		}
	}
	importCSV(buf.String())
	check("bulk load")

	for _, kbs := range [][]string{{"KB4512517", "KB4499175"}, {"KB4512578"}} {
		if _, err := s.WatchKBs(ctx, kbs); err != nil {
			t.Fatal(err)
		}
		for _, kb := range kbs {
			watched[kb] = true
		}
		check("watch " + strings.Join(kbs, ","))
	}
	// An alert naming thousands of updates for one build: more than SQLite
	// takes in one expression, so they cannot all go in one LIKE query.
	many := []string{"KB4512508", "KB5005565", "kb5034441"}
	for i := range 5000 {
		many = append(many, fmt.Sprintf("KB51%05d", i))
	}
	if n, err := s.WatchKBs(ctx, many); err != nil || n != len(many) {
		t.Fatalf("watch %d updates: %d new, %v", len(many), n, err)
	}
	for _, kb := range many {
		watched[strings.ToUpper(kb)] = true
	}
	check("watch 5,003 updates")

	// The alert is removed: the updates no other alert names are no longer
	// watched, and the devices' watched updates lose them.
	keep := []string{"KB4512517", "KB4499175", "KB4512578", "kb4512508"}
	n, err := sqlite.RetainWatchedKBs(ctx, s.DB, keep)
	if err != nil || n != len(many)-1 {
		t.Fatalf("retain %v: %d no longer watched, %v", keep, n, err)
	}
	clear(watched)
	for _, kb := range keep {
		watched[strings.ToUpper(kb)] = true
	}
	check("retain 4 updates")

	// An import that moves devices between sites and changes builds.
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	header := strings.Split(lines[0], ",")
	col := slices.Index(header, "site")
	var changed strings.Builder
	changed.WriteString(lines[0] + "\n")
	for i, l := range lines[1:] {
		if i%3 == 0 {
			f := strings.Split(l, ",")
			f[col] = "Moved Site"
			l = strings.Join(f, ",")
		}
		changed.WriteString(l + "\n")
	}
	importCSV(changed.String())
	check("import update")

	// Probes observe new builds and updates, some on another day.
	var obs []inventory.Observation
	i := 0
	for d, err := range s.Devices(ctx, inventory.Selector{}) {
		if err != nil {
			t.Fatal(err)
		}
		if i++; i%4 != 0 {
			continue
		}
		at := testNow.Add(time.Duration(i%3) * 24 * time.Hour)
		var f inventory.Facts
		if err := errors.Join(f.Set(inventory.FactOSBuild, "10.0.19045", at), f.Set(inventory.FactKBs, "KB4512578,KB5000001", at)); err != nil {
			t.Fatal(err)
		}
		obs = append(obs, inventory.Observation{Hostname: d.Hostname, Facts: f, Seen: at})
	}
	if err := s.RecordObservations(ctx, obs); err != nil {
		t.Fatal(err)
	}
	check("observations")

	sel, err := inventory.ParseSelector("build>=10.0.19045")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveDevices(ctx, sel); err != nil {
		t.Fatal(err)
	}
	check("removal")
}

// TestWatchKBsCancelled cancels watching thousands of updates at every
// point the work looks at its context, until it is let finish: each time
// it stops with an error, and nothing it did is kept.
func TestWatchKBsCancelled(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, "")
	var buf strings.Builder
	if _, err := synth.Generate(&buf, synth.Options{Devices: 2500, Orgs: 3, Seed: 5, Now: testNow}); err != nil {
		t.Fatal(err)
	}
	r, err := format.NewCSVReader(strings.NewReader(buf.String()), "e.csv", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, r, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	kbs := []string{"KB4512508", "KB5005565"}
	for i := range 2000 {
		kbs = append(kbs, fmt.Sprintf("KB51%05d", i))
	}
	before := cohortCounts(t, s.Cohorts(ctx, inventory.Selector{}), nil)
	for n := 1; ; n++ {
		c := ctxtest.NewCountdown(ctx, n)
		_, err := s.WatchKBs(c, kbs)
		if !c.Fired() { // finished before the cancellation came
			if err != nil {
				t.Fatalf("not cancelled: %v", err)
			}
			if n < 3 {
				t.Fatalf("finished after %d looks at its context: the test proves nothing", n)
			}
			t.Logf("finished at look %d", n)
			break
		}
		if err == nil {
			t.Fatalf("cancelled at look %d, and yet finished", n)
		}
		if !errors.Is(err, context.Canceled) && !errors.Is(err, sql.ErrTxDone) {
			t.Fatalf("cancelled at look %d: %v", n, err)
		}
		var watched int
		if err := s.SQL().QueryRow(`SELECT count(*) FROM watched_kbs`).Scan(&watched); err != nil {
			t.Fatal(err)
		}
		if after := cohortCounts(t, s.Cohorts(ctx, inventory.Selector{}), nil); watched != 0 || !maps.Equal(before, after) {
			t.Fatalf("cancelled at look %d: %d updates watched, the rollup changed: the work was kept in part", n, watched)
		}
	}
}

// TestUnwatchedKBs checks that UnwatchedKBs names, once each and
// upper-cased, the updates the rollup does not count, and writes nothing.
func TestUnwatchedKBs(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, "")
	if _, err := s.WatchKBs(ctx, []string{"KB1", "kb2"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kbs, want []string
	}{
		{nil, nil},
		{[]string{"KB1", "kb2"}, nil},
		{[]string{"kb1", "KB3", "kb3", "KB4"}, []string{"KB3", "KB4"}},
	} {
		got, err := s.UnwatchedKBs(ctx, tc.kbs)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("UnwatchedKBs(%v) = %v, %v; want %v", tc.kbs, got, err, tc.want)
		}
	}
	if got, err := s.UnwatchedKBs(ctx, []string{"KB3"}); err != nil || len(got) != 1 {
		t.Errorf("asking watched KB3: %v, %v", got, err)
	}
}
