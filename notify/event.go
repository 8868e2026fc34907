package notify

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/report"
)

// Type is what happened.
type Type string

// The events people are told of.
const (
	WaveHalted     Type = "wave_halted"     // a wave, or an organisation in it, halted on failures
	ApprovalNeeded Type = "approval_needed" // a wave waits for campaign approve
	CampaignDone   Type = "campaign_done"   // every wave of a campaign finished
	AlertAtRisk    Type = "alert_at_risk"   // an organisation's exposed devices will not be done by the alert's deadline
	Test           Type = "test"            // notify test
)

// Event is one happening, as sent. Key identifies it: the same happening
// seen again (by another control pass, after a restart) has the same key,
// and a subscription receives each key once.
type Event struct {
	Key      string         `json:"key"`
	Type     Type           `json:"type"`
	Time     time.Time      `json:"time"`
	Campaign string         `json:"campaign,omitempty"`
	Wave     string         `json:"wave,omitempty"`
	Alert    string         `json:"alert,omitempty"`
	Orgs     []string       `json:"organisations,omitempty"`
	Counts   map[string]int `json:"counts,omitempty"`
	Summary  string         `json:"summary"` // plain text, no links
}

// For reports whether a subscription for org ("" for national) receives
// the event: national ones receive all, an organisation's those that touch
// its devices.
func (e Event) For(org string) bool { return org == "" || slices.Contains(e.Orgs, org) }

// Title is a one-line heading (an email's subject).
func (e Event) Title() string {
	switch e.Type {
	case WaveHalted:
		if len(e.Orgs) == 1 && e.Counts["org_halted"] == 1 {
			return fmt.Sprintf("organisation %s halted in wave %s of campaign %s", e.Orgs[0], e.Wave, e.Campaign)
		}
		return fmt.Sprintf("wave %s of campaign %s halted", e.Wave, e.Campaign)
	case ApprovalNeeded:
		return fmt.Sprintf("wave %s of campaign %s awaits approval", e.Wave, e.Campaign)
	case CampaignDone:
		return fmt.Sprintf("campaign %s is done", e.Campaign)
	case AlertAtRisk:
		return fmt.Sprintf("alert %s deadline at risk for %s", e.Alert, strings.Join(e.Orgs, ", "))
	}
	return "test notification"
}

// PlanEvents are the events a plan applied to a campaign gives: each wave
// it halts or leaves awaiting approval, each organisation halted in a wave
// (while the wave goes on), and the campaign done when done says the plan
// completed it. v is the view the plan was decided from.
func PlanEvents(a orchestrator.AppliedPlan) []Event {
	v, p := a.View, a.Plan
	if v.Spec == nil {
		return nil
	}
	var out []Event
	waveName := func(i int) string {
		if i >= 0 && i < len(v.Spec.Waves) {
			return v.Spec.Waves[i].Name
		}
		return fmt.Sprint(i)
	}
	halted := map[string]bool{}
	for _, c := range p.WaveChanges {
		wave := waveName(c.Wave)
		counts, orgs := waveCounts(v, c.Wave)
		e := Event{Time: a.At, Campaign: a.Campaign, Wave: wave, Orgs: orgs, Counts: counts}
		switch c.State.Status {
		case orchestrator.WaveHalted:
			halted[wave] = true
			e.Type = WaveHalted
			e.Key = fmt.Sprintf("%s/%s/halted/%d", a.Campaign, wave, a.Seq)
			e.Summary = fmt.Sprintf("Campaign %s: wave %s halted: %s. Nothing more starts in it or after it until a person acts: "+
				"see ringmaster campaign show %s, then ringmaster campaign continue %s --wave %s to accept the failures so far, "+
				"retry the failed devices, or cancel.", a.Campaign, wave, c.State.Reason, a.Campaign, a.Campaign, wave)
		case orchestrator.WaveAwaitingApproval:
			e.Type = ApprovalNeeded
			e.Key = fmt.Sprintf("%s/%s/awaiting_approval/%d", a.Campaign, wave, a.Seq)
			e.Summary = fmt.Sprintf("Campaign %s: wave %s (%d devices) waits for approval: ringmaster campaign approve %s %s",
				a.Campaign, wave, counts["devices"], a.Campaign, wave)
		default:
			continue
		}
		out = append(out, e)
	}
	for _, b := range p.Blocked {
		if b.Reason != orchestrator.BlockHalted || b.Org == "" || halted[b.Wave] || waveHalted(v, p, b.Wave) {
			continue
		}
		// Held by its own failures: one event per campaign, wave and
		// organisation (the hold shows in every pass until it lifts).
		e := Event{Type: WaveHalted, Time: a.At, Campaign: a.Campaign, Wave: b.Wave, Orgs: []string{b.Org},
			Key:    fmt.Sprintf("%s/%s/org_halted/%s", a.Campaign, b.Wave, b.Org),
			Counts: map[string]int{"org_halted": 1, "devices_held": b.Devices}}
		e.Summary = fmt.Sprintf("Campaign %s: organisation %s halted in wave %s on its own failures; %d of its devices wait. "+
			"See ringmaster campaign show %s, then ringmaster campaign continue %s --wave %s --org %s to accept its failures so far, "+
			"retry the failed devices, or cancel.", a.Campaign, b.Org, b.Wave, b.Devices, a.Campaign, a.Campaign, b.Wave, b.Org)
		out = append(out, e)
	}
	if a.Done {
		counts, orgs := waveCounts(v, -1)
		e := Event{Type: CampaignDone, Time: a.At, Campaign: a.Campaign, Orgs: orgs, Counts: counts,
			Key: fmt.Sprintf("%s/done/%d", a.Campaign, a.Seq)}
		e.Summary = fmt.Sprintf("Campaign %s is done: %d devices, %d succeeded, %d failed, %d skipped.", a.Campaign,
			counts["devices"], counts["succeeded"], counts["failed"], counts["skipped"])
		out = append(out, e)
	}
	return out
}

