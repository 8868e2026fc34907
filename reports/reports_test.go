package reports_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/forecast"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/report"
	"github.com/ringmaster-fleet/ringmaster/reports"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

var testNow = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

func now() time.Time { return testNow }

// estate is a real SQLite database holding a generated estate, with the
// stores reports read.
type estate struct {
	db      *sqlite.DB
	inv     *sqlite.Inventory
	alerts  *sqlite.Alerts
	history *sqlite.History
}

func newEstate(t *testing.T, devices int) *estate {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ringmaster.db"), sqlite.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	inv := db.Inventory()
	var buf strings.Builder
	if _, err := synth.Generate(&buf, synth.Options{Devices: devices, Orgs: 4, Seed: 7, Now: testNow}); err != nil {
		t.Fatal(err)
	}
	r, err := format.NewCSVReader(strings.NewReader(buf.String()), "estate.csv", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Import(ctx, r, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	e := &estate{db: db, inv: inv}
	if e.alerts, err = db.Alerts(ctx); err != nil {
		t.Fatal(err)
	}
	if e.history, err = db.History(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

// addAlert stores the DejaBlue alert; watched says whether the rollup
// counts its updates (as alert add does) or not (as an earlier version
// left it).
func (e *estate) addAlert(t *testing.T, watched bool) *alerts.Alert {
	t.Helper()
	data, err := os.ReadFile("../report/testdata/dejablue.yaml")
	if err != nil {
		t.Fatal(err)
	}
	al, err := alerts.Parse("dejablue.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if watched {
		err = e.alerts.Add(context.Background(), al, data)
	} else {
		_, err = e.db.SQL().Exec(`INSERT INTO alerts (id, title, issued, deadline, file, source, added_at) VALUES (?, ?, ?, ?, ?, ?, 0)`,
			al.ID, al.Title, al.Issued, al.Deadline, al.File, string(data))
	}
	if err != nil {
		t.Fatal(err)
	}
	return al
}

func (e *estate) service(t *testing.T, cs reports.Campaigns) *reports.Service {
	t.Helper()
	svc, err := reports.New(reports.Config{Inventory: e.inv, Alerts: e.alerts, History: e.history, Campaigns: cs, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// changes is how many rows the store's one connection has written.
func (e *estate) changes(t *testing.T) int64 {
	t.Helper()
	var n int64
	if err := e.db.SQL().QueryRow(`SELECT total_changes()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func version(t *testing.T, s string) inventory.Version {
	t.Helper()
	v, _, err := inventory.ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func selector(t *testing.T, s string) inventory.Selector {
	t.Helper()
	sel, err := inventory.ParseSelector(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

// count returns how many devices sel matches, one by one.
func (e *estate) count(t *testing.T, sel inventory.Selector) int {
	t.Helper()
	n := 0
	for _, err := range e.inv.Devices(context.Background(), sel) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// TestReports calls every report through the Go API over a generated
// estate and checks that each counts every device the selector matches
// and that none writes to the database.
func TestReports(t *testing.T) {
	ctx := context.Background()
	e := newEstate(t, 600)
	e.addAlert(t, true)
	svc := e.service(t, nil)
	target, supported := version(t, reports.DefaultTargetBuild), version(t, reports.DefaultSupportedBuild)
	for _, tc := range []struct {
		name, selector string
	}{
		{"everything", ""},
		{"one organisation", "org=" + firstOrg(t, e)},
		{"old builds", "build<10.0.19041"},
		{"a label (device by device)", "hostname!=nobody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sel := selector(t, tc.selector)
			want := e.count(t, sel)
			before := e.changes(t)
			p, err := svc.Progress(ctx, reports.ProgressOptions{Selector: sel, TargetBuild: target})
			if err != nil || p.Total.Devices != want {
				t.Fatalf("Progress: %d devices, %v; want %d", p.Total.Devices, err, want)
			}
			sites, err := svc.Progress(ctx, reports.ProgressOptions{Selector: sel, TargetBuild: target, BySite: true})
			if err != nil || sites.Total.Devices != want || len(sites.Rows) < len(p.Rows) {
				t.Fatalf("Progress by site: %d devices in %d rows, %v; want %d in at least %d", sites.Total.Devices, len(sites.Rows), err, want, len(p.Rows))
			}
			sc, err := svc.Scorecard(ctx, reports.ScorecardOptions{Selector: sel, SupportedBuild: supported, Sort: "supported"})
			if err != nil || sc.Total.Devices != want {
				t.Fatalf("Scorecard: %d devices, %v; want %d", sc.Total.Devices, err, want)
			}
			cs, err := svc.Compliance(ctx, sel)
			if err != nil || len(cs) != 1 || cs[0].Alert.ID != "HSA-2019-0042" || cs[0].Compliance.Total.Devices != want {
				t.Fatalf("Compliance: %+v, %v", cs, err)
			}
			r, err := svc.Estate(ctx, reports.EstateOptions{Selector: sel, TargetBuild: target, SupportedBuild: supported})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.Progress, p) || !reflect.DeepEqual(r.Sites, sites) || len(r.Compliance) != 1 ||
				!reflect.DeepEqual(r.Compliance[0], cs[0].Compliance) {
				t.Errorf("Estate differs from the reports computed one by one")
			}
			if after := e.changes(t); after != before {
				t.Errorf("reports wrote %d rows; they must only read", after-before)
			}
		})
	}
}

func firstOrg(t *testing.T, e *estate) string {
	t.Helper()
	orgs, err := e.inv.Organisations(context.Background())
	if err != nil || len(orgs) == 0 {
		t.Fatalf("organisations: %v, %v", orgs, err)
	}
	return orgs[0].Code
}

// TestUnwatchedAlert: an alert stored without its updates watched (an
// earlier version's database) is counted device by device, exactly as
// the rollup counts it once watched, and the report does not mend the
// rollup (it writes nothing).
func TestUnwatchedAlert(t *testing.T) {
	ctx := context.Background()
	e := newEstate(t, 400)
	al := e.addAlert(t, false)
	svc := e.service(t, nil)
	before := e.changes(t)
	unwatched, err := svc.Compliance(ctx, inventory.Everything())
	if err != nil {
		t.Fatal(err)
	}
	if after := e.changes(t); after != before {
		t.Fatalf("the report wrote %d rows", after-before)
	}
	if _, err := e.inv.WatchKBs(ctx, al.KBs()); err != nil {
		t.Fatal(err)
	}
	watched, err := svc.Compliance(ctx, inventory.Everything())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(unwatched[0].Compliance, watched[0].Compliance) {
		t.Errorf("device by device:\n%+v\nfrom the rollup:\n%+v", unwatched[0].Compliance.Total, watched[0].Compliance.Total)
	}
	if watched[0].Compliance.Total.Affected == 0 {
		t.Errorf("no device affected: the test proves nothing")
	}
}

// TestErrors: callers decide by the error's type.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	e := newEstate(t, 50)
	e.addAlert(t, true)
	svc := e.service(t, nil)
	for _, tc := range []struct {
		name string
		call func() error
		is   error
		msg  string
	}{
		{"unknown alert", func() error { _, err := svc.Compliance(ctx, inventory.Everything(), "HSA-NONE"); return err },
			errkind.NotFound, "alert HSA-NONE: not found"},
		{"unknown alert to remediate", func() error { _, _, err := svc.Exposed(ctx, "HSA-NONE"); return err },
			errkind.NotFound, "alert HSA-NONE: not found"},
		{"bad sort", func() error { _, err := svc.Scorecard(ctx, reports.ScorecardOptions{Sort: "colour"}); return err },
			reports.ErrInvalid, "colour"},
		{"campaign without a campaign store", func() error {
			_, err := svc.Progress(ctx, reports.ProgressOptions{Campaign: "c"})
			return err
		}, errkind.NotFound, "campaign c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v; want %v containing %q", err, tc.is, tc.msg)
			}
		})
	}
}

// TestExposed lists exactly the devices the alert's check finds exposed.
func TestExposed(t *testing.T) {
	ctx := context.Background()
	e := newEstate(t, 300)
	al := e.addAlert(t, true)
	_, got, err := e.service(t, nil).Exposed(ctx, al.ID)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for d, err := range e.inv.Devices(ctx, inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		if al.Check(d) == alerts.Exposed {
			want = append(want, d.Hostname)
		}
	}
	if len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("exposed: %d devices, want %d", len(got), len(want))
	}
	// Bounded to one organisation, the same devices of it alone; bounded
	// to none, none.
	org := ""
	for d, err := range e.inv.Devices(ctx, inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		if al.Check(d) == alerts.Exposed {
			org = d.Org
			break
		}
	}
	var wantIn []string
	for d, err := range e.inv.Devices(ctx, inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		if d.Org == org && al.Check(d) == alerts.Exposed {
			wantIn = append(wantIn, d.Hostname)
		}
	}
	_, gotIn, err := e.service(t, nil).ExposedIn(ctx, access.NewOrgs(org), al.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(wantIn) == 0 || len(wantIn) == len(want) || !reflect.DeepEqual(gotIn, wantIn) {
		t.Errorf("exposed in %s: %d devices, want %d of the %d", org, len(gotIn), len(wantIn), len(want))
	}
	if a, none, err := e.service(t, nil).ExposedIn(ctx, access.NewOrgs(), al.ID); err != nil || a == nil || len(none) != 0 {
		t.Errorf("exposed in no organisation: %v, %d devices, %v", a, len(none), err)
	}
}

// campaigns is a campaign store in memory: one campaign over the given
// devices, two waves.
type campaigns struct {
	members     []orchestrator.Member
	transitions []orchestrator.Transition
	forecast    []byte // win10's stored forecast (nil: none)
}

func (c *campaigns) LatestForecast(_ context.Context, name string) (time.Time, []byte, error) {
	if name != "win10" || c.forecast == nil {
		return time.Time{}, nil, fmt.Errorf("campaign %s has no forecast: %w", name, errkind.NotFound)
	}
	return testNow, c.forecast, nil
}

func (c *campaigns) Campaigns(context.Context) ([]orchestrator.Campaign, error) {
	return []orchestrator.Campaign{{Name: "win10", PlaybookFile: "/pb/win10-feature-update.yaml", Status: orchestrator.StatusRunning}}, nil
}

func (c *campaigns) Campaign(_ context.Context, name string) (orchestrator.Campaign, error) {
	if name != "win10" {
		return orchestrator.Campaign{}, fmt.Errorf("campaign %s: %w", name, errkind.NotFound)
	}
	return orchestrator.Campaign{Name: "win10", PlaybookFile: "/pb/win10-feature-update.yaml", Status: orchestrator.StatusRunning}, nil
}

func (c *campaigns) Waves(context.Context, string) ([]string, []orchestrator.WaveState, error) {
	return []string{"pilot", "rest"}, []orchestrator.WaveState{{Status: "done"}, {Status: "running"}}, nil
}

func (c *campaigns) Counts(context.Context, string) ([]orchestrator.Count, error) {
	var out []orchestrator.Count
	for _, m := range c.members {
		out = append(out, orchestrator.Count{Wave: m.Wave, Org: m.Org, State: m.State, Reason: m.Reason, Devices: 1})
	}
	return out, nil
}

func (c *campaigns) Members(_ context.Context, name string) ([]orchestrator.DeviceRecord, error) {
	out := make([]orchestrator.DeviceRecord, len(c.members))
	for i, m := range c.members {
		out[i].Member = m
	}
	return out, nil
}

func (c *campaigns) Transitions(context.Context, string, string) ([]orchestrator.Transition, error) {
	return c.transitions, nil
}

// TestFollowCampaign splits the devices by their state in a campaign and
// summarises it on the estate page.
func TestFollowCampaign(t *testing.T) {
	ctx := context.Background()
	e := newEstate(t, 200)
	cs := &campaigns{}
	states := []orchestrator.DeviceState{orchestrator.DeviceFailed, orchestrator.DeviceRunning, orchestrator.DeviceSucceeded}
	i := 0
	for d, err := range e.inv.Devices(ctx, inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		if i == 30 {
			break
		}
		st := states[i%len(states)]
		cs.members = append(cs.members, orchestrator.Member{Hostname: d.Hostname, Org: d.Org, Wave: i % 2, State: st, Reason: "disk_space"})
		if st.Final() {
			cs.transitions = append(cs.transitions, orchestrator.Transition{Campaign: "win10", Hostname: d.Hostname, To: st, At: testNow.Add(-time.Hour)})
		}
		i++
	}
	svc := e.service(t, cs)
	target := version(t, reports.DefaultTargetBuild)
	p, err := svc.Progress(ctx, reports.ProgressOptions{Selector: inventory.Everything(), Campaign: "win10", TargetBuild: target})
	if err != nil {
		t.Fatal(err)
	}
	if p.Total.Devices != 200 || p.Total.Failed == 0 || p.Total.InProgress == 0 {
		t.Errorf("progress following the campaign: %+v", p.Total)
	}
	r, err := svc.Estate(ctx, reports.EstateOptions{Selector: inventory.Everything(), Campaign: "win10", TargetBuild: target,
		SupportedBuild: version(t, reports.DefaultSupportedBuild)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Campaign == nil || r.Campaign.Devices != 30 || len(r.Campaign.Finished) != 20 {
		t.Errorf("campaign progress: %+v", r.Campaign)
	}
	if len(r.Campaigns) != 1 || r.Campaigns[0].Playbook != "win10-feature-update" || len(r.Campaigns[0].Waves) != 2 ||
		r.Campaigns[0].Waves[0].Devices+r.Campaigns[0].Waves[1].Devices != 30 {
		t.Errorf("campaign summaries: %+v", r.Campaigns)
	}
	if _, err := svc.Progress(ctx, reports.ProgressOptions{Campaign: "nope", TargetBuild: target}); err == nil {
		t.Errorf("following an unknown campaign: no error")
	}
	for _, row := range p.Rows {
		if row.Forecast != nil || row.RiskFrom == report.RiskFromForecast {
			t.Errorf("%s: a forecast %+v before any was made", row.Org, row.Forecast)
		}
	}

	// A forecast stored: each organisation it covers shows it beside its
	// progress, at risk from it; a reader of one organisation sees its
	// own, and the campaign's finish only a reader of every one.
	org := p.Rows[0].Org
	fc := forecast.Forecast{From: testNow, Runs: 20, Finish: forecast.Quantiles{P50: testNow.Add(48 * time.Hour), P90: testNow.Add(72 * time.Hour)},
		Orgs: []forecast.Org{{Org: org, Devices: 10, Finish: forecast.Quantiles{P50: testNow.Add(24 * time.Hour), Unfinished: 0.7}}}}
	if cs.forecast, err = json.Marshal(fc); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scope access.Orgs
		whole bool
	}{{access.AllOrgs(), true}, {access.NewOrgs(org), false}} {
		p, err := svc.ProgressIn(ctx, tc.scope, reports.ProgressOptions{Selector: inventory.Everything(), Campaign: "win10", TargetBuild: target})
		if err != nil {
			t.Fatal(err)
		}
		if r := p.Rows[0]; r.Forecast == nil || r.Forecast.Campaign != "win10" || !r.AtRisk || r.RiskFrom != report.RiskFromForecast {
			t.Errorf("%v: %s with a forecast: %+v, at risk %v from %q", tc.scope, r.Org, r.Forecast, r.AtRisk, r.RiskFrom)
		}
		if got := p.Total.Forecast != nil; got != tc.whole {
			t.Errorf("%v: the total's forecast %+v, want one %v", tc.scope, p.Total.Forecast, tc.whole)
		}
	}
	r, err = svc.Estate(ctx, reports.EstateOptions{Selector: inventory.Everything(), TargetBuild: target,
		SupportedBuild: version(t, reports.DefaultSupportedBuild)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Forecasts) != 1 || r.Forecasts[0].Campaign != "win10" || r.Progress.Rows[0].Forecast == nil {
		t.Errorf("the estate page without a campaign named shows the running campaign's forecast: %+v", r.Forecasts)
	}
}

// countingHistory counts the loads of the history it wraps.
type countingHistory struct {
	reports.History
	loads int
}

func (h *countingHistory) Load(ctx context.Context) ([]report.Snapshot, error) {
	h.loads++
	return h.History.Load(ctx)
}

// TestHistoryKeptWhileUnchanged: reports read the stored history once for
// as long as it is unchanged, and read it again, whole, once it changes.
func TestHistoryKeptWhileUnchanged(t *testing.T) {
	ctx := context.Background()
	e := newEstate(t, 40)
	h := &countingHistory{History: e.history}
	svc, err := reports.New(reports.Config{Inventory: e.inv, Alerts: e.alerts, History: h, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	days := func() int {
		t.Helper()
		d, err := svc.HistoryIn(ctx, access.AllOrgs(), reports.HistoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(d.Snapshots)
	}
	sn := []report.Snapshot{{Day: testNow.Truncate(24 * time.Hour), Org: report.TotalOrg, Devices: 40}}
	for i, step := range []struct {
		record    []report.Snapshot
		rows      int
		wantLoads int
	}{
		{nil, 0, 1},
		{nil, 0, 1}, // unchanged: kept
		{sn, 1, 2},
		{nil, 1, 2},
		{[]report.Snapshot{{Day: sn[0].Day.AddDate(0, 0, -1), Org: report.TotalOrg, Devices: 39}}, 2, 3},
	} {
		if step.record != nil {
			if err := e.history.Record(ctx, step.record); err != nil {
				t.Fatal(err)
			}
		}
		if n := days(); n != step.rows || h.loads != step.wantLoads {
			t.Errorf("step %d: %d snapshots after %d loads, want %d after %d", i, n, h.loads, step.rows, step.wantLoads)
		}
	}
}
