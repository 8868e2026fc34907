package sqlite_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
)

// TestLastSeenAndTimeZones: what the controller reads of the inventory,
// by the hostnames as given (any case), over more hosts than one query
// takes, leaving out hosts the inventory does not hold.
func TestLastSeenAndTimeZones(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, "")
	var buf strings.Builder
	if _, err := synth.Generate(&buf, synth.Options{Devices: 1200, Orgs: 3, Seed: 7, Now: testNow}); err != nil {
		t.Fatal(err)
	}
	r, err := format.NewCSVReader(strings.NewReader(buf.String()), "estate.csv", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, r, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "Europe/London"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]inventory.Device{}
	var hosts []string
	for d, err := range s.Devices(ctx, inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		h := d.Hostname
		if len(hosts)%2 == 1 {
			h = strings.ToUpper(h) // asked for in another case
		}
		want[h] = *d
		hosts = append(hosts, h)
	}
	hosts = append(hosts, "gone.rzz.nhs.uk")
	got, err := s.LastSeen(ctx, hosts)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d hosts answered, want %d (the unknown one left out)", len(got), len(want))
	}
	for h, d := range want {
		if at, ok := got[h]; !ok || !at.Equal(d.LastSeen) {
			t.Errorf("%s: last seen %v (%v), want %v", h, at, ok, d.LastSeen)
		}
	}
	zones, err := s.TimeZones(ctx)
	if err != nil {
		t.Fatal(err)
	}
	orgs, err := s.Organisations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(zones) != len(orgs) || len(orgs) == 0 {
		t.Fatalf("zones %v for %d organisations", zones, len(orgs))
	}
	for _, o := range orgs {
		if zones[o.Code] != o.TimeZone || !slices.Contains([]string{"Europe/London"}, o.TimeZone) {
			t.Errorf("%s: zone %q, want %q", o.Code, zones[o.Code], o.TimeZone)
		}
	}
}
