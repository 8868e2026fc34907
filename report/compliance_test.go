package report

import (
	"io"
	"os"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

func sampleCompliance(t *testing.T, at time.Time, hist ...Snapshot) Compliance {
	t.Helper()
	return sampleComplianceForecast(t, at, OrgForecast{}, hist...)
}

// sampleComplianceForecast is sampleCompliance with raa as the forecast of
// RAA, when it names a campaign.
func sampleComplianceForecast(t *testing.T, at time.Time, raa OrgForecast, hist ...Snapshot) Compliance {
	t.Helper()
	data, err := os.ReadFile("testdata/dejablue.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, err := alerts.Parse("dejablue.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	obs := time.Date(2019, 8, 19, 9, 0, 0, 0, time.UTC)
	dev := func(org, build, kbs string) *inventory.Device {
		d := &inventory.Device{Hostname: "pc", Org: org}
		d.Facts.Set(inventory.FactOSBuild, build, obs)
		if kbs != "-" {
			d.Facts.Set(inventory.FactKBs, kbs, obs)
		}
		return d
	}
	b := NewCompliance(a, []inventory.Organisation{{Code: "RAA", Name: "Alpha Trust"}, {Code: "RBB", Name: "Beta Practice"}}, at)
	b.UseHistory(IndexHistory(hist))
	if raa.Campaign != "" {
		b.ForecastOrg("RAA", raa)
	}
	b.Add(dev("RAA", "10.0.18363", "KB4512508"))
	b.Add(dev("RAA", "10.0.18363", "KB4524570")) // superseding
	b.Add(dev("RAA", "10.0.17763", ""))          // exposed
	b.Add(dev("RAA", "10.0.19045", ""))          // not affected
	b.Add(dev("RBB", "6.1.7601", "KB4512486"))
	b.Add(dev("RBB", "10.0.17763", "-")) // unknown
	return b.Build()
}

func TestComplianceFigures(t *testing.T) {
	before := sampleCompliance(t, time.Date(2019, 8, 24, 12, 0, 0, 0, time.UTC))
	raa, rbb := before.Rows[0], before.Rows[1]
	if raa.Affected != 3 || raa.Compliant != 2 || raa.Exposed != 1 || raa.Overdue != 0 || !raa.AtRisk || before.DaysLeft != 3 {
		t.Errorf("RAA before the deadline: %+v, days left %d", raa, before.DaysLeft)
	}
	if rbb.Affected != 1 || rbb.Compliant != 1 || rbb.Unknown != 1 || rbb.CompliantPc != 100 || rbb.AtRisk {
		t.Errorf("RBB: %+v", rbb)
	}
	after := sampleCompliance(t, time.Date(2019, 9, 2, 0, 0, 0, 0, time.UTC))
	if after.Rows[0].Overdue != 1 || after.Total.Overdue != 1 || after.DaysLeft >= 0 {
		t.Errorf("after the deadline: %+v, days left %d", after.Total, after.DaysLeft)
	}
	early := sampleCompliance(t, time.Date(2019, 8, 14, 0, 0, 0, 0, time.UTC))
	if early.Rows[0].AtRisk {
		t.Errorf("two weeks before the deadline RAA is at risk: %+v", early.Rows[0])
	}
	// With history: RAA went from 1 to 2 of 3 compliant in five days, too
	// slow for its last device in the 3 days left.
	snap := func(d string, compliant int) Snapshot {
		return Snapshot{Day: day(d), Org: "RAA", Affected: map[string]int{"HSA-2019-0042": 3}, Compliant: map[string]int{"HSA-2019-0042": compliant}}
	}
	slow := sampleCompliance(t, time.Date(2019, 8, 24, 12, 0, 0, 0, time.UTC), snap("2019-08-12", 0), snap("2019-08-19", 1), snap("2019-08-24", 2))
	if r := slow.Rows[0]; !r.AtRisk || r.PerDay == nil || *r.PerDay != 0.2 || r.MedianDays == nil || *r.MedianDays != 8.5 {
		t.Errorf("RAA at a slow pace: %+v", r)
	}
	// One a day: done in a day, not at risk though the deadline is near.
	fast := sampleCompliance(t, time.Date(2019, 8, 24, 12, 0, 0, 0, time.UTC), snap("2019-08-23", 1), snap("2019-08-24", 2))
	if r := fast.Rows[0]; r.AtRisk || r.PerDay == nil || *r.PerDay != 1 {
		t.Errorf("RAA at one a day: %+v", r)
	}
	// A forecast of the remediation covering RAA says it makes the
	// deadline: the forecast decides, not the slow pace.
	covered := sampleComplianceForecast(t, time.Date(2019, 8, 24, 12, 0, 0, 0, time.UTC),
		OrgForecast{Campaign: "remediate-hsa-2019-0042", P50: time.Date(2019, 8, 25, 3, 0, 0, 0, time.UTC), P90: time.Date(2019, 8, 26, 3, 0, 0, 0, time.UTC)},
		snap("2019-08-12", 0), snap("2019-08-19", 1), snap("2019-08-24", 2))
	if r := covered.Rows[0]; r.AtRisk || r.RiskFrom != RiskFromForecast || r.Forecast == nil {
		t.Errorf("RAA covered by a forecast that makes the deadline: %+v", r)
	}
	late := sampleComplianceForecast(t, time.Date(2019, 8, 24, 12, 0, 0, 0, time.UTC),
		OrgForecast{Campaign: "remediate-hsa-2019-0042", P50: time.Date(2019, 9, 3, 3, 0, 0, 0, time.UTC), MissesDeadline: true, LateAtDeadline: 1, Unfinished: 0.2})
	if r := late.Rows[0]; !r.AtRisk || r.RiskFrom != RiskFromForecast {
		t.Errorf("RAA covered by a forecast that misses the deadline: %+v", r)
	}
	if r := late.Rows[1]; r.AtRisk || r.RiskFrom != RiskFromPace {
		t.Errorf("RBB, no forecast and nothing exposed: %+v", r)
	}
	goldenForms(t, "compliance", func(w io.Writer, format string) error { return WriteCompliance(w, late, format) })
}

func TestScorecard(t *testing.T) {
	data, _ := os.ReadFile("testdata/dejablue.yaml")
	a, err := alerts.Parse("dejablue.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2019, 8, 24, 12, 0, 0, 0, time.UTC)
	obs := at.Add(-48 * time.Hour)
	dev := func(org, build, kbs string, seen time.Time) *inventory.Device {
		d := &inventory.Device{Hostname: "pc", Org: org, LastSeen: seen}
		d.Facts.Set(inventory.FactOSBuild, build, obs)
		d.Facts.Set(inventory.FactKBs, kbs, obs)
		return d
	}
	supported, _, _ := inventory.ParseVersion("10.0.18362")
	b := NewScorecard([]inventory.Organisation{{Code: "RAA", Name: "Alpha Trust"}, {Code: "RBB", Name: "Beta Practice"}}, supported, []*alerts.Alert{a}, at)
	b.Add(dev("RAA", "10.0.18363", "KB4512508", at))
	b.Add(dev("RAA", "10.0.17763", "", at))
	b.Add(dev("RBB", "6.1.7601", "KB4512486", time.Time{}))
	b.Add(dev("RBB", "10.0.18362", "", at.Add(-40*24*time.Hour)))
	s := b.Build()
	if r := s.Rows[0]; r.SupportedPc != 50 || r.AlertPc["HSA-2019-0042"] != 50 || r.NotSeen30d != 0 {
		t.Errorf("RAA %+v", r)
	}
	if r := s.Rows[1]; r.SupportedPc != 50 || r.AlertPc["HSA-2019-0042"] != 50 || r.NotSeen30d != 2 {
		t.Errorf("RBB %+v", r)
	}
	if s.Total.Devices != 4 || s.Total.SupportedPc != 50 || s.Total.NotSeen30d != 2 {
		t.Errorf("total %+v", s.Total)
	}
	if err := SortScorecard(&s, "not_seen"); err != nil || s.Rows[0].Org != "RBB" {
		t.Errorf("sorted by not_seen: %v %+v", err, s.Rows)
	}
	if err := SortScorecard(&s, "nope"); err == nil {
		t.Error("an unknown sort column was accepted")
	}
	goldenForms(t, "scorecard", func(w io.Writer, format string) error { return WriteScorecard(w, s, format) })
}
