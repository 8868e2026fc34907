package reports

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/report"
	rhtml "github.com/ringmaster-fleet/ringmaster/report/html"
)

// ProgressOptions say what a progress report is computed over.
type ProgressOptions struct {
	// Selector chooses the devices counted.
	Selector inventory.Selector
	// Campaign, when not empty, splits the devices not yet migrated by
	// their state in that campaign.
	Campaign string
	// TargetBuild is the build (or later) that counts as migrated.
	TargetBuild inventory.Version
	// BySite gives a row per organisation and site.
	BySite bool
}

// Progress computes the Windows 10 migration per organisation (or site).
func (s *Service) Progress(ctx context.Context, o ProgressOptions) (report.Progress, error) {
	return s.ProgressIn(ctx, access.AllOrgs(), o)
}

// ProgressIn is Progress as a reader of orgs sees it: their organisations'
// rows and devices only (and of the campaign followed, its devices in
// them; one with none there is not found).
func (s *Service) ProgressIn(ctx context.Context, orgs access.Orgs, o ProgressOptions) (report.Progress, error) {
	sel, ok := orgs.Bound(o.Selector)
	if !ok {
		return report.Progress{}, fmt.Errorf("progress: the caller's scope covers no organisation: %w", errkind.Forbidden)
	}
	o.Selector = sel
	in, err := s.inputs(ctx, o.Campaign, orgs)
	if err != nil {
		return report.Progress{}, err
	}
	b := report.NewProgress(in.Orgs, report.ProgressOptions{TargetBuild: o.TargetBuild, Now: s.now(), BySite: o.BySite, Deadline: in.deadline})
	in.pace(b)
	report.GiveForecasts(b, in.forecasts(""))
	if err := in.Each(ctx, o.Selector, b.AddCohort); err != nil {
		return report.Progress{}, err
	}
	return b.Build(), nil
}

// ScorecardOptions say what a scorecard is computed over.
type ScorecardOptions struct {
	Selector inventory.Selector
	// SupportedBuild is the oldest Windows 10 build that counts as
	// supported.
	SupportedBuild inventory.Version
	// Sort orders the rows: org (or empty), supported, not_seen or an
	// alert id; any other is an error matching ErrInvalid.
	Sort string
}

// Scorecard computes the leadership scorecard: a row per organisation.
func (s *Service) Scorecard(ctx context.Context, o ScorecardOptions) (report.Scorecard, error) {
	return s.ScorecardIn(ctx, access.AllOrgs(), o)
}

// ScorecardIn is the Scorecard of the organisations of orgs.
func (s *Service) ScorecardIn(ctx context.Context, orgs access.Orgs, o ScorecardOptions) (report.Scorecard, error) {
	sel, ok := orgs.Bound(o.Selector)
	if !ok {
		return report.Scorecard{}, fmt.Errorf("scorecard: the caller's scope covers no organisation: %w", errkind.Forbidden)
	}
	o.Selector = sel
	in, err := s.inputs(ctx, "", orgs)
	if err != nil {
		return report.Scorecard{}, err
	}
	b := report.NewScorecard(in.Orgs, o.SupportedBuild, in.Alerts, s.now())
	b.UseHistory(in.byOrg)
	if err := in.Each(ctx, o.Selector, func(c *inventory.Cohort, _ *report.CampaignState) { b.AddCohort(c) }); err != nil {
		return report.Scorecard{}, err
	}
	sc := b.Build()
	if err := report.SortScorecard(&sc, o.Sort); err != nil {
		return report.Scorecard{}, invalidError{err}
	}
	return sc, nil
}

// AlertCompliance is an alert with the compliance computed for it.
type AlertCompliance struct {
	Alert      *alerts.Alert
	Compliance report.Compliance
}

// Compliance computes compliance per organisation with the alerts named
// by ids (every stored alert when none is named), in that order, in one
// pass over the devices sel matches. An unknown id is an error wrapping
// errkind.NotFound.
func (s *Service) Compliance(ctx context.Context, sel inventory.Selector, ids ...string) ([]AlertCompliance, error) {
	return s.ComplianceIn(ctx, access.AllOrgs(), sel, ids...)
}

