package report

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/golden"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

var now = time.Date(2027, 1, 12, 20, 0, 0, 0, time.UTC)

func dev(host, org, build string, seen time.Time, observed time.Time) *inventory.Device {
	d := &inventory.Device{Hostname: host, Org: org, LastSeen: seen}
	if build != "" {
		if err := d.Facts.Set(inventory.FactOSBuild, build, observed); err != nil {
			panic(err)
		}
	}
	return d
}

func sampleProgress() Progress {
	target, _, _ := inventory.ParseVersion("10.0.19045")
	b := NewProgress([]inventory.Organisation{{Code: "RAA", Name: "Alpha Trust"}, {Code: "RBB", Name: "Beta Practice"}},
		ProgressOptions{TargetBuild: target, Now: now, Deadline: now.Add(36 * time.Hour)})
	day := 24 * time.Hour
	obs := now.Add(-2 * day)
	b.Add(dev("a1", "RAA", "10.0.19045", now, obs), &CampaignState{"succeeded", "completed"})
	b.Add(dev("a2", "RAA", "10.0.19045", now, now.Add(-5*day)), nil) // upgraded before the campaign
	b.Add(dev("a3", "RAA", "10.0.18363", now, obs), &CampaignState{"running", ""})
	b.Add(dev("a4", "RAA", "10.0.18363", now, obs), &CampaignState{"failed", "compat_blocked:0xC1900208"})
	b.Add(dev("a5", "RAA", "10.0.18363", now, obs), &CampaignState{"failed", "compat_blocked:0xC1900208"})
	b.Add(dev("a6", "RAA", "10.0.18363", now, obs), &CampaignState{"failed", "rolled_back:0xC1900101"})
	b.Add(dev("a7", "RAA", "10.0.18363", now.Add(-40*day), obs), &CampaignState{"deferred", "unreachable"})
	// Succeeded by its run's account, but observed on the old build: the
	// facts decide, so it is not counted as migrated.
	b.Add(dev("a8", "RAA", "10.0.18363", now, obs), &CampaignState{"succeeded", "completed"})
	b.Add(dev("b1", "RBB", "6.1.7601", time.Time{}, obs), &CampaignState{"pending", ""})
	b.Add(dev("b2", "RBB", "", time.Time{}, time.Time{}), nil)
	b.Add(dev("b3", "RBB", "10.0.17763", now, obs), &CampaignState{"skipped", "ineligible_edition"})
	b.Add(dev("b4", "RBB", "10.0.22621", now, obs), nil) // later than the target counts
	// The campaign finished 7 RAA devices in the last week (one long
	// before does not count): a pace of 1 a day.
	for i := range 7 {
		b.Finished("RAA", now.Add(-time.Duration(i)*day-time.Hour))
	}
	b.Finished("RAA", now.Add(-30*day))
	// A forecast covers RBB (not RAA): in most of its runs RBB does not
	// finish.
	made := now.Add(-10 * time.Minute)
	b.ForecastOrg("RBB", OrgForecast{Campaign: "win10", Made: made, P50: now.Add(3 * day), Unfinished: 0.6, LearnedFrom: "this campaign (120 runs)"})
	b.ForecastTotal(OrgForecast{Campaign: "win10", Made: made, P50: now.Add(4 * day), P90: now.Add(6 * day), Unfinished: 0.05, LearnedFrom: "this campaign (120 runs)"})
	return b.Build()
}

