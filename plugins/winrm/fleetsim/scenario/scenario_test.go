package scenario_test

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/scenario"
)

var testNow = time.Date(2026, 11, 2, 22, 0, 0, 0, time.UTC)

func start(t *testing.T, clock device.Clock, minDisk float64) *scenario.Estate {
	t.Helper()
	e, err := scenario.Start(context.Background(), scenario.Config{
		Synth:         synth.Options{Devices: 6, Orgs: 2, Seed: 3, Now: testNow},
		MinDiskFreeGB: minDisk,
		Fleet: fleetsim.Config{Username: "u", Password: "p", Clock: clock,
			FirstAddress: net.IPv4(127, byte(100+rand.IntN(150)), byte(1+rand.IntN(250)), 1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestStartServesEveryGeneratedDevice(t *testing.T) {
	tests := []struct {
		name    string
		minDisk float64
	}{{"as generated", 0}, {"cleaned up", 40}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t, device.NewManualClock(testNow), tt.minDisk)
			if len(e.Devices) != 6 || len(e.Endpoints()) != 6 || len(e.Orgs) != 2 {
				t.Fatalf("%d devices, %d endpoints, %d orgs", len(e.Devices), len(e.Endpoints()), len(e.Orgs))
			}
			for i, ep := range e.Endpoints() {
				if ep.Machine.Hostname() != e.Devices[i].Hostname {
					t.Errorf("endpoint %d is %s, device %s", i, ep.Machine.Hostname(), e.Devices[i].Hostname)
				}
			}
			if n := e.Upgraded(device.DefaultMedia.Build); n != 0 {
				t.Errorf("upgraded %d before any campaign", n)
			}
		})
	}
}

func TestInventoryFilesImport(t *testing.T) {
	e := start(t, device.NewManualClock(testNow), 0)
	tests := []struct {
		name  string
		write func(*strings.Builder) error
		cols  int
	}{
		{"full", func(b *strings.Builder) error { return e.WriteInventory(b, true, "sim") }, len(synth.Header) + 2},
		{"directory", func(b *strings.Builder) error { return e.WriteDirectory(b, "sim") }, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := tt.write(&b); err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
			if err != nil || len(rows) != 7 || len(rows[0]) != tt.cols {
				t.Fatalf("%d rows of %d (%v)", len(rows), len(rows[0]), err)
			}
			r, err := format.NewCSVReader(strings.NewReader(b.String()), "x.csv", testNow)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				rec, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if rec.Device.Address == "" || rec.Device.Credential != "sim" {
					t.Errorf("record %+v", rec.Device)
				}
				n++
			}
			if n != 6 {
				t.Fatalf("%d records", n)
			}
		})
	}
}

func TestTakeAway(t *testing.T) {
	clock := device.NewManualClock(testNow)
	e := start(t, clock, 0)
	if n := e.TakeAway(context.Background(), clock, 3, 1, time.Hour); n != 2 {
		t.Fatalf("took %d away, want 2", n)
	}
	if e.Endpoints()[1].Machine.Up() || !e.Endpoints()[0].Machine.Up() {
		t.Fatal("the wrong devices left")
	}
	clock.Advance(time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for !e.Endpoints()[1].Machine.Up() {
		if time.Now().After(deadline) {
			t.Fatal("did not come back")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDemoSpecsParse(t *testing.T) {
	al, err := alerts.Parse("alert.yaml", []byte(scenario.DemoAlertSpec(testNow)))
	if err != nil {
		t.Fatal(err)
	}
	if al.ID != scenario.DemoAlert || al.Deadline != "2026-11-16" {
		t.Fatalf("alert %s deadline %s", al.ID, al.Deadline)
	}
	spec, err := orchestrator.ParseSpec("c.yaml", []byte(scenario.DemoCampaignSpec))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != scenario.DemoCampaign || len(spec.Waves) != 3 {
		t.Fatalf("campaign %s, %d waves", spec.Name, len(spec.Waves))
	}
	if _, err := fleetsim.ParseFaults(scenario.DemoFaults); err != nil {
		t.Fatal(err)
	}
}

func TestCheckDescriptors(t *testing.T) {
	if err := scenario.CheckDescriptors(10, true); err != nil {
		t.Fatal(err)
	}
	if err := scenario.CheckDescriptors(1<<40, false); err == nil || !strings.Contains(err.Error(), "open-file limit") {
		t.Fatalf("err = %v", err)
	}
}