// ComplianceIn is Compliance over the organisations of orgs.
func (s *Service) ComplianceIn(ctx context.Context, orgs access.Orgs, sel inventory.Selector, ids ...string) ([]AlertCompliance, error) {
	sel, ok := orgs.Bound(sel)
	if !ok {
		return nil, fmt.Errorf("alert compliance: the caller's scope covers no organisation: %w", errkind.Forbidden)
	}
	in, err := s.inputs(ctx, "", orgs)
	if err != nil {
		return nil, err
	}
	list := in.Alerts
	if len(ids) > 0 {
		list = make([]*alerts.Alert, 0, len(ids))
		for _, id := range ids {
			al, err := in.Alert(id)
			if err != nil {
				return nil, err
			}
			list = append(list, al)
		}
	}
	now := s.now()
	bs := make([]*report.ComplianceBuilder, len(list))
	for i, al := range list {
		bs[i] = report.NewCompliance(al, in.Orgs, now)
		bs[i].UseHistory(in.byOrg)
		report.GiveForecasts(bs[i], in.forecasts(al.ID))
	}
	err = in.Each(ctx, sel, func(c *inventory.Cohort, _ *report.CampaignState) {
		for _, b := range bs {
			b.AddCohort(c)
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]AlertCompliance, len(list))
	for i, al := range list {
		out[i] = AlertCompliance{Alert: al, Compliance: bs[i].Build()}
	}
	return out, nil
}

// Exposed returns the alert id and the hostnames of the devices observed
// to be exposed to it (on a build it names, without a remediating update),
// in the inventory's order. An unknown id is an error wrapping
// errkind.NotFound.
func (s *Service) Exposed(ctx context.Context, id string) (*alerts.Alert, []string, error) {
	return s.ExposedIn(ctx, access.AllOrgs(), id)
}

// ExposedIn is Exposed over the organisations of orgs: the devices of
// others are neither read nor named. A scope that covers no organisation
// has no device exposed.
func (s *Service) ExposedIn(ctx context.Context, orgs access.Orgs, id string) (*alerts.Alert, []string, error) {
	in, err := s.inputs(ctx, "", orgs)
	if err != nil {
		return nil, nil, err
	}
	al, err := in.Alert(id)
	if err != nil {
		return nil, nil, err
	}
	sel, ok := orgs.Bound(inventory.Everything())
	if !ok {
		return al, nil, nil
	}
	var exposed []string
	for d, err := range s.inv.Devices(ctx, sel) {
		if err != nil {
			return nil, nil, err
		}
		if al.Check(d) == alerts.Exposed {
			exposed = append(exposed, d.Hostname)
		}
	}
	return al, exposed, nil
}

// EstateOptions say what the whole-estate report is computed over.
type EstateOptions struct {
	Selector inventory.Selector
	// Campaign, when not empty, is followed as in ProgressOptions.
	Campaign       string
	TargetBuild    inventory.Version
	SupportedBuild inventory.Version
}

// Estate computes every report (progress per organisation and per site,
// each alert's compliance, the scorecard, every campaign's summary) in one
// pass over the devices: what the HTML page shows and the daily snapshot
// records.
func (s *Service) Estate(ctx context.Context, o EstateOptions) (rhtml.Report, error) {
	return s.EstateIn(ctx, access.AllOrgs(), o)
}

// EstateIn is the Estate page as a reader of orgs sees it: their
// organisations' rows and sites, the daily history of them alone (each
// day's total recomputed over them), and the campaigns with devices in
// them, counting those devices only (as campaigns.Service.ListIn does).
// A followed campaign with none of its devices in them is not found.
func (s *Service) EstateIn(ctx context.Context, orgs access.Orgs, o EstateOptions) (rhtml.Report, error) {
	sel, ok := orgs.Bound(o.Selector)
	if !ok {
		return rhtml.Report{}, fmt.Errorf("estate report: the caller's scope covers no organisation: %w", errkind.Forbidden)
	}
	in, err := s.inputs(ctx, o.Campaign, orgs)
	if err != nil {
		return rhtml.Report{}, err
	}
	now := s.now()
	pb := report.NewProgress(in.Orgs, report.ProgressOptions{TargetBuild: o.TargetBuild, Now: now, Deadline: in.deadline})
	in.pace(pb)
	report.GiveForecasts(pb, in.forecasts(""))
	sites := report.NewProgress(in.Orgs, report.ProgressOptions{TargetBuild: o.TargetBuild, Now: now, BySite: true})
	sc := report.NewScorecard(in.Orgs, o.SupportedBuild, in.Alerts, now)
	sc.UseHistory(in.byOrg)
	cbs := make([]*report.ComplianceBuilder, len(in.Alerts))
	for i, al := range in.Alerts {
		cbs[i] = report.NewCompliance(al, in.Orgs, now)
		cbs[i].UseHistory(in.byOrg)
		report.GiveForecasts(cbs[i], in.forecasts(al.ID))
	}
	err = in.Each(ctx, sel, func(c *inventory.Cohort, st *report.CampaignState) {
		pb.AddCohort(c, st)
		sites.AddCohort(c, st)
		sc.AddCohort(c)
		for _, cb := range cbs {
			cb.AddCohort(c)
		}
	})
	if err != nil {
		return rhtml.Report{}, err
	}
	campaigns, err := s.CampaignSummariesIn(ctx, orgs)
	if err != nil {
		return rhtml.Report{}, err
	}
	r := rhtml.Report{Title: "Ringmaster estate report", Generated: now, Progress: pb.Build(), Sites: sites.Build(), Scorecard: sc.Build(),
		History: in.History, Campaign: in.Campaign, Campaigns: campaigns, Forecasts: in.forecasts("")}
	for _, cb := range cbs {
		r.Compliance = append(r.Compliance, cb.Build())
	}
	return r, nil
}

// CampaignSummaries counts every campaign's devices per wave and state.
func (s *Service) CampaignSummaries(ctx context.Context) ([]report.CampaignSummary, error) {
	return s.CampaignSummariesIn(ctx, access.AllOrgs())
}

// CampaignSummariesIn counts the devices in orgs of each campaign per wave
// and state; a campaign with none of its devices in orgs is left out, as
// campaigns.Service.ListIn leaves it out.
func (s *Service) CampaignSummariesIn(ctx context.Context, orgs access.Orgs) ([]report.CampaignSummary, error) {
	if s.campaigns == nil {
		return nil, nil
	}
	list, err := s.campaigns.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	var out []report.CampaignSummary
	for _, c := range list {
		counts, err := s.campaigns.Counts(ctx, c.Name)
		if err != nil {
			return nil, err
		}
		if _, n := campaigns.CountStates(counts, func(k orchestrator.Count) bool { return orgs.Covers(k.Org) }); n == 0 && !orgs.All() {
			continue
		}
		names, waves, err := s.campaigns.Waves(ctx, c.Name)
		if err != nil {
			return nil, err
		}
		sum := report.CampaignSummary{Name: c.Name, Playbook: strings.TrimSuffix(filepath.Base(c.PlaybookFile), filepath.Ext(c.PlaybookFile)),
			Status: string(c.Status)}
		for i, n := range names {
			states, devices := campaigns.CountStates(counts, func(k orchestrator.Count) bool { return k.Wave == i && orgs.Covers(k.Org) })
			sum.Waves = append(sum.Waves, report.WaveSummary{Name: n, Status: string(waves[i].Status), Devices: devices, States: states})
		}
		out = append(out, sum)
	}
	return out, nil
}

// HistoryOptions say which days of the daily history are read.
type HistoryOptions struct {
	// From and To are the first and last days read (UTC dates, both
	// included). A zero To is today; a zero From is the first day
	// recorded, unless Days is set.
	From, To time.Time
	// Days, when above zero, reads the Days days up to To (From must then
	// be zero).
	Days int
}

// History reads the daily history: every organisation's figures per day,
// and the estate's total.
func (s *Service) History(ctx context.Context, o HistoryOptions) (report.Daily, error) {
	return s.HistoryIn(ctx, access.AllOrgs(), o)
}

// HistoryIn is the daily history of the organisations of orgs: their
// figures per day, and each day's total over them alone (the recorded
// total is the estate's). Days asked for wrong (a negative Days, both
// From and Days, From after To) are an error matching ErrInvalid.
func (s *Service) HistoryIn(ctx context.Context, orgs access.Orgs, o HistoryOptions) (report.Daily, error) {
	if orgs.Empty() {
		return report.Daily{}, fmt.Errorf("history: the caller's scope covers no organisation: %w", errkind.Forbidden)
	}
	to, from := o.To, o.From
	if to.IsZero() {
		to = s.now()
	}
	switch {
	case o.Days < 0:
		return report.Daily{}, invalidError{fmt.Errorf("history: %d days: want a number above zero", o.Days)}
	case o.Days > 0 && !from.IsZero():
		return report.Daily{}, invalidError{errors.New("history: a first day and a number of days: give one")}
	case o.Days > 0:
		from = to.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1-o.Days)
	}
	if !from.IsZero() && from.UTC().Truncate(24*time.Hour).After(to.UTC().Truncate(24*time.Hour)) {
		return report.Daily{}, invalidError{fmt.Errorf("history: the first day %s is after the last %s", from.UTC().Format(time.DateOnly), to.UTC().Format(time.DateOnly))}
	}
	h, err := s.historyIn(ctx, orgs)
	if err != nil {
		return report.Daily{}, err
	}
	return report.NewDaily(h, from, to), nil
}