func TestProgressFigures(t *testing.T) {
	p := sampleProgress()
	raa, rbb, total := p.Rows[0], p.Rows[1], p.Total
	tests := []struct {
		name      string
		got, want int
	}{
		{"RAA devices", raa.Devices, 8}, {"RAA on target", raa.OnTarget, 2}, {"RAA in progress", raa.InProgress, 1},
		{"RAA failed", raa.Failed, 3}, {"RAA deferred", raa.Deferred, 1}, {"RAA not started", raa.NotStarted, 1},
		{"RAA not seen", raa.NotSeen, 1}, {"RBB on target", rbb.OnTarget, 1}, {"RBB ineligible", rbb.Ineligible, 1},
		{"RBB not started", rbb.NotStarted, 2}, {"RBB unknown", rbb.Unknown, 1}, {"RBB not seen", rbb.NotSeen, 2},
		{"total devices", total.Devices, 12}, {"total on target", total.OnTarget, 3}, {"total failed", total.Failed, 3},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	if raa.TopReasons[0] != (ReasonCount{"compat_blocked:0xC1900208", 2}) || raa.OnTargetPc != 25 {
		t.Errorf("RAA: %+v", raa)
	}
	// Pace: RAA has 2 devices left in the campaign (a3 running, a7
	// deferred) at one a day.
	if raa.PerDay == nil || *raa.PerDay != 1 || raa.ETA == nil || !raa.ETA.Equal(now.Add(2*24*time.Hour)) {
		t.Errorf("RAA pace %v, ETA %v; want 1 a day, done in 2 days", raa.PerDay, raa.ETA)
	}
	if rbb.PerDay == nil || *rbb.PerDay != 0 || rbb.ETA != nil {
		t.Errorf("RBB pace %v, ETA %v; want 0 and no ETA", rbb.PerDay, rbb.ETA)
	}
	// At risk: RBB from its forecast (most runs unfinished), RAA from its
	// pace (done in two days, the deadline in a day and a half), the
	// total from the campaign's forecast (it finishes).
	if !rbb.AtRisk || rbb.RiskFrom != RiskFromForecast || rbb.Forecast == nil || rbb.Forecast.Campaign != "win10" {
		t.Errorf("RBB risk %v from %q, forecast %+v; want at risk from its forecast", rbb.AtRisk, rbb.RiskFrom, rbb.Forecast)
	}
	if !raa.AtRisk || raa.RiskFrom != RiskFromPace || raa.Forecast != nil {
		t.Errorf("RAA risk %v from %q, forecast %+v; want at risk from its pace", raa.AtRisk, raa.RiskFrom, raa.Forecast)
	}
	if total.AtRisk || total.RiskFrom != RiskFromForecast {
		t.Errorf("total risk %v from %q; want not at risk, from the forecast", total.AtRisk, total.RiskFrom)
	}
	// Freshness: the day of the oldest build observation behind the row.
	if !raa.AsOf.Equal(inventory.Day(now.Add(-5*24*time.Hour))) || !total.AsOf.Equal(raa.AsOf) {
		t.Errorf("as of: RAA %s, total %s", raa.AsOf, total.AsOf)
	}
}

// TestProgressFormats pins the table, CSV and JSON forms.
func TestProgressFormats(t *testing.T) {
	goldenForms(t, "progress", func(w io.Writer, format string) error { return WriteProgress(w, sampleProgress(), format) })
	if err := WriteProgress(&bytes.Buffer{}, sampleProgress(), "xml"); err == nil {
		t.Error("an unknown format was accepted")
	}
}

// TestProgressBySiteFormats pins the forms of a report per organisation
// and site: the table and CSV have a SITE column, as the JSON rows have
// a site; a device without a site has a row of its own with an empty one.
func TestProgressBySiteFormats(t *testing.T) {
	target, _, _ := inventory.ParseVersion("10.0.19045")
	b := NewProgress([]inventory.Organisation{{Code: "RAA", Name: "Alpha Trust"}, {Code: "RBB", Name: "Beta Practice"}},
		ProgressOptions{TargetBuild: target, Now: now, BySite: true})
	obs := now.Add(-2 * 24 * time.Hour)
	for _, d := range []struct {
		host, org, site, build string
		st                     *CampaignState
	}{
		{"a1", "RAA", "Leeds General", "10.0.19045", nil},
		{"a2", "RAA", "Leeds General", "10.0.18363", &CampaignState{"failed", "rolled_back:0xC1900101"}},
		{"a3", "RAA", "York Clinic", "10.0.18363", &CampaignState{"running", ""}},
		{"a4", "RAA", "", "10.0.18363", nil},
		{"b1", "RBB", "Hull", "10.0.22621", nil},
	} {
		dv := dev(d.host, d.org, d.build, now, obs)
		dv.Site = d.site
		b.Add(dv, d.st)
	}
	p := b.Build()
	if !p.BySite || len(p.Rows) != 4 || p.Rows[0].Site != "" || p.Rows[1].Site != "Leeds General" {
		t.Fatalf("rows %+v", p.Rows)
	}
	goldenForms(t, "progress-site", func(w io.Writer, format string) error { return WriteProgress(w, p, format) })
}

// goldenForms writes a report in every format and compares each with
// testdata/NAME.FORMAT (rewritten with -update).
func goldenForms(t *testing.T, name string, write func(w io.Writer, format string) error) {
	t.Helper()
	for _, format := range []string{FormatTable, FormatCSV, FormatJSON} {
		var b bytes.Buffer
		if err := write(&b, format); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, "testdata/"+name+"."+format, b.String())
	}
}
