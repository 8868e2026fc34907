package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// lowDisk are the devices of TestCampaignHaltGolden with too little disk
// for its playbook: the first and last land in the pilot, the middle two
// in later waves.
var lowDisk = []string{"pc002.ra.nhs.uk", "pc005.rb.nhs.uk", "pc008.ra.nhs.uk", "pc011.rb.nhs.uk"}

const diskPlaybook = `name: disk-check
version: 1.0.0
description: Fails where the system disk has too little room for an upgrade.
steps:
  - {name: disk, when: 'facts.disk_free_gb < 20', fail: 'insufficient_disk: under 20 GB free on C:'}
`

const diskCampaign = `name: disk-check
playbook: disk.yaml
waves:
  - {name: pilot, count: 6, max_failure_percent: 10}
  - {name: ring1, count: 3, max_failure_percent: 10}
  - {name: rest, approval: manual, max_failure_percent: 10}
`

// TestCampaignHaltGolden walks a halt as a person decides it: the pilot
// halts, they list its failed devices as CSV, exclude the two low-disk
// devices still to run, continue the pilot, raise the last wave's
// threshold and approve it; every decision is in show with who and why.
func TestCampaignHaltGolden(t *testing.T) {
	s, call, _ := fleetEstate(t, 12, func(sp *device.Spec) {
		if slices.Contains(lowDisk, sp.Hostname) {
			sp.DiskFreeGB = 8
		}
	})
	s.out.Reset() // the import's output says nothing of halts
	s.env["RINGMASTER_ACTOR"] = "alice"
	for name, content := range map[string]string{"disk.yaml": diskPlaybook, "c.yaml": diskCampaign} {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The runs print what varies (timings): only their exit codes count.
	runCampaign := func() {
		t.Helper()
		if _, e, code := call("", "run", "--until-done", "--view", "plain", "--workers", "8"); code != 0 {
			t.Fatalf("run: exit %d: %s", code, e)
		}
	}

	s.run("campaign", "create", "-f", "c.yaml")
	s.run("campaign", "approve", "disk-check", "ring1") // no manual gate: says so
	s.run("campaign", "start", "disk-check")
	runCampaign()
	s.run("campaign", "show", "disk-check")
	s.run("campaign", "devices", "disk-check", "--state", "failed", "-o", "csv")
	s.run("campaign", "devices", "disk-check", "--wave", "pilot", "--limit", "4")
	s.run("campaign", "exclude", "disk-check", lowDisk[1], lowDisk[2], lowDisk[3], "--reason", "disk too small; replaced in January")
	s.run("campaign", "continue", "disk-check", "--wave", "pilot", "--reason", "low disk, known")
	s.run("campaign", "continue", "disk-check", "--wave", "pilot")
	s.run("campaign", "set", "disk-check", "--max-failure-percent", "rest=300", "--cap", "per_org=-1", "--window", "RA=0 19 * * 1-5")
	s.run("campaign", "set", "disk-check", "--max-failure-percent", "rest=20", "--reason", "the rest is less critical")
	runCampaign()
	s.run("campaign", "show", "disk-check")
	s.run("campaign", "approve", "disk-check", "rest", "--reason", "ring1 clean")
	runCampaign()
	s.run("campaign", "show", "disk-check")
	s.run("campaign", "show", "disk-check", "--device", lowDisk[0])
	s.run("campaign", "show", "disk-check", "--device", lowDisk[2])
	s.run("campaign", "retry", "disk-check", "--failed", "--wave", "nope")
	// The controller decides on the wall clock, not RINGMASTER_NOW: its
	// times (a wave's start, a dispatch) are masked.
	out := wallTime.ReplaceAllStringFunc(s.out.String(), func(t string) string {
		if strings.HasPrefix(t, "2026-11-02") && strings.Contains(t, "10:00") {
			return t
		}
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return 'x'
			}
			return r
		}, t)
	})
	s.out.Reset()
	s.out.WriteString(out)
	s.golden("halts")
}

var wallTime = regexp.MustCompile(`\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}Z)?`)

// TestLiveETA: while only a person can move a campaign on, its ETA is the
// command they must run, not a time that grows while nothing runs.
func TestLiveETA(t *testing.T) {
	tests := []struct {
		p    campaigns.Progress
		want string
	}{
		{campaigns.Progress{ETA: 90 * time.Minute}, "1h30m0s"},
		{campaigns.Progress{ETA: 90 * time.Minute, WaitingFor: "ringmaster campaign approve c rest"}, "waiting for a person: ringmaster campaign approve c rest"},
		{campaigns.Progress{}, ""},
	}
	for _, tt := range tests {
		if got := eta(tt.p); got != tt.want {
			t.Errorf("eta(%+v) = %q, want %q", tt.p, got, tt.want)
		}
		var b strings.Builder
		renderLive(&b, tt.p)
		if tt.want != "" && !strings.Contains(b.String(), "ETA "+tt.want) {
			t.Errorf("live view lacks %q:\n%s", tt.want, b.String())
		}
	}
}
