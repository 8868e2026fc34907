package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	asqlite "github.com/ringmaster-fleet/ringmaster/alerts/sqlite"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/sqlite"
	"github.com/ringmaster-fleet/ringmaster/report"
	rhtml "github.com/ringmaster-fleet/ringmaster/report/html"
	rsqlite "github.com/ringmaster-fleet/ringmaster/report/sqlite"
)

func newReportCmd(a *app) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "report",
		Short: "Report per organisation what the devices were observed to be",
	})
	cmd.AddCommand(newReportProgressCmd(a), newReportAlertsCmd(a), newReportScorecardCmd(a), newReportSnapshotCmd(a))
	return cmd
}

func newReportScorecardCmd(a *app) *cobra.Command {
	var selector, supported, sortBy, output, out string
	cmd := &cobra.Command{
		Use:   "scorecard [-l SELECTOR] [--sort COLUMN] [-o table|csv|json] [--out FILE]",
		Short: "One row per organisation: % on supported Windows 10, % compliant with each alert, devices not seen for 30 days",
		Long: `The leadership scorecard: per organisation and for the nation, the share of
devices observed on a supported Windows 10 build, the share of affected
devices compliant with each alert, and the devices not seen alive for 30
days, each row with the date of the oldest observation behind it.`,
		Example: "  ringmaster report scorecard\n  ringmaster report scorecard --sort supported -o csv --out scorecard.csv",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			sel, err := parseSelector(selector)
			if err != nil {
				return err
			}
			if output == formatHTML {
				return a.htmlTo(ctx, out, htmlOptions{sel: sel, target: defaultTarget, supported: supported})
			}
			sb, _, err := inventory.ParseVersion(supported)
			if err != nil {
				return usagef("--supported-build %q: %v", supported, err)
			}
			in, err := a.reportInputs(ctx, "")
			if err != nil {
				return err
			}
			b := report.NewScorecard(in.orgs, sb, in.alerts, a.now())
			b.UseHistory(in.history)
			if err := in.each(ctx, sel, func(c *inventory.Cohort, _ *report.CampaignState) { b.AddCohort(c) }); err != nil {
				return err
			}
			sc := b.Build()
			if err := report.SortScorecard(&sc, sortBy); err != nil {
				return usageError{err}
			}
			w, err := a.createOutput(out)
			if err != nil {
				return err
			}
			defer w.Abort()
			if err := report.WriteScorecard(w, sc, output); err != nil {
				return err
			}
			return w.Commit()
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "only devices matching this selector")
	cmd.Flags().StringVar(&supported, "supported-build", defaultSupported, "the oldest Windows 10 build that counts as supported")
	cmd.Flags().StringVar(&sortBy, "sort", "org", "order rows by org, supported (worst first), not_seen (most first) or an alert id (least compliant first)")
	outputFlag(cmd, &output, report.FormatTable, report.FormatTable, report.FormatCSV, report.FormatJSON, formatHTML)
	reportCSVFlag(cmd, &output)
	cmd.Flags().StringVar(&out, "out", "", "write to this file (whole or not at all) instead of standard output")
	return cmd
}

func newReportAlertsCmd(a *app) *cobra.Command {
	var selector, output, out string
	cmd := &cobra.Command{
		Use:   "alerts [ID ...] [-l SELECTOR] [-o table|csv|json] [--out FILE]",
		Short: "Compliance per organisation with each alert (or those named): compliant, exposed, overdue, at risk",
		Long: `Compliance per organisation with High Severity Alerts, from the builds and
updates devices were observed to have: compliant (a remediating update, or
a later one that supersedes it), exposed, overdue (exposed after the
deadline), unknown (never observed: counted apart, never as compliant),
and at risk (exposed devices the last week's pace of remediation will not
finish by the deadline; without a week of history, exposed with the
deadline passed or under a week away).
Every row says how fresh it is: the oldest observation of updates behind it.`,
		Example: "  ringmaster report alerts\n  ringmaster report alerts HSA-2019-0042 -o csv --out dejablue.csv",
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			sel, err := parseSelector(selector)
			if err != nil {
				return err
			}
			if output == formatHTML {
				return a.htmlTo(ctx, out, htmlOptions{sel: sel, target: defaultTarget, supported: defaultSupported})
			}
			in, err := a.reportInputs(ctx, "")
			if err != nil {
				return err
			}
			list := in.alerts
			if len(argv) > 0 {
				list = nil
				for _, id := range argv {
					al, err := in.alert(id)
					if err != nil {
						return err
					}
					list = append(list, al)
				}
			}
			w, err := a.createOutput(out)
			if err != nil {
				return err
			}
			defer w.Abort()
			for i, al := range list {
				c, _, err := a.compliance(ctx, in, al, sel, false)
				if err != nil {
					return err
				}
				if i > 0 && output == report.FormatTable {
					fmt.Fprintln(w)
				}
				if err := report.WriteCompliance(w, c, output); err != nil {
					return err
				}
			}
			return w.Commit()
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "only devices matching this selector")
	outputFlag(cmd, &output, report.FormatTable, report.FormatTable, report.FormatCSV, report.FormatJSON, formatHTML)
	reportCSVFlag(cmd, &output)
	cmd.Flags().StringVar(&out, "out", "", "write to this file (whole or not at all) instead of standard output")
	return cmd
}

