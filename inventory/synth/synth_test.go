package synth_test

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
)

var now = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func generate(t *testing.T, o synth.Options) ([]synth.Org, [][]string) {
	t.Helper()
	var buf bytes.Buffer
	orgs, err := synth.Generate(&buf, o)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return orgs, rows
}

func TestDeterministicPerSeed(t *testing.T) {
	o := synth.Options{Devices: 3000, Orgs: 20, Seed: 42, Now: now}
	var a, b bytes.Buffer
	if _, err := synth.Generate(&a, o); err != nil {
		t.Fatal(err)
	}
	if _, err := synth.Generate(&b, o); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same seed, different output")
	}
	o.Seed = 43
	var c bytes.Buffer
	if _, err := synth.Generate(&c, o); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Fatal("different seeds, same output")
	}
}

func TestRealisticEstate(t *testing.T) {
	orgs, rows := generate(t, synth.Options{Devices: 20000, Orgs: 50, Seed: 1, Now: now})
	if !slices.Equal(rows[0], synth.Header) {
		t.Fatalf("header %v", rows[0])
	}
	rows = rows[1:]
	if len(rows) != 20000 || len(orgs) != 50 {
		t.Fatalf("%d rows in %d orgs", len(rows), len(orgs))
	}
	sizes := make([]int, len(orgs))
	total := 0
	for i, o := range orgs {
		sizes[i] = o.Devices
		total += o.Devices
	}
	if total != 20000 {
		t.Fatalf("org sizes sum to %d", total)
	}
	slices.Sort(sizes)
	if small, big := sizes[0], sizes[len(sizes)-1]; big < 10*small {
		t.Errorf("organisation sizes too even: smallest %d, largest %d", small, big)
	}
	hosts := map[string]bool{}
	builds := map[string]int{}
	missingBuild, missingDisk := 0, 0
	for _, r := range rows {
		if hosts[r[0]] {
			t.Fatalf("duplicate hostname %s", r[0])
		}
		hosts[r[0]] = true
		builds[r[11]]++
		if r[11] == "" {
			missingBuild++
		}
		if r[14] == "" {
			missingDisk++
		}
	}
	if builds["6.1.7601"] < 2000 || builds["10.0.19045"] < 500 || builds["10.0.14393"] < 500 {
		t.Errorf("release mix off: %v", builds)
	}
	for b := range builds {
		if b != "" && !strings.HasPrefix(b, "10.0.") && b != "6.1.7601" {
			t.Errorf("unexpected build %q", b)
		}
	}
	if missingBuild == 0 || missingDisk == 0 {
		t.Errorf("no missing fields: build %d, disk %d", missingBuild, missingDisk)
	}
}

func TestRejectsImpossibleOptions(t *testing.T) {
	var buf bytes.Buffer
	if _, err := synth.Generate(&buf, synth.Options{Devices: 3, Orgs: 5, Now: now}); err == nil {
		t.Fatal("fewer devices than organisations accepted")
	}
	if _, err := synth.Generate(&buf, synth.Options{Devices: 10, Orgs: 2}); err == nil {
		t.Fatal("missing reference time accepted")
	}
}

// TestCheckSize: every organisation needs a device; the commands that make
// estates (generate, simulate, demo) refuse with it before starting.
func TestCheckSize(t *testing.T) {
	for _, tc := range []struct {
		devices, orgs int
		ok            bool
	}{{1, 1, true}, {2000, 12, true}, {12, 12, true}, {11, 12, false}, {0, 0, false}, {5, 0, false}, {-1, -1, false}, {0, 1, false}} {
		if err := synth.CheckSize(tc.devices, tc.orgs); (err == nil) != tc.ok {
			t.Errorf("CheckSize(%d, %d) = %v, want ok %v", tc.devices, tc.orgs, err, tc.ok)
		}
	}
}
