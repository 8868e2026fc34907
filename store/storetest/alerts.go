package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/report"
)

// Alerts runs the alert store's conformance suite: alerts with what
// follows from them in the other stores of the same database (the updates
// the inventory's rollup watches, the daily history's figures).
func Alerts(t *testing.T, open Open) {
	t.Run("AddAndRead", func(t *testing.T) { alertsAddAndRead(t, open) })
	t.Run("AddIsAtomic", func(t *testing.T) { alertsAddIsAtomic(t, open) })
	t.Run("Remove", func(t *testing.T) { alertsRemove(t, open) })
	t.Run("RemoveIsAtomic", func(t *testing.T) { alertsRemoveIsAtomic(t, open) })
	t.Run("Unreadable", func(t *testing.T) { alertsUnreadable(t, open) })
}

const dejablueYAML = `id: HSA-2019-0042
title: DejaBlue (CVE-2019-1181, CVE-2019-1182) RDP remote code execution
issued: 2019-08-13
deadline: 2019-08-27
remediation:
  "6.1.7601": [KB4512506, KB4512486]
  "10.0.18362": [KB4512508]
  "10.0.18363": [KB4512508]
  "10.0.17763": [KB4511553]
supersedence:
  KB4512508: [KB4517389]
  KB4517389: [KB4524570]
`

