package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/report"
	rhtml "github.com/ringmaster-fleet/ringmaster/report/html"
	"github.com/ringmaster-fleet/ringmaster/reports"
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
			svc, err := a.reports(ctx)
			if err != nil {
				return err
			}
			sc, err := svc.Scorecard(ctx, reports.ScorecardOptions{Selector: sel, SupportedBuild: sb, Sort: sortBy})
			if errors.Is(err, reports.ErrInvalid) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			return a.writeTo(out, func(w io.Writer) error { return report.WriteScorecard(w, sc, output) })
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
			svc, err := a.reports(ctx)
			if err != nil {
				return err
			}
			list, err := svc.Compliance(ctx, sel, argv...)
			if err != nil {
				return err
			}
			return a.writeTo(out, func(w io.Writer) error {
				for i, c := range list {
					if i > 0 && output == report.FormatTable {
						fmt.Fprintln(w)
					}
					if err := report.WriteCompliance(w, c.Compliance, output); err != nil {
						return err
					}
				}
				return nil
			})
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
oldest build observation behind it.

Each organisation shows the forecast finish (P50 to P90) of that campaign,
or without --campaign of the running or paused campaign that finishes it
last, from the forecasts ringmaster run makes in the background (or
campaign forecast); AT RISK rests on that forecast where there is one,
else on the last week's pace against the campaign's deadline.`,
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
			svc, err := a.reports(ctx)
			if err != nil {
				return err
			}
			p, err := svc.Progress(ctx, reports.ProgressOptions{Selector: sel, Campaign: campaign, TargetBuild: tb, BySite: by == "site"})
			if err != nil {
				return err
			}
			err = a.writeTo(out, func(w io.Writer) error {
				if err := report.WriteProgress(w, p, output); err != nil {
					return fmt.Errorf("report progress: %w", err)
				}
				return nil
			})
			if err == nil && out != "" {
				fmt.Fprintf(a.stderr, "wrote %s\n", out)
			}
			return err
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

// htmlOptions are what the HTML report is computed over, as given by flags.
type htmlOptions struct {
	sel       inventory.Selector
	campaign  string
	target    string
	supported string
}

// The HTML format: the whole estate report, whichever report asks for it.
const (
	formatHTML       = "html"
	defaultTarget    = reports.DefaultTargetBuild
	defaultSupported = reports.DefaultSupportedBuild
)

// htmlTo writes the HTML report to out (a file written whole or not at
// all) or standard output.
func (a *app) htmlTo(ctx context.Context, out string, o htmlOptions) error {
	tb, _, err := inventory.ParseVersion(o.target)
	if err != nil {
		return usagef("--target-build %q: %v", o.target, err)
	}
	sb, _, err := inventory.ParseVersion(o.supported)
	if err != nil {
		return usagef("--supported-build %q: %v", o.supported, err)
	}
	svc, err := a.reports(ctx)
	if err != nil {
		return err
	}
	r, err := svc.Estate(ctx, reports.EstateOptions{Selector: o.sel, Campaign: o.campaign, TargetBuild: tb, SupportedBuild: sb})
	if err != nil {
		return err
	}
	err = a.writeTo(out, func(w io.Writer) error { return rhtml.Write(w, r) })
	if err == nil && out != "" {
		fmt.Fprintf(a.stderr, "wrote %s\n", out)
	}
	return err
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
			sc, err := a.snapshots(cmd.Context())
			if err != nil {
				return err
			}
			sn, err := reports.NewSnapshotter(sc)
			if err != nil {
				return err
			}
			snaps, err := sn.Once(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "recorded the %s snapshot of %s\n", a.now().UTC().Format(time.DateOnly), plural(len(snaps)-1, "organisation", "organisations"))
			return nil
		},
	}
}

// nowClock is a clock that reads a.now and waits on the wall clock.
type nowClock func() time.Time

func (c nowClock) Now() time.Time                       { return c() }
func (nowClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
