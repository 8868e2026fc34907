package discovery_test

import (
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/discovery"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

func TestFacts(t *testing.T) {
	at := time.Date(2027, 1, 12, 20, 0, 0, 0, time.UTC)
	full := sdk.Facts{Hostname: "PC1", OSCaption: "Microsoft Windows 10 Enterprise", OSEdition: "Enterprise", OSBuild: "10.0.19045",
		UBR: 3803, KBs: []string{"KB5034441", "KB5036892"}, DiskFreeGB: 48.5, RAMGB: 16, Manufacturer: "Dell Inc.", Model: "OptiPlex 7090",
		Serial: "CZC1234567", LastBoot: at.Add(-time.Hour), PendingReboot: true}
	for _, tc := range []struct {
		name    string
		in      func(f *sdk.Facts)
		known   []inventory.Fact
		unknown []inventory.Fact
		check   func(t *testing.T, f inventory.Facts)
	}{
		{name: "everything", in: func(*sdk.Facts) {},
			known: []inventory.Fact{inventory.FactOSCaption, inventory.FactOSEdition, inventory.FactOSBuild, inventory.FactUBR,
				inventory.FactKBs, inventory.FactDiskFreeGB, inventory.FactRAMGB, inventory.FactManufacturer, inventory.FactModel, inventory.FactSerial},
			check: func(t *testing.T, f inventory.Facts) {
				if f.OSBuild.String() != "10.0.19045" || f.UBR != 3803 || len(f.KBs) != 2 || f.DiskFreeGB != 48.5 || f.RAMGB != 16 ||
					f.Model != "OptiPlex 7090" || f.Serial != "CZC1234567" || !f.ObservedAt[inventory.FactOSBuild].Equal(at) {
					t.Errorf("facts %+v", f)
				}
			}},
		{name: "no serial (a plugin built before sdk.Facts had one) is not observed", in: func(f *sdk.Facts) { f.Serial = "" },
			unknown: []inventory.Fact{inventory.FactSerial}, known: []inventory.Fact{inventory.FactModel}},
		{name: "empty text is not observed", in: func(f *sdk.Facts) { f.Model, f.OSCaption = "", "" },
			unknown: []inventory.Fact{inventory.FactModel, inventory.FactOSCaption}, known: []inventory.Fact{inventory.FactManufacturer}},
		{name: "no updates is an observation", in: func(f *sdk.Facts) { f.KBs = nil },
			known: []inventory.Fact{inventory.FactKBs},
			check: func(t *testing.T, f inventory.Facts) {
				if len(f.KBs) != 0 {
					t.Errorf("KBs %q", f.KBs)
				}
			}},
		{name: "UBR 0 is observed", in: func(f *sdk.Facts) { f.UBR = 0 }, known: []inventory.Fact{inventory.FactUBR}},
		{name: "refused values stay unknown", in: func(f *sdk.Facts) {
			f.OSCaption = "Windows\x1b[2J" // a terminal escape
			f.OSBuild = "ten"              // not a version
			f.KBs = []string{"not-a-kb"}   // not an update
			f.DiskFreeGB = -1              // not a size
		}, unknown: []inventory.Fact{inventory.FactOSCaption, inventory.FactOSBuild, inventory.FactKBs, inventory.FactDiskFreeGB},
			known: []inventory.Fact{inventory.FactOSEdition, inventory.FactRAMGB}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := full
			in.KBs = append([]string(nil), full.KBs...)
			tc.in(&in)
			f := discovery.Facts(in, at)
			for _, k := range tc.known {
				if !f.Known(k) || !f.ObservedAt[k].Equal(at) {
					t.Errorf("%s not observed at %v: %v", k, at, f.ObservedAt[k])
				}
			}
			for _, k := range tc.unknown {
				if f.Known(k) {
					t.Errorf("%s observed: %q", k, f.Value(k))
				}
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}