// waveHalted reports whether a wave is halted as the plan leaves it.
func waveHalted(v orchestrator.View, p orchestrator.Plan, wave string) bool {
	for i, w := range v.Spec.Waves {
		if w.Name != wave || i >= len(v.Waves) {
			continue
		}
		st := v.Waves[i].Status
		for _, c := range p.WaveChanges {
			if c.Wave == i {
				st = c.State.Status
			}
		}
		return st == orchestrator.WaveHalted
	}
	return false
}

// waveCounts counts a wave's devices (every wave's when wave < 0) by
// state, with the organisations they belong to.
func waveCounts(v orchestrator.View, wave int) (map[string]int, []string) {
	counts := map[string]int{}
	seen := map[string]bool{}
	var orgs []string
	for _, c := range v.DeviceCounts() {
		if c.Wave < 0 || (wave >= 0 && c.Wave != wave) {
			continue
		}
		counts["devices"] += c.Devices
		counts[string(c.State)] += c.Devices
		if !seen[c.Org] {
			seen[c.Org] = true
			orgs = append(orgs, c.Org)
		}
	}
	sort.Strings(orgs)
	return counts, orgs
}

// AtRiskEvents are the events of alerts' compliance: one per alert and
// organisation at risk (exposed devices the pace will not remediate by the
// deadline), sent once per alert, organisation and deadline.
func AtRiskEvents(cs []report.Compliance) []Event {
	var out []Event
	for _, c := range cs {
		for _, r := range c.Rows {
			if !r.AtRisk {
				continue
			}
			e := Event{Type: AlertAtRisk, Time: c.GeneratedAt, Alert: c.Alert, Orgs: []string{r.Org},
				Key:    fmt.Sprintf("%s/%s/at_risk/%s", c.Alert, r.Org, c.Deadline),
				Counts: map[string]int{"devices": r.Devices, "affected": r.Affected, "exposed": r.Exposed, "overdue": r.Overdue, "days_left": c.DaysLeft}}
			pace := "no pace is known yet"
			if r.PerDay != nil {
				pace = fmt.Sprintf("at %.1f devices a day", *r.PerDay)
			}
			e.Summary = fmt.Sprintf("Alert %s (%s): organisation %s has %d exposed devices; %s they will not all be remediated by the deadline %s (%d days left).",
				c.Alert, c.Title, r.Org, r.Exposed, pace, c.Deadline, c.DaysLeft)
			out = append(out, e)
		}
	}
	return out
}