func newReportProgressCmd(a *app) *cobra.Command {
	var (
		selector, campaign, target, output, out, by string
	)
	cmd := &cobra.Command{
		Use:   "progress [-l SELECTOR] [--campaign NAME] [-o table|csv|json] [--out FILE]",
		Short: "Windows 10 migration per organisation: on the target build, in progress, failed, deferred, ineligible, not started",
		Long: `Windows 10 migration per organisation. A device counts as migrated when it
was observed on the target build or later, never because a job exited 0.
With --campaign, devices not yet migrated are split by how they stand in
that campaign (in progress, failed with its commonest reasons, deferred,
ineligible, not started). Every row says how fresh it is: the date of the
oldest build observation behind it.`,
		Example: "  ringmaster report progress\n  ringmaster report progress --campaign win10-22h2 -o csv --out progress.csv\n" +
			"  ringmaster report progress -l 'org in (RXX,RYY)' -o json",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			sel, err := parseSelector(selector)
			if err != nil {
				return err
			}
			if by != "org" && by != "site" {
				return usagef("--by %q: want org or site", by)
			}
			if output == formatHTML {
				return a.htmlTo(ctx, out, htmlOptions{sel: sel, campaign: campaign, target: target, supported: defaultSupported})
			}
			tb, _, err := inventory.ParseVersion(target)
			if err != nil {
				return usagef("--target-build %q: %v", target, err)
			}
			in, err := a.reportInputs(ctx, campaign)
			if err != nil {
				return err
			}
			b := report.NewProgress(in.orgs, report.ProgressOptions{TargetBuild: tb, Now: a.now(), BySite: by == "site"})
			in.pace(b)
			if err := in.each(ctx, sel, b.AddCohort); err != nil {
				return err
			}
			w, err := a.createOutput(out)
			if err != nil {
				return err
			}
			defer w.Abort()
			if err := report.WriteProgress(w, b.Build(), output); err != nil {
				return fmt.Errorf("report progress: %w", err)
			}
			if err := w.Commit(); err != nil {
				return err
			}
			if out != "" {
				fmt.Fprintf(a.stderr, "wrote %s\n", out)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "only devices matching this selector")
	cmd.Flags().StringVar(&campaign, "campaign", "", "split devices not yet migrated by their state in this campaign")
	cmd.Flags().StringVar(&by, "by", "org", "a row per org, or per org and site")
	cmd.Flags().StringVar(&target, "target-build", defaultTarget, "the build (or later) that counts as migrated")
	outputFlag(cmd, &output, report.FormatTable, report.FormatTable, report.FormatCSV, report.FormatJSON, formatHTML)
	reportCSVFlag(cmd, &output)
	cmd.Flags().StringVar(&out, "out", "", "write to this file (whole or not at all) instead of standard output")
	return cmd
}

// htmlOptions are what the HTML report is computed over.
type htmlOptions struct {
	sel       inventory.Selector
	campaign  string
	target    string
	supported string
}

// writeHTML computes every report (progress, each alert's compliance, the
// scorecard) in one pass over the devices and writes the HTML page.
func (a *app) writeHTML(ctx context.Context, w io.Writer, o htmlOptions) error {
	r, err := a.estateReports(ctx, o)
	if err != nil {
		return err
	}
	return rhtml.Write(w, r)
}

// estateReports computes every report in one pass over the devices.
func (a *app) estateReports(ctx context.Context, o htmlOptions) (rhtml.Report, error) {
	tb, _, err := inventory.ParseVersion(o.target)
	if err != nil {
		return rhtml.Report{}, usagef("--target-build %q: %v", o.target, err)
	}
	sb, _, err := inventory.ParseVersion(o.supported)
	if err != nil {
		return rhtml.Report{}, usagef("--supported-build %q: %v", o.supported, err)
	}
	in, err := a.reportInputs(ctx, o.campaign)
	if err != nil {
		return rhtml.Report{}, err
	}
	now := a.now()
	pb := report.NewProgress(in.orgs, report.ProgressOptions{TargetBuild: tb, Now: now})
	in.pace(pb)
	sites := report.NewProgress(in.orgs, report.ProgressOptions{TargetBuild: tb, Now: now, BySite: true})
	sc := report.NewScorecard(in.orgs, sb, in.alerts, now)
	sc.UseHistory(in.history)
	cbs := make([]*report.ComplianceBuilder, len(in.alerts))
	for i, al := range in.alerts {
		cbs[i] = report.NewCompliance(al, in.orgs, now)
		cbs[i].UseHistory(in.history)
	}
	err = in.each(ctx, o.sel, func(c *inventory.Cohort, st *report.CampaignState) {
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
	campaigns, err := a.campaignSummaries(ctx)
	if err != nil {
		return rhtml.Report{}, err
	}
	r := rhtml.Report{Title: "Ringmaster estate report", Generated: now, Progress: pb.Build(), Sites: sites.Build(), Scorecard: sc.Build(),
		History: in.history, Campaign: in.campaign, Campaigns: campaigns}
	for _, cb := range cbs {
		r.Compliance = append(r.Compliance, cb.Build())
	}
	return r, nil
}

// campaignSummaries counts every campaign's devices per wave and state.
func (a *app) campaignSummaries(ctx context.Context) ([]report.CampaignSummary, error) {
	cs, err := a.campaigns(ctx)
	if err != nil {
		return nil, err
	}
	list, err := cs.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	var out []report.CampaignSummary
	for _, c := range list {
		names, waves, err := cs.Waves(ctx, c.Name)
		if err != nil {
			return nil, err
		}
		counts, err := cs.StateCounts(ctx, c.Name)
		if err != nil {
			return nil, err
		}
		sum := report.CampaignSummary{Name: c.Name, Playbook: strings.TrimSuffix(filepath.Base(c.PlaybookFile), filepath.Ext(c.PlaybookFile)),
			Status: string(c.Status)}
		for i, n := range names {
			sum.Waves = append(sum.Waves, report.WaveSummary{Name: n, Status: string(waves[i].Status), States: map[string]int{}})
		}
		for _, k := range counts {
			if k.Wave >= 0 && k.Wave < len(sum.Waves) {
				sum.Waves[k.Wave].States[string(k.State)] += k.Devices
				sum.Waves[k.Wave].Devices += k.Devices
			}
		}
		out = append(out, sum)
	}
	return out, nil
}

// snapshot records today's figures of the whole estate in the daily
// history (replacing any taken earlier today).
func (a *app) snapshot(ctx context.Context) ([]report.Snapshot, error) {
	r, err := a.estateReports(ctx, htmlOptions{sel: inventory.Everything(), target: defaultTarget, supported: defaultSupported})
	if err != nil {
		return nil, err
	}
	h, err := a.history(ctx)
	if err != nil {
		return nil, err
	}
	snaps := report.Snapshots(a.now(), r.Progress, r.Scorecard, r.Compliance)
	if err := h.Record(ctx, snaps); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return snaps, nil
}

func newReportSnapshotCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "snapshot",
		Short: "Record today's figures per organisation in the daily history (burn-down, pace, days to patch)",
		Long: `Record today's figures of the whole estate, per organisation: devices, on the
target build, on a supported Windows 10, and each alert's affected and
compliant devices. One snapshot is kept per day (a later one the same day
replaces it); burn-down charts, the pace that decides whether an
organisation is at risk, and the median days from alert to patch are drawn
from them. ringmaster run takes one every hour; run this from cron where
no scheduler runs.`,
		Example: "  ringmaster report snapshot",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			snaps, err := a.snapshot(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "recorded the %s snapshot of %s\n", a.now().UTC().Format(time.DateOnly), plural(len(snaps)-1, "organisation", "organisations"))
			return nil
		},
	}
}

