package inventory_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		ubr     int
		release string
		wantErr bool
	}{
		{"10.0.19045", "10.0.19045", -1, "Windows 10 22H2", false},
		{" 10.0.19045.3803 ", "10.0.19045", 3803, "Windows 10 22H2", false},
		{"6.1.7601", "6.1.7601", -1, "Windows 7 SP1", false},
		{"10.0.14393", "10.0.14393", -1, "Windows 10 1607", false},
		{"10.0.22631", "10.0.22631", -1, "Windows 11", false},
		{"10.0.99999", "10.0.99999", -1, "Windows 11", false},
		{"10.0.12345", "10.0.12345", -1, "", false},
		{"10.0", "", 0, "", true},
		{"10.0.19045.1.2", "", 0, "", true},
		{"22H2", "", 0, "", true},
		{"10..19045", "", 0, "", true},
		{"0.0.1", "", 0, "", true},
		{"10.0.-1", "", 0, "", true},
		{"", "", 0, "", true},
	}
	for _, tt := range tests {
		v, ubr, err := inventory.ParseVersion(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseVersion(%q) err = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if v.String() != tt.want || ubr != tt.ubr || v.Release() != tt.release {
			t.Errorf("ParseVersion(%q) = %s, %d, %q; want %s, %d, %q", tt.in, v, ubr, v.Release(), tt.want, tt.ubr, tt.release)
		}
	}
	a, _, _ := inventory.ParseVersion("10.0.9999")
	b, _, _ := inventory.ParseVersion("10.0.10240")
	if a.Compare(b) >= 0 || a.Key() >= b.Key() {
		t.Error("10.0.9999 must order before 10.0.10240, numerically, in Compare and Key")
	}
}

func TestParseLabelsAndKBs(t *testing.T) {
	l, err := inventory.ParseLabels(" ring=pilot ; role=kiosk,empty= ")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.String(); got != "empty=;ring=pilot;role=kiosk" {
		t.Errorf("labels %q", got)
	}
	for _, bad := range []string{"ring", "ring=a,ring=b", "-x=1", "k=va lue", "k=" + string(make([]byte, 70))} {
		if _, err := inventory.ParseLabels(bad); err == nil {
			t.Errorf("ParseLabels(%q) accepted", bad)
		}
	}
	kbs, err := inventory.ParseKBs("kb4499175; 4512506 KB4499175,KB4474419")
	if err != nil || !slices.Equal(kbs, []string{"KB4474419", "KB4499175", "KB4512506"}) {
		t.Errorf("ParseKBs = %v, %v", kbs, err)
	}
	if _, err := inventory.ParseKBs("KB12"); err == nil {
		t.Error("ParseKBs accepted KB12")
	}
}

func TestValidateDevice(t *testing.T) {
	ok := inventory.Device{Hostname: "pc1.rxx.nhs.uk", Org: "RXX", Address: "[::1]:5986"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		d     inventory.Device
		field string
	}{
		{inventory.Device{Org: "RXX"}, "hostname"},
		{inventory.Device{Hostname: "pc_1", Org: "RXX"}, "hostname"},
		{inventory.Device{Hostname: "10.1.2.3", Org: "RXX"}, "hostname"},
		{inventory.Device{Hostname: "-pc.rxx", Org: "RXX"}, "hostname"},
		{inventory.Device{Hostname: "pc1", Org: "RXX", Address: "pc1:0"}, "address"},
		{inventory.Device{Hostname: "pc1", Org: "RXX", Address: "a:b:c"}, "address"},
		{inventory.Device{Hostname: "pc1", Org: "R X"}, "org"},
		{inventory.Device{Hostname: "pc1", Org: "RXX", Credential: "a b"}, "credential"},
		{inventory.Device{Hostname: "pc1", Org: "RXX", Labels: inventory.Labels{"a b": "c"}}, "labels"},
	}
	for _, tt := range tests {
		err := tt.d.Validate()
		var fe *inventory.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, errkind.Invalid) {
			t.Errorf("Validate(%+v) = %v, want a %s error", tt.d, err, tt.field)
		}
	}
}

