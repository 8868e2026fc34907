package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// inventoryLabels: label changes by selector add, change and remove labels
// on every device matched, in one transaction, record each change made
// (not those that leave a label as it was) with the store's time and the
// actor, newest first, and leave the rollup as it was; an empty selector,
// a bad change or too many labels change nothing.
func inventoryLabels(t *testing.T, open Open) {
	clock := NewClock(fileNow)
	s := open(t, clock.Now).Inventory
	addOrg(t, s, "RXX")
	addOrg(t, s, "RYY")
	if _, err := importText(t, s, "d.csv", "hostname,org,site,labels,os_build\n"+
		"pc1.rxx.nhs.uk,RXX,Leeds,ring=pilot;owner=it,10.0.19045\n"+
		"pc2.rxx.nhs.uk,RXX,York,ring=ring1,10.0.17763\n"+
		"pc3.ryy.nhs.uk,RYY,Hull,,\n", fileNow, inventory.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := func() string {
		var out []string
		for _, d := range allDevices(t, s, inventory.Everything()) {
			out = append(out, d.Hostname+" "+d.Labels.String())
		}
		return strings.Join(out, "\n")
	}
	rollup := cohortsText(t, s)
	steps := []struct {
		name    string
		sel     string
		changes []inventory.LabelChange
		actor   string
		err     error
		matched []string
		changed []string
		labels  string // every device's labels after
	}{
		{name: "add and change by selector", sel: "org=RXX", actor: "alice",
			changes: []inventory.LabelChange{{Key: "ring", Value: "ring2"}, {Key: "excluded", Value: "true"}},
			matched: []string{"pc1.rxx.nhs.uk", "pc2.rxx.nhs.uk"}, changed: []string{"pc1.rxx.nhs.uk", "pc2.rxx.nhs.uk"},
			labels: "pc1.rxx.nhs.uk excluded=true;owner=it;ring=ring2\npc2.rxx.nhs.uk excluded=true;ring=ring2\npc3.ryy.nhs.uk "},
		{name: "remove on one, nothing to do on another", sel: `hostname in ("pc2.rxx.nhs.uk","pc3.ryy.nhs.uk")`, actor: "bob",
			changes: []inventory.LabelChange{{Key: "excluded", Remove: true}},
			matched: []string{"pc2.rxx.nhs.uk", "pc3.ryy.nhs.uk"}, changed: []string{"pc2.rxx.nhs.uk"},
			labels: "pc1.rxx.nhs.uk excluded=true;owner=it;ring=ring2\npc2.rxx.nhs.uk ring=ring2\npc3.ryy.nhs.uk "},
		{name: "a label as it is changes nothing", sel: "label.ring=ring2", actor: "carol",
			changes: []inventory.LabelChange{{Key: "ring", Value: "ring2"}},
			matched: []string{"pc1.rxx.nhs.uk", "pc2.rxx.nhs.uk"},
			labels:  "pc1.rxx.nhs.uk excluded=true;owner=it;ring=ring2\npc2.rxx.nhs.uk ring=ring2\npc3.ryy.nhs.uk "},
		{name: "an empty selector", sel: "", actor: "mallory", err: errkind.Invalid,
			changes: []inventory.LabelChange{{Key: "ring", Remove: true}},
			labels:  "pc1.rxx.nhs.uk excluded=true;owner=it;ring=ring2\npc2.rxx.nhs.uk ring=ring2\npc3.ryy.nhs.uk "},
		{name: "a bad key", sel: "org=RXX", actor: "mallory", err: errkind.Invalid,
			changes: []inventory.LabelChange{{Key: "ring", Remove: true}, {Key: "-bad", Value: "x"}},
			labels:  "pc1.rxx.nhs.uk excluded=true;owner=it;ring=ring2\npc2.rxx.nhs.uk ring=ring2\npc3.ryy.nhs.uk "},
	}
	for _, st := range steps {
		clock.Advance(time.Minute)
		sel := inventory.Everything()
		if st.sel != "" {
			sel = inventory.MustParseSelector(st.sel)
		}
		res, err := s.LabelDevices(ctx, sel, st.changes, st.actor)
		if !errors.Is(err, st.err) || (st.err == nil) != (err == nil) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.err)
		}
		if !slices.Equal(res.Matched, st.matched) || !slices.Equal(res.Changed, st.changed) {
			t.Errorf("%s: matched %v changed %v, want %v and %v", st.name, res.Matched, res.Changed, st.matched, st.changed)
		}
		if got := labels(); got != st.labels {
			t.Errorf("%s: labels\n%s\nwant\n%s", st.name, got, st.labels)
		}
		if got := cohortsText(t, s); got != rollup {
			t.Errorf("%s: the rollup changed:\n%s\nwas\n%s", st.name, got, rollup)
		}
	}
	tooMany := make([]inventory.LabelChange, inventory.MaxLabels)
	for i := range tooMany {
		tooMany[i] = inventory.LabelChange{Key: fmt.Sprintf("k%d", i), Value: "v"}
	}
	before := inventoryState(t, s)
	if _, err := s.LabelDevices(ctx, inventory.MustParseSelector("org=RXX"), tooMany, "mallory"); !errors.Is(err, errkind.Invalid) {
		t.Errorf("too many labels on pc1 (pc2 has room): %v, want errkind.Invalid", err)
	}
	if after := inventoryState(t, s); after != before {
		t.Errorf("a refused change labelled part of the devices:\n%s\nwas\n%s", after, before)
	}

	// The history: newest first, in the order made within one change;
	// the store's time; who asked; nothing for what changed nothing.
	at := func(minutes int) time.Time { return fileNow.Add(time.Duration(minutes) * time.Minute) }
	want := []string{
		"excluded- (was \"true\") bob " + at(2).Format(time.RFC3339),
		"excluded=true (added) alice " + at(1).Format(time.RFC3339),
		"ring=ring2 (was \"ring1\") alice " + at(1).Format(time.RFC3339),
	}
	h, err := s.LabelHistory(ctx, "PC2.rxx.nhs.uk", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range h {
		if e.Hostname != "pc2.rxx.nhs.uk" || e.At.Location() != time.UTC {
			t.Errorf("event %+v", e)
		}
		got = append(got, fmt.Sprintf("%s %s %s", e, e.Actor, e.At.Format(time.RFC3339)))
	}
	if !slices.Equal(got, want) {
		t.Errorf("history of pc2:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if h, err := s.LabelHistory(ctx, "pc2.rxx.nhs.uk", 1); err != nil || len(h) != 1 || h[0].Change.Key != "excluded" {
		t.Errorf("the last change of pc2: %v %v", h, err)
	}
	if h, err := s.LabelHistory(ctx, "pc3.ryy.nhs.uk", 10); err != nil || len(h) != 0 {
		t.Errorf("history of a device never labelled: %v %v", h, err)
	}
	if _, err := s.LabelHistory(ctx, "nope.rxx.nhs.uk", 10); !errors.Is(err, errkind.NotFound) {
		t.Errorf("history of an unknown device: %v, want errkind.NotFound", err)
	}
	// A device removed goes with its history.
	if _, err := s.RemoveDevices(ctx, inventory.MustParseSelector("hostname=pc2.rxx.nhs.uk")); err != nil {
		t.Fatalf("remove a labelled device: %v", err)
	}

	// Cancelled at any point, a change is all or nothing.
	before = inventoryState(t, s)
	cancelAtEveryLook(t, func(c context.Context) error {
		_, err := s.LabelDevices(c, inventory.MustParseSelector("hostname"), []inventory.LabelChange{{Key: "wave", Value: "w1"}}, "dave")
		return err
	}, func(look int) {
		if after := inventoryState(t, s); after != before {
			t.Fatalf("cancelled at look %d, the change was made in part", look)
		}
	})
	if got := labels(); got != "pc1.rxx.nhs.uk excluded=true;owner=it;ring=ring2;wave=w1\npc3.ryy.nhs.uk wave=w1" {
		t.Errorf("after the change went through: %s", got)
	}
}