// history opens the reports' daily history.
func (a *app) history(ctx context.Context) (*rsqlite.Store, error) {
	s, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	return rsqlite.Open(ctx, s.DB(), a.now)
}

// The HTML format: the whole estate report, whichever report asks for it.
const (
	formatHTML       = "html"
	defaultTarget    = "10.0.19045"
	defaultSupported = "10.0.19044"
)

// htmlTo writes the HTML report to out (a file written whole or not at
// all) or standard output.
func (a *app) htmlTo(ctx context.Context, out string, o htmlOptions) error {
	w, err := a.createOutput(out)
	if err != nil {
		return err
	}
	defer w.Abort()
	if err := a.writeHTML(ctx, w, o); err != nil {
		return err
	}
	if err := w.Commit(); err != nil {
		return err
	}
	if out != "" {
		fmt.Fprintf(a.stderr, "wrote %s\n", out)
	}
	return nil
}

// each calls f for what the reports count: cohorts of devices alike from
// the inventory's rollup or, when a campaign is followed, every device (a
// cohort of one) with its state in the campaign.
func (in *reportInputs) each(ctx context.Context, sel inventory.Selector, f func(*inventory.Cohort, *report.CampaignState)) error {
	if !in.followed {
		for c, err := range in.store.Cohorts(ctx, sel) {
			if err != nil {
				return err
			}
			f(&c, nil)
		}
		return nil
	}
	for d, err := range in.store.Devices(ctx, sel) {
		if err != nil {
			return err
		}
		c := inventory.CohortOf(d)
		f(&c, in.states[d.Hostname])
	}
	return nil
}

