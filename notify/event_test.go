package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/notify"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/report"
)

// TestPlanEvents derives events from applied plans: a halt and an
// approval keyed by campaign, wave, transition and seq; an organisation
// held in a wave that goes on keyed once per campaign, wave and
// organisation; done only when applying completed the campaign; nothing
// from a wave that just started.
func TestPlanEvents(t *testing.T) {
	pct := 20.0
	spec := &orchestrator.Spec{Name: "c", Waves: []orchestrator.Wave{{Name: "pilot", MaxFailurePercent: &pct}, {Name: "rest", MaxFailurePercent: &pct}}}
	v := orchestrator.View{Spec: spec, Status: orchestrator.StatusRunning, Waves: make([]orchestrator.WaveState, 2), Members: []orchestrator.Member{
		{Hostname: "a", Org: "RAA", Wave: 0, State: orchestrator.DeviceFailed},
		{Hostname: "b", Org: "RBB", Wave: 0, State: orchestrator.DeviceSucceeded},
		{Hostname: "c", Org: "RCC", Wave: 1, State: orchestrator.DevicePending},
	}}
	at := time.Date(2027, 1, 12, 20, 0, 0, 0, time.UTC)
	p := orchestrator.Plan{WaveChanges: []orchestrator.WaveChange{
		{Wave: 0, State: orchestrator.WaveState{Status: orchestrator.WaveHalted, Reason: "1 of 2 devices failed"}},
		{Wave: 1, State: orchestrator.WaveState{Status: orchestrator.WaveAwaitingApproval}},
		{Wave: 1, State: orchestrator.WaveState{Status: orchestrator.WaveActive}},
	}, Blocked: []orchestrator.Block{
		{Wave: "pilot", Org: "RAA", Reason: orchestrator.BlockHalted, Devices: 1}, // the wave's own halt: said once
		{Wave: "rest", Org: "RCC", Reason: orchestrator.BlockHalted, Devices: 3},
	}, Done: true}
	evs := notify.PlanEvents(orchestrator.AppliedPlan{Campaign: "c", Seq: 9, View: v, Plan: p, At: at})
	var keys []string
	for _, e := range evs {
		keys = append(keys, e.Key)
	}
	want := "c/pilot/halted/9 c/rest/awaiting_approval/9 c/rest/org_halted/RCC"
	if strings.Join(keys, " ") != want {
		t.Fatalf("keys %v, want %s (no done: applying did not complete it)", keys, want)
	}
	halt := evs[0]
	if halt.Counts["failed"] != 1 || halt.Counts["devices"] != 2 || !halt.For("RAA") || !halt.For("RBB") || halt.For("RCC") || !halt.For("") {
		t.Errorf("halt %+v", halt)
	}
	if !strings.Contains(halt.Summary, "1 of 2 devices failed") || !halt.Time.Equal(at) {
		t.Errorf("halt summary %q at %v", halt.Summary, halt.Time)
	}
	if !strings.Contains(evs[2].Title(), "organisation RCC halted in wave rest") {
		t.Errorf("org halt title %q", evs[2].Title())
	}
	evs = notify.PlanEvents(orchestrator.AppliedPlan{Campaign: "c", Seq: 10, View: v, Plan: orchestrator.Plan{Done: true}, Done: true, At: at})
	if len(evs) != 1 || evs[0].Type != notify.CampaignDone || evs[0].Key != "c/done/10" || evs[0].Counts["devices"] != 3 || len(evs[0].Orgs) != 3 {
		t.Errorf("done %+v", evs)
	}
}

// TestAtRiskEvents: one event per alert and organisation at risk, keyed by
// alert, organisation and deadline, for that organisation only.
func TestAtRiskEvents(t *testing.T) {
	pace := 2.0
	evs := notify.AtRiskEvents([]report.Compliance{{Alert: "HSA-1", Title: "DejaBlue", Deadline: "2027-01-20", DaysLeft: 7, Rows: []report.ComplianceRow{
		{Org: "RAA", Exposed: 40, AtRisk: true, PerDay: &pace},
		{Org: "RBB", Exposed: 1},
	}}})
	if len(evs) != 1 || evs[0].Key != "HSA-1/RAA/at_risk/2027-01-20" || !evs[0].For("RAA") || evs[0].For("RBB") || evs[0].Counts["exposed"] != 40 {
		t.Fatalf("events %+v", evs)
	}
	if s := evs[0].Summary; !strings.Contains(s, "40 exposed devices") || !strings.Contains(s, "2.0 devices a day") {
		t.Errorf("summary %q", s)
	}
}
