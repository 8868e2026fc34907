package reports_test

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/report"
	"github.com/ringmaster-fleet/ringmaster/reports"
)

// scopedEstate is a generated estate of four organisations with an alert,
// two days of recorded history, and a campaign over ten devices of each
// of the first two organisations only.
func scopedEstate(t *testing.T) (*estate, *reports.Service, []string, *campaigns) {
	t.Helper()
	ctx := context.Background()
	e := newEstate(t, 400)
	e.addAlert(t, true)
	os, err := e.inv.Organisations(ctx)
	if err != nil || len(os) != 4 {
		t.Fatalf("organisations: %v, %v", os, err)
	}
	var codes []string
	for _, o := range os {
		codes = append(codes, o.Code)
	}
	cs := &campaigns{}
	per := map[string]int{}
	for d, err := range e.inv.Devices(ctx, inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		if (d.Org != codes[0] && d.Org != codes[1]) || per[d.Org] == 10 {
			continue
		}
		st := orchestrator.DeviceFailed
		if per[d.Org]%2 == 0 {
			st = orchestrator.DeviceSucceeded
		}
		cs.members = append(cs.members, orchestrator.Member{Hostname: d.Hostname, Org: d.Org, Wave: per[d.Org] % 2, State: st})
		cs.transitions = append(cs.transitions, orchestrator.Transition{Campaign: "win10", Hostname: d.Hostname, To: st, At: testNow.Add(-time.Hour)})
		per[d.Org]++
	}
	svc := e.service(t, cs)
	full, err := svc.Estate(ctx, reports.EstateOptions{Selector: inventory.Everything(), TargetBuild: version(t, reports.DefaultTargetBuild),
		SupportedBuild: version(t, reports.DefaultSupportedBuild)})
	if err != nil {
		t.Fatal(err)
	}
	for _, day := range []time.Time{testNow.AddDate(0, 0, -1), testNow} {
		if err := e.history.Record(ctx, report.Snapshots(day, full.Progress, full.Scorecard, full.Compliance)); err != nil {
			t.Fatal(err)
		}
	}
	return e, svc, codes, cs
}