// parseAlert parses an alert file, failing the test if it is bad.
func parseAlert(t *testing.T, name, src string) (*alerts.Alert, []byte) {
	t.Helper()
	a, err := alerts.Parse(name, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return a, []byte(src)
}

func dejablue(t *testing.T) (*alerts.Alert, []byte) {
	return parseAlert(t, "dejablue.yaml", dejablueYAML)
}

// bigAlert names 5,000 updates for one build: more than one statement
// takes in most engines.
func bigAlert(t *testing.T) (*alerts.Alert, []byte) {
	kbs := make([]string, 5000)
	for i := range kbs {
		kbs[i] = fmt.Sprintf("KB51%05d", i)
	}
	return parseAlert(t, "big.yaml", "id: HSA-BIG\ntitle: big\nissued: 2020-01-14\ndeadline: 2020-01-28\nremediation:\n  \"10.0.18363\": ["+strings.Join(kbs, ", ")+"]\n")
}

// alertStores opens the stores with a few devices whose updates are known.
func alertStores(t *testing.T, open Open, clock *Clock) Stores {
	t.Helper()
	st := open(t, clock.Now)
	csv := "hostname,org,os_build,kbs\n" +
		"a1.raa.nhs.uk,RAA,10.0.18363,KB4512508\n" +
		"a2.raa.nhs.uk,RAA,10.0.18363,KB4524570;KB5100042\n" +
		"a3.raa.nhs.uk,RAA,10.0.17763,KB4500000\n"
	if _, err := importText(t, st.Inventory, "inv.csv", csv, clock.Now(), inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	return st
}

// watching returns how many of kbs the inventory watches, and the
// watched updates of the rollup's cohorts, each list joined, sorted.
func watching(t *testing.T, inv InventoryStore, kbs []string) (int, []string) {
	t.Helper()
	unwatched, err := inv.UnwatchedKBs(ctx, kbs)
	if err != nil {
		t.Fatal(err)
	}
	var lists []string
	for c, err := range inv.Cohorts(ctx, inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		if c.KBsKnown {
			kbs := slices.Clone(c.KBs)
			slices.Sort(kbs)
			lists = append(lists, strings.Join(kbs, ","))
		}
	}
	slices.Sort(lists)
	return len(kbs) - len(unwatched), slices.Compact(lists)
}

func alertIDs(t *testing.T, s AlertStore) []string {
	t.Helper()
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range list {
		ids = append(ids, a.ID)
	}
	return ids
}

// alertsAddAndRead: an alert reads back as parsed, listed by issue date,
// and the updates it names are watched by the rollup from the moment it
// is stored; an id is stored once; an unknown one is not found.
func alertsAddAndRead(t *testing.T, open Open) {
	st := alertStores(t, open, NewClock(start))
	s := st.Alerts
	if ids := alertIDs(t, s); len(ids) != 0 {
		t.Fatalf("a new store lists %v", ids)
	}
	for what, err := range map[string]error{
		"get an unknown alert":    second(s.Get(ctx, "HSA-NOPE")),
		"remove an unknown alert": s.Remove(ctx, "HSA-NOPE"),
	} {
		if !errors.Is(err, errkind.NotFound) {
			t.Errorf("%s: %v, want errkind.NotFound", what, err)
		}
	}
	d, ddata := dejablue(t)
	b, bdata := bigAlert(t)
	early, edata := parseAlert(t, "early.yaml", "id: HSA-EARLY\ntitle: early\nissued: 2018-03-01\ndeadline: 2018-03-15\nremediation:\n  \"10.0.17763\": [KB4500000]\n")
	for _, x := range []struct {
		a    *alerts.Alert
		data []byte
	}{{b, bdata}, {d, ddata}, {early, edata}} {
		if err := s.Add(ctx, x.a, x.data); err != nil {
			t.Fatalf("add %s: %v", x.a.ID, err)
		}
	}
	if ids := alertIDs(t, s); !slices.Equal(ids, []string{"HSA-EARLY", "HSA-2019-0042", "HSA-BIG"}) {
		t.Errorf("alerts listed %v, want by issue date", ids)
	}
	got, err := s.Get(ctx, d.ID)
	if err != nil || got.ID != d.ID || got.Title != d.Title || got.Issued != d.Issued || got.Deadline != d.Deadline ||
		!slices.Equal(got.KBs(), d.KBs()) || !slices.Equal(got.Satisfying("10.0.18363"), d.Satisfying("10.0.18363")) {
		t.Errorf("get %s = %+v %v, want %+v", d.ID, got, err, d)
	}
	if got, err := s.Get(ctx, b.ID); err != nil || len(got.Satisfying("10.0.18363")) != 5000 {
		t.Errorf("get %s: %v", b.ID, err)
	}
	all := slices.Concat(d.KBs(), b.KBs(), early.KBs())
	n, rollup := watching(t, st.Inventory, all)
	if want := []string{"KB4500000", "KB4512508", "KB4524570,KB5100042"}; n != len(all) || !slices.Equal(rollup, want) {
		t.Errorf("watching %d of %d updates, the rollup %q; want all, %q", n, len(all), rollup, want)
	}
	if err := s.Add(ctx, d, ddata); !errors.Is(err, errkind.Exists) {
		t.Errorf("add %s again: %v, want errkind.Exists", d.ID, err)
	}
}

// alertsAddIsAtomic cancels storing an alert at every point the work
// looks at its context: each time neither the alert nor any of its
// updates is kept.
func alertsAddIsAtomic(t *testing.T, open Open) {
	st := alertStores(t, open, NewClock(start))
	b, data := bigAlert(t)
	_, before := watching(t, st.Inventory, b.KBs())
	looks := cancelAtEveryLook(t, func(c context.Context) error { return st.Alerts.Add(c, b, data) }, func(look int) {
		if _, err := st.Alerts.Get(ctx, b.ID); !errors.Is(err, errkind.NotFound) {
			t.Fatalf("cancelled at look %d, the alert was stored: %v", look, err)
		}
		if n, rollup := watching(t, st.Inventory, b.KBs()); n != 0 || !slices.Equal(rollup, before) {
			t.Fatalf("cancelled at look %d, %d of its updates are watched, the rollup %q (was %q)", look, n, rollup, before)
		}
	})
	if looks < 3 {
		t.Fatalf("stored after %d looks at its context: the test proves nothing", looks)
	}
	if n, rollup := watching(t, st.Inventory, b.KBs()); n != len(b.KBs()) || !slices.Equal(rollup, []string{"", "KB5100042"}) {
		t.Fatalf("after storing: %d of %d watched, the rollup %q", n, len(b.KBs()), rollup)
	}
}

// removeFixture stores dejablue and the big alert, and figures of both in
// the daily history.
func removeFixture(t *testing.T, st Stores) (kbs []string, figures func() []string) {
	t.Helper()
	d, ddata := dejablue(t)
	b, bdata := bigAlert(t)
	for _, x := range []struct {
		a    *alerts.Alert
		data []byte
	}{{d, ddata}, {b, bdata}} {
		if err := st.Alerts.Add(ctx, x.a, x.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.History.Record(ctx, []report.Snapshot{{Day: historyDay, Org: "RAA", Devices: 3,
		Affected: map[string]int{d.ID: 2, b.ID: 1}, Compliant: map[string]int{d.ID: 1, b.ID: 0}}}); err != nil {
		t.Fatal(err)
	}
	return slices.Concat(d.KBs(), b.KBs()), func() []string {
		var ids []string
		for _, sn := range loadHistory(t, st.History) {
			for id := range sn.Affected {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		return ids
	}
}

// alertsRemove: removing an alert stops watching the updates only it
// named and forgets its daily figures; an unknown one changes nothing.
func alertsRemove(t *testing.T, open Open) {
	st := alertStores(t, open, NewClock(start))
	kbs, figures := removeFixture(t, st)
	for _, tt := range []struct {
		name        string
		id          string
		wantErr     error
		wantAlerts  []string
		wantWatched int
		wantRollup  []string
	}{
		{"unknown alert", "HSA-NOPE", errkind.NotFound, []string{"HSA-2019-0042", "HSA-BIG"}, 5006, []string{"", "KB4512508", "KB4524570,KB5100042"}},
		{"remove", "HSA-BIG", nil, []string{"HSA-2019-0042"}, 6, []string{"", "KB4512508", "KB4524570"}},
		{"again", "HSA-BIG", errkind.NotFound, []string{"HSA-2019-0042"}, 6, []string{"", "KB4512508", "KB4524570"}},
		{"the last", "HSA-2019-0042", nil, nil, 0, []string{""}},
	} {
		gen := historyGeneration(t, st.History)
		err := st.Alerts.Remove(ctx, tt.id)
		if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
			t.Fatalf("%s: %v, want %v", tt.name, err, tt.wantErr)
		}
		// A reader keeping the history sees that its figures went.
		if changed := historyGeneration(t, st.History) != gen; changed != (err == nil) {
			t.Errorf("%s: the history's generation changed: %v, want %v", tt.name, changed, err == nil)
		}
		ids := alertIDs(t, st.Alerts)
		n, rollup := watching(t, st.Inventory, kbs)
		if !slices.Equal(ids, tt.wantAlerts) || n != tt.wantWatched || !slices.Equal(rollup, tt.wantRollup) {
			t.Errorf("%s: alerts %v, %d watched, rollup %q; want %v, %d, %q", tt.name, ids, n, rollup, tt.wantAlerts, tt.wantWatched, tt.wantRollup)
		}
		if got := figures(); !slices.Equal(got, tt.wantAlerts) {
			t.Errorf("%s: daily figures of %v, want %v", tt.name, got, tt.wantAlerts)
		}
	}
}

// alertsRemoveIsAtomic cancels removing an alert at every point the work
// looks at its context: each time the alert, its watched updates and its
// figures all stay.
func alertsRemoveIsAtomic(t *testing.T, open Open) {
	st := alertStores(t, open, NewClock(start))
	kbs, figures := removeFixture(t, st)
	wantIDs := alertIDs(t, st.Alerts)
	wantN, wantRollup := watching(t, st.Inventory, kbs)
	wantFigures := figures()
	looks := cancelAtEveryLook(t, func(c context.Context) error { return st.Alerts.Remove(c, "HSA-BIG") }, func(look int) {
		ids := alertIDs(t, st.Alerts)
		n, rollup := watching(t, st.Inventory, kbs)
		if got := figures(); !slices.Equal(ids, wantIDs) || n != wantN || !slices.Equal(rollup, wantRollup) || !slices.Equal(got, wantFigures) {
			t.Fatalf("cancelled at look %d: alerts %v, %d watched, rollup %q, figures of %v; want %v, %d, %q, %v",
				look, ids, n, rollup, got, wantIDs, wantN, wantRollup, wantFigures)
		}
	})
	if looks < 3 {
		t.Fatalf("removed after %d looks at its context: the test proves nothing", looks)
	}
	if ids, got := alertIDs(t, st.Alerts), figures(); !slices.Equal(ids, []string{"HSA-2019-0042"}) || !slices.Equal(got, ids) {
		t.Fatalf("after removing: alerts %v, figures of %v", ids, got)
	}
}

// alertsUnreadable: an alert stored as an earlier version could (1,001
// builds, over today's limit) is named by the error of every read; while
// it is stored, removing another keeps every update watched (those it
// names are unknown); it can be removed.
func alertsUnreadable(t *testing.T, open Open) {
	st := alertStores(t, open, NewClock(start))
	s := st.Alerts
	d, data := dejablue(t)
	if err := s.Add(ctx, d, data); err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	src.WriteString("id: HSA-OLD\ntitle: old\nissued: 2019-01-08\ndeadline: 2019-01-22\nremediation:\n")
	for i := range 1001 {
		fmt.Fprintf(&src, "  \"10.0.%d\": [KB4480966]\n", i)
	}
	old, _ := parseAlert(t, "old.yaml", "id: HSA-OLD\ntitle: old\nissued: 2019-01-08\ndeadline: 2019-01-22\nremediation:\n  \"10.0.0\": [KB4480966]\n")
	if err := s.Add(ctx, old, []byte(src.String())); err != nil {
		t.Fatal(err)
	}
	var ue *alerts.UnreadableError
	if _, err := s.List(ctx); !errors.As(err, &ue) || ue.ID != "HSA-OLD" || !strings.Contains(err.Error(), "1001 builds") {
		t.Fatalf("list: %v, want an *alerts.UnreadableError naming HSA-OLD", err)
	}
	if _, err := s.Get(ctx, "HSA-OLD"); !errors.As(err, &ue) || ue.ID != "HSA-OLD" {
		t.Fatalf("get: %v, want an *alerts.UnreadableError", err)
	}
	kbs := append(d.KBs(), "KB4480966")
	before, _ := watching(t, st.Inventory, kbs)
	if err := s.Remove(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if after, _ := watching(t, st.Inventory, kbs); before != len(kbs) || after != before {
		t.Fatalf("removing an alert while another is unreadable: %d of %d watched, then %d; want all, unchanged", before, len(kbs), after)
	}
	if err := s.Remove(ctx, "HSA-OLD"); err != nil {
		t.Fatal(err)
	}
	if ids := alertIDs(t, s); len(ids) != 0 {
		t.Fatalf("alerts after removing both: %v", ids)
	}
	if after, _ := watching(t, st.Inventory, kbs); after != 0 {
		t.Fatalf("%d updates watched after removing every alert", after)
	}
}
