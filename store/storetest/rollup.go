package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// cohortKey is what tells cohorts apart, as text.
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

// cohortCounts adds the cohorts sel selects up by their key, keeping only
// the watched updates (all, if watched is nil).
func cohortCounts(t *testing.T, s InventoryStore, sel inventory.Selector, watched map[string]bool) map[string]int {
	t.Helper()
	out := map[string]int{}
	for c, err := range s.Cohorts(ctx, sel) {
		if err != nil {
			t.Fatal(err)
		}
		out[cohortKey(c, watched)] += c.Devices
	}
	return out
}

// countDevices counts devices one by one into cohorts.
func countDevices(ds []*inventory.Device, sel inventory.Selector, watched map[string]bool) map[string]int {
	out := map[string]int{}
	for _, d := range ds {
		if sel.Matches(d) {
			out[cohortKey(inventory.CohortOf(d), watched)]++
		}
	}
	return out
}

// diffCounts describes how two cohort counts differ ("" when they agree).
func diffCounts(got, want map[string]int) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			fmt.Fprintf(&b, "\n  %s: rollup %d, devices %d", k, got[k], want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "\n  %s: rollup %d, devices none", k, got[k])
		}
	}
	return b.String()
}

// inventoryWatchedKBs: WatchKBs counts the updates new to it (any case);
// UnwatchedKBs names, once each and upper-cased, in the order given, those
// the rollup does not count, and writes nothing.
func inventoryWatchedKBs(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Inventory
	if n, err := s.WatchKBs(ctx, []string{"KB1000001", "kb1000002", "KB1000001"}); err != nil || n != 2 {
		t.Fatalf("watch 2 updates: %d new, %v", n, err)
	}
	if n, err := s.WatchKBs(ctx, []string{"kb1000001", "KB1000003"}); err != nil || n != 1 {
		t.Fatalf("watch 1 more: %d new, %v", n, err)
	}
	for _, tc := range []struct {
		kbs, want []string
	}{
		{nil, nil},
		{[]string{"KB1000001", "kb1000002", "KB1000003"}, nil},
		{[]string{"kb1000001", "KB1000004", "kb1000004", "KB1000009", "KB1000005"}, []string{"KB1000004", "KB1000009", "KB1000005"}},
	} {
		got, err := s.UnwatchedKBs(ctx, tc.kbs)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("UnwatchedKBs(%v) = %v, %v; want %v", tc.kbs, got, err, tc.want)
		}
	}
	if got, err := s.UnwatchedKBs(ctx, []string{"KB1000004"}); err != nil || len(got) != 1 {
		t.Errorf("asking about KB1000004 watched it: %v, %v", got, err)
	}
}

// inventoryWatchKBsCancelled cancels watching thousands of updates at
// every point the work looks at its context, until it is let finish: each
// time nothing it did is kept.
func inventoryWatchKBsCancelled(t *testing.T, open Open) {
	s := open(t, NewClock(fileNow).Now).Inventory
	loadEstate(t, s, synthEstate(t, 2500, 3, 5))
	kbs := []string{"KB4512508", "KB5005565"}
	for i := range 2000 {
		kbs = append(kbs, fmt.Sprintf("KB51%05d", i))
	}
	before := cohortCounts(t, s, inventory.Everything(), nil)
	looks := cancelAtEveryLook(t, func(c context.Context) error { _, err := s.WatchKBs(c, kbs); return err }, func(look int) {
		unwatched, err := s.UnwatchedKBs(ctx, kbs)
		if err != nil {
			t.Fatal(err)
		}
		if after := cohortCounts(t, s, inventory.Everything(), nil); len(unwatched) != len(kbs) || !maps.Equal(before, after) {
			t.Fatalf("cancelled at look %d: %d updates watched, the rollup changed: %v: the work was kept in part",
				look, len(kbs)-len(unwatched), !maps.Equal(before, after))
		}
	})
	if looks < 3 {
		t.Fatalf("finished after %d looks at its context: the test proves nothing", looks)
	}
	if unwatched, err := s.UnwatchedKBs(ctx, kbs); err != nil || len(unwatched) != 0 {
		t.Fatalf("after watching, %d unwatched, %v", len(unwatched), err)
	}
}

// inventoryRollupAtScale writes a sample estate every way the stores can
// (a first load, updates watched alone and by alerts, an alert naming
// thousands of updates then removed, an import moving devices, probes'
// observations, removal) and checks after each that the rollup reports
// read agrees with counting the devices one by one.
func inventoryRollupAtScale(t *testing.T, open Open) {
	st := open(t, NewClock(fileNow).Now)
	s := st.Inventory
	watched := map[string]bool{}
	check := func(step string) {
		t.Helper()
		got := cohortCounts(t, s, inventory.Everything(), nil) // exactly the watched updates
		want := countDevices(allDevices(t, s, inventory.Everything()), inventory.Everything(), watched)
		if d := diffCounts(got, want); d != "" {
			t.Fatalf("%s:%s", step, d)
		}
		if len(want) < 10 {
			t.Fatalf("%s: only %d cohorts: the estate proves nothing", step, len(want))
		}
	}
	estate := synthEstate(t, 3000, 6, 3)
	loadEstate(t, s, estate)
	check("first load")

	for _, kbs := range [][]string{{"KB4512517", "KB4499175"}, {"KB4512578"}} {
		if _, err := s.WatchKBs(ctx, kbs); err != nil {
			t.Fatal(err)
		}
		for _, kb := range kbs {
			watched[kb] = true
		}
		check("watch " + strings.Join(kbs, ","))
	}
	keep := []string{"KB4512517", "KB4499175", "KB4512578", "KB4512508"}
	alert := func(id string, kbs []string) *alerts.Alert {
		a, data := parseAlert(t, id+".yaml", "id: "+id+"\ntitle: t\nissued: 2020-01-14\ndeadline: 2020-01-28\nremediation:\n  \"10.0.18363\": ["+strings.Join(kbs, ", ")+"]\n")
		if err := st.Alerts.Add(ctx, a, data); err != nil {
			t.Fatal(err)
		}
		for _, kb := range a.KBs() {
			watched[kb] = true
		}
		return a
	}
	alert("HSA-KEEP", keep)
	check("an alert naming 4 updates")
	// An alert naming thousands of updates for one build: more than one
	// expression takes in most engines.
	many := []string{"KB4512508", "KB5005565", "KB5034441"}
	for i := range 5000 {
		many = append(many, fmt.Sprintf("KB51%05d", i))
	}
	alert("HSA-MANY", many)
	check("an alert naming 5,003 updates")
	// Removed: the updates no other alert names are no longer watched, and
	// the devices' watched updates lose them.
	if err := st.Alerts.Remove(ctx, "HSA-MANY"); err != nil {
		t.Fatal(err)
	}
	clear(watched)
	for _, kb := range keep {
		watched[kb] = true
	}
	check("the alert removed")

	// An import that moves devices between sites and changes builds.
	lines := strings.Split(strings.TrimSpace(estate), "\n")
	col := slices.Index(strings.Split(lines[0], ","), "site")
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
	loadEstate(t, s, changed.String())
	check("import update")

	// Probes observe new builds and updates, some on another day.
	var obs []inventory.Observation
	for i, d := range allDevices(t, s, inventory.Everything()) {
		if i%4 != 0 {
			continue
		}
		at := fileNow.Add(time.Duration(i%3) * 24 * time.Hour)
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

	if _, err := s.RemoveDevices(ctx, inventory.MustParseSelector("build>=10.0.19045")); err != nil {
		t.Fatal(err)
	}
	check("removal")
}