// TestEstateInAndHistoryIn: what a reader bounded to some organisations
// gets of the estate page and the daily history holds their rows alone,
// totals over them alone, and the campaigns with devices among them,
// counting those devices only.
func TestEstateInAndHistoryIn(t *testing.T) {
	ctx := context.Background()
	e, svc, codes, cs := scopedEstate(t)
	a, b, c := codes[0], codes[1], codes[2]
	for _, tc := range []struct {
		name      string
		orgs      access.Orgs
		campaign  int // the campaign's devices seen; 0: the campaign is not listed
		forbidden bool
	}{
		{"estate", access.AllOrgs(), 20, false},
		{"one organisation in the campaign", access.NewOrgs(a), 10, false},
		{"two in it", access.NewOrgs(a, b), 20, false},
		{"one in it, one not", access.NewOrgs(b, c), 10, false},
		{"one not in it", access.NewOrgs(c), 0, false},
		{"none", access.NewOrgs(), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			covered := func(org string) bool { return org == report.TotalOrg || tc.orgs.Covers(org) }
			wantDevices := 0
			for _, code := range codes {
				if tc.orgs.Covers(code) {
					wantDevices += e.count(t, selector(t, "org="+code))
				}
			}
			r, err := svc.EstateIn(ctx, tc.orgs, reports.EstateOptions{Selector: inventory.Everything(),
				TargetBuild: version(t, reports.DefaultTargetBuild), SupportedBuild: version(t, reports.DefaultSupportedBuild)})
			h, herr := svc.HistoryIn(ctx, tc.orgs, reports.HistoryOptions{})
			if tc.forbidden {
				if !errors.Is(err, errkind.Forbidden) || !errors.Is(herr, errkind.Forbidden) {
					t.Fatalf("EstateIn: %v; HistoryIn: %v; want both forbidden", err, herr)
				}
				return
			}
			if err != nil || herr != nil {
				t.Fatalf("EstateIn: %v; HistoryIn: %v", err, herr)
			}
			var orgsSeen []string
			for _, rows := range [][]report.ProgressRow{r.Progress.Rows, r.Sites.Rows} {
				for _, row := range rows {
					orgsSeen = append(orgsSeen, row.Org)
				}
			}
			for _, row := range r.Scorecard.Rows {
				orgsSeen = append(orgsSeen, row.Org)
			}
			for _, cp := range r.Compliance {
				for _, row := range cp.Rows {
					orgsSeen = append(orgsSeen, row.Org)
				}
			}
			for _, s := range slices.Concat(r.History, h.Snapshots) {
				orgsSeen = append(orgsSeen, s.Org)
			}
			if i := slices.IndexFunc(orgsSeen, func(o string) bool { return !covered(o) }); i >= 0 {
				t.Errorf("the report names %s, outside the scope", orgsSeen[i])
			}
			if r.Progress.Total.Devices != wantDevices || r.Scorecard.Total.Devices != wantDevices {
				t.Errorf("totals: progress %d, scorecard %d devices; want %d", r.Progress.Total.Devices, r.Scorecard.Total.Devices, wantDevices)
			}
			// Each day's total is the sum of the organisations in scope:
			// today's is what the page counts now.
			if !reflect.DeepEqual(h.Snapshots, r.History) || len(h.Snapshots) == 0 {
				t.Fatalf("HistoryIn and the page's history differ, or are empty: %d and %d snapshots", len(h.Snapshots), len(r.History))
			}
			totals := report.HistoryOf(h.Snapshots, report.TotalOrg)
			if len(totals) != 2 || totals[1].Devices != wantDevices || totals[0].Devices != wantDevices {
				t.Errorf("history totals %+v, want %d devices on each of 2 days", totals, wantDevices)
			}
			var got int
			for _, s := range r.Campaigns {
				for _, w := range s.Waves {
					got += w.Devices
				}
			}
			if (tc.campaign == 0) != (len(r.Campaigns) == 0) || got != tc.campaign {
				t.Errorf("campaigns %+v: %d devices, want %d", r.Campaigns, got, tc.campaign)
			}
			_, err = svc.EstateIn(ctx, tc.orgs, reports.EstateOptions{Campaign: "win10", TargetBuild: version(t, reports.DefaultTargetBuild)})
			if tc.campaign == 0 && !errors.Is(err, errkind.NotFound) || tc.campaign > 0 && err != nil {
				t.Errorf("following the campaign: %v", err)
			}
		})
	}
	if n := len(cs.members); n != 20 {
		t.Fatalf("the campaign has %d devices, want 20", n)
	}
}

// TestHistoryInDays reads spans of the history and refuses spans that
// are not.
func TestHistoryInDays(t *testing.T) {
	ctx := context.Background()
	_, svc, codes, _ := scopedEstate(t)
	orgs := access.NewOrgs(codes[3])
	today, yesterday := testNow.Truncate(24*time.Hour), testNow.Truncate(24*time.Hour).AddDate(0, 0, -1)
	for _, tc := range []struct {
		name    string
		o       reports.HistoryOptions
		days    []time.Time
		invalid bool
	}{
		{"all", reports.HistoryOptions{}, []time.Time{yesterday, today}, false},
		{"last day", reports.HistoryOptions{Days: 1}, []time.Time{today}, false},
		{"two days to yesterday", reports.HistoryOptions{Days: 2, To: yesterday}, []time.Time{yesterday}, false},
		{"from today", reports.HistoryOptions{From: today}, []time.Time{today}, false},
		{"to yesterday", reports.HistoryOptions{To: yesterday.Add(time.Hour)}, []time.Time{yesterday}, false},
		{"negative days", reports.HistoryOptions{Days: -1}, nil, true},
		{"from and days", reports.HistoryOptions{From: yesterday, Days: 2}, nil, true},
		{"from after to", reports.HistoryOptions{From: today, To: yesterday}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := svc.HistoryIn(ctx, orgs, tc.o)
			if tc.invalid {
				if !errors.Is(err, reports.ErrInvalid) {
					t.Fatalf("got %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			days := map[time.Time]bool{}
			for _, s := range h.Snapshots {
				days[s.Day] = true
				if s.Org != codes[3] && s.Org != report.TotalOrg {
					t.Errorf("snapshot of %s, outside the scope", s.Org)
				}
			}
			if got := slices.SortedFunc(maps.Keys(days), time.Time.Compare); !slices.Equal(got, tc.days) {
				t.Errorf("days %v, want %v", got, tc.days)
			}
			if len(h.Alerts) != 1 {
				t.Errorf("alerts %v, want the one stored", h.Alerts)
			}
		})
	}
}
