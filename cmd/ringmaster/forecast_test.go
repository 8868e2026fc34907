package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/forecast"
)

// campaign forecast works on a draft (from stated defaults), then on the
// campaign part-run (from what it observed), waiting for the approval it
// needs; and refuses what it cannot do.
func TestCampaignForecastCLI(t *testing.T) {
	call, _ := campaignEstate(t, 6)
	os.WriteFile("c.yaml", []byte(quickCampaign), 0o644)
	if _, e, code := call("", "campaign", "create", "-f", "c.yaml"); code != 0 {
		t.Fatal(e)
	}
	o, e, code := call("", "campaign", "forecast", "discover-all", "--runs", "5")
	if code != 0 {
		t.Fatalf("forecast a draft: exit %d: %s", code, e)
	}
	for _, want := range []string{"campaign discover-all, forecast from 2026-11-02 10:00 (UTC): 5 runs",
		"runs drawn from defaults (no runs observed yet)", "WAVE", "pilot", "rest", "\nRA   3  ", "\nRB   3  "} {
		if !strings.Contains(o, want) {
			t.Errorf("the draft's forecast lacks %q:\n%s", want, o)
		}
	}
	if _, e, code := call("", "campaign", "start", "discover-all"); code != 0 {
		t.Fatal(e)
	}
	if _, e, code := call("", "run", "--until-done", "--view", "plain", "--workers", "4"); code != 0 {
		t.Fatalf("run to the approval: %s", e)
	}
	o, e, code = call("", "campaign", "forecast", "discover-all", "--runs", "5", "--min-runs", "1", "--approval-delay", "6h", "-o", "json")
	if code != 0 {
		t.Fatalf("forecast -o json: exit %d: %s", code, e)
	}
	var f forecast.Forecast
	if err := json.Unmarshal([]byte(o), &f); err != nil {
		t.Fatalf("forecast -o json: %v\n%s", err, o)
	}
	if f.Runs != 5 || len(f.Waves) != 2 || len(f.Orgs) != 2 || !strings.HasPrefix(f.LearnedFrom, "this campaign (2 runs)") ||
		f.Waves[0].Finish.P50.IsZero() || f.Finish.P50.Sub(f.From) < f.ApprovalDelay {
		t.Errorf("forecast after the pilot: %+v", f)
	}
	o, e, code = call("", "campaign", "forecast", "discover-all", "--runs", "3", "--cap", "per_org=1", "--window", "RA=0 20 * * * for 2h")
	if code != 0 || !strings.Contains(o, "what if: --cap per_org=1 --window RA=0 20 * * * for 2h (not made)") {
		t.Errorf("a what-if: exit %d\n%s%s", code, o, e)
	}
	if sh, _, _ := call("", "campaign", "show", "discover-all", "-o", "json"); strings.Contains(sh, "per_org: 1") {
		t.Errorf("a what-if changed the campaign:\n%s", sh)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"campaign", "forecast", "discover-all", "--max-concurrency", "nope=3"}, "--max-concurrency nope=3"},
		{[]string{"campaign", "forecast", "nope"}, "not found"},
		{[]string{"campaign", "forecast", "discover-all", "--runs", "0"}, "--runs 0: want 1 to 10000"},
		{[]string{"campaign", "forecast", "discover-all", "--approval-delay", "-1h"}, "--approval-delay -1h0m0s"},
	} {
		if _, e, code := call("", tc.args...); code == 0 || !strings.Contains(e, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want an error saying %q", tc.args, code, e, tc.want)
		}
	}
}