func TestValidateOrganisation(t *testing.T) {
	o := inventory.Organisation{Code: " rxx ", Name: " Trust ", TimeZone: "Europe/London", Tags: []string{"b", "a", "b", ""}}
	o.Normalise()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.Code != "RXX" || o.Name != "Trust" || !slices.Equal(o.Tags, []string{"a", "b"}) {
		t.Errorf("normalised to %+v", o)
	}
	for _, bad := range []inventory.Organisation{
		{Code: "", Name: "x", TimeZone: "UTC"},
		{Code: "RXX", Name: "", TimeZone: "UTC"},
		{Code: "RXX", Name: "x", TimeZone: "Local"},
		{Code: "RXX", Name: "x", TimeZone: "Europe/Londres"},
		{Code: "RXX", Name: "x", TimeZone: "UTC", Tags: []string{"no spaces"}},
	} {
		if err := bad.Validate(); !errors.Is(err, errkind.Invalid) {
			t.Errorf("Validate(%+v) = %v, want errkind.Invalid", bad, err)
		}
	}
}

func TestFactsMergeKeepsNewestObservation(t *testing.T) {
	t1 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(24 * time.Hour)
	var stored, older, newer inventory.Facts
	must := func(f *inventory.Facts, fact inventory.Fact, v string, at time.Time) {
		t.Helper()
		if err := f.Set(fact, v, at); err != nil {
			t.Fatal(err)
		}
	}
	must(&stored, inventory.FactOSBuild, "10.0.19044", t2)
	must(&older, inventory.FactOSBuild, "6.1.7601", t1)
	must(&older, inventory.FactDiskFreeGB, "40", t1)
	if !stored.Merge(&older) {
		t.Fatal("a new fact (disk) was not merged")
	}
	if stored.OSBuild.String() != "10.0.19044" || stored.DiskFreeGB != 40 {
		t.Fatalf("after older merge: build %s disk %v", stored.OSBuild, stored.DiskFreeGB)
	}
	if stored.Merge(&older) {
		t.Fatal("merging the same observation again reported a change")
	}
	must(&newer, inventory.FactOSBuild, "10.0.19045.3803", t2.Add(time.Hour))
	if !stored.Merge(&newer) || stored.OSBuild.String() != "10.0.19045" || stored.UBR != 3803 {
		t.Fatalf("after newer merge: %s.%d", stored.OSBuild, stored.UBR)
	}
	if got := stored.Oldest(); !got.Equal(t1) {
		t.Errorf("Oldest = %v, want %v", got, t1)
	}
}

func TestMergeDeviceDeclaredFields(t *testing.T) {
	stored := inventory.Device{Hostname: "pc1", Org: "RXX", Site: "Leeds", Address: "10.0.0.1", Labels: inventory.Labels{"ring": "pilot"}}
	var present inventory.FieldSet
	present.Add(inventory.FieldSite)
	present.Add(inventory.FieldLabels)
	in := inventory.Device{Hostname: "pc1", Org: "RYY", Site: "York"}
	if !inventory.MergeDevice(&stored, &in, present) {
		t.Fatal("no change reported")
	}
	if stored.Site != "York" || stored.Labels != nil || stored.Address != "10.0.0.1" || stored.Org != "RXX" {
		t.Errorf("merged %+v: site and labels given replace, address and org absent stay", stored)
	}
}

func TestSummarise(t *testing.T) {
	v := func(s string) inventory.Version { x, _, _ := inventory.ParseVersion(s); return x }
	orgs, total := inventory.Summarise([]inventory.BuildCount{
		{Org: "RXX", Build: v("10.0.19045"), Devices: 6},
		{Org: "RXX", Build: v("6.1.7601"), Devices: 3},
		{Org: "RXX", Devices: 1},
		{Org: "RYY", Build: v("10.0.22631"), Devices: 2},
		{Org: "RZZ"},
	})
	if len(orgs) != 3 || orgs[0].Windows10 != 6 || orgs[0].Windows7 != 3 || orgs[0].Unknown != 1 || orgs[1].Other != 2 || orgs[2].Devices != 0 {
		t.Fatalf("summaries %+v", orgs)
	}
	if total.Devices != 12 || total.Releases["Windows 10 22H2"] != 6 || inventory.Percent(total.Windows10, total.Devices) != 50 {
		t.Fatalf("total %+v", total)
	}
}
