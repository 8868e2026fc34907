package alerts_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

func dejablue(t *testing.T) *alerts.Alert {
	t.Helper()
	data, err := os.ReadFile("testdata/dejablue.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, err := alerts.Parse("dejablue.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSatisfyingFollowsSupersedence(t *testing.T) {
	a := dejablue(t)
	if got := a.Satisfying("10.0.18363"); !slices.Equal(got, []string{"KB4512508", "KB4517389", "KB4524570"}) {
		t.Errorf("1909 satisfied by %v", got)
	}
	if got := a.Satisfying("10.0.19045"); got != nil {
		t.Errorf("22H2 is not in the alert, got %v", got)
	}
	if got := a.Required(); !slices.Equal(got, []string{"10.0.17763=KB4511553", "10.0.18362=KB4512508", "10.0.18363=KB4512508", "6.1.7601=KB4512506"}) {
		t.Errorf("required %v", got)
	}
}

func TestCheck(t *testing.T) {
	a := dejablue(t)
	at := time.Date(2019, 8, 20, 0, 0, 0, 0, time.UTC)
	dev := func(build, kbs string) *inventory.Device {
		d := &inventory.Device{Hostname: "pc"}
		if build != "" {
			d.Facts.Set(inventory.FactOSBuild, build, at)
		}
		if kbs != "-" {
			d.Facts.Set(inventory.FactKBs, kbs, at)
		}
		return d
	}
	tests := []struct {
		name string
		d    *inventory.Device
		want alerts.Standing
	}{
		{"named update", dev("10.0.18363", "KB4512508"), alerts.Compliant},
		{"a later cumulative update", dev("10.0.18363", "KB4524570;KB4500000"), alerts.Compliant},
		{"security-only on Windows 7", dev("6.1.7601", "KB4512486"), alerts.Compliant},
		{"missing", dev("10.0.17763", "KB4512508"), alerts.Exposed},
		{"no updates at all", dev("10.0.17763", ""), alerts.Exposed},
		{"build not in the alert", dev("10.0.19045", ""), alerts.NotAffected},
		{"updates never observed", dev("10.0.17763", "-"), alerts.Unknown},
		{"build never observed", dev("", "KB4512508"), alerts.Unknown},
	}
	for _, tt := range tests {
		if got := a.Check(tt.d); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	_, err := alerts.Parse("bad.yaml", []byte("id: 'HSA 1'\ntitle: ''\nissued: 2019-13-01\ndeadline: 2019-08-01\nremediation:\n  \"10.0\": [KB1]\nsupersedence:\n  KB4512508: [nope]\n"))
	if err == nil {
		t.Fatal("a bad alert was accepted")
	}
	for _, want := range []string{"bad.yaml:1: id", "bad.yaml:2: title is required", "bad.yaml:3: issued \"2019-13-01\"",
		"bad.yaml:6: remediation: \"10.0\" is not a build", "bad.yaml:6: remediation 10.0: \"KB1\"", "bad.yaml:8: supersedence: \"nope\""} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