// reportInputs is what every report reads besides the devices: the
// organisations, the alerts, and, when following a campaign, each device's
// state in it and the campaign's pace.
type reportInputs struct {
	store  *sqlite.Store
	orgs   []inventory.Organisation
	alerts []*alerts.Alert
	states map[string]*report.CampaignState
	pace   func(*report.ProgressBuilder)
	// followed is set when a campaign is followed: devices are then
	// counted one by one, with their state in it.
	followed bool
	history  []report.Snapshot
	campaign *report.CampaignProgress // the campaign followed, over time
}

func (a *app) reportInputs(ctx context.Context, campaign string) (*reportInputs, error) {
	s, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	in := &reportInputs{store: s, states: map[string]*report.CampaignState{}, pace: func(*report.ProgressBuilder) {}}
	if in.orgs, err = s.Organisations(ctx); err != nil {
		return nil, err
	}
	as, err := a.alerts(ctx)
	if err != nil {
		return nil, err
	}
	if in.alerts, err = as.List(ctx); err != nil {
		return nil, err
	}
	if err := watchAlerts(ctx, s, in.alerts...); err != nil {
		return nil, err
	}
	hs, err := a.history(ctx)
	if err != nil {
		return nil, err
	}
	if in.history, err = hs.Load(ctx); err != nil {
		return nil, err
	}
	if campaign == "" {
		return in, nil
	}
	in.followed = true
	cs, err := a.campaigns(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := cs.Campaign(ctx, campaign); err != nil {
		return nil, err
	}
	ms, err := cs.Members(ctx, campaign)
	if err != nil {
		return nil, err
	}
	org := make(map[string]string, len(ms))
	for _, m := range ms {
		in.states[m.Hostname] = &report.CampaignState{State: string(m.State), Reason: string(m.Reason)}
		org[m.Hostname] = m.Org
	}
	// The pace: the campaign's transitions into final states.
	tr, err := cs.Transitions(ctx, campaign, "")
	if err != nil {
		return nil, err
	}
	in.pace = func(b *report.ProgressBuilder) {
		for _, t := range tr {
			if t.To.Final() {
				b.Finished(org[t.Hostname], t.At)
			}
		}
	}
	// Its burn-down: when each device now final last became so.
	final := map[string]time.Time{}
	for _, t := range tr {
		if t.To.Final() {
			final[t.Hostname] = t.At
		}
	}
	cp := &report.CampaignProgress{Name: campaign, Devices: len(ms)}
	for _, m := range ms {
		if at, ok := final[m.Hostname]; ok && m.State.Final() {
			cp.Finished = append(cp.Finished, at)
		}
	}
	in.campaign = cp
	return in, nil
}

// alert returns the stored alert id.
func (in *reportInputs) alert(id string) (*alerts.Alert, error) {
	for _, al := range in.alerts {
		if al.ID == id {
			return al, nil
		}
	}
	return nil, fmt.Errorf("alert %s: %w", id, asqlite.ErrNotFound)
}

// watchAlerts makes sure the inventory's rollup counts the updates the
// alerts look for: a no-op when it already does, as alert add watches them
// when it stores the alert; it mends a database where an earlier version
// stored an alert without.
func watchAlerts(ctx context.Context, s *sqlite.Store, as ...*alerts.Alert) error {
	var kbs []string
	for _, al := range as {
		kbs = append(kbs, al.KBs()...)
	}
	if _, err := s.WatchKBs(ctx, kbs); err != nil {
		return fmt.Errorf("watch the updates alerts name: %w", err)
	}
	return nil
}
