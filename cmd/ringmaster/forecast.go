package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
)

func newCampaignForecastCmd(a *app) *cobra.Command {
	var fc forecastCmd
	cmd := &cobra.Command{
		Use:   "forecast NAME",
		Short: "Forecast when each wave and organisation will finish, and who will miss the deadline",
		Long: `Forecast a campaign: its own controller replayed on a virtual clock from the
campaign's state now to its end, with its windows, blackouts, caps, soak,
approvals (assumed given --approval-delay after a wave waits for one),
deferral backoff and deadline. Each device run's duration, failure and
whether the device is reachable are drawn from what this campaign has
observed so far (per organisation once it has --min-runs runs, else the
campaign's), else from the latest earlier campaign of the same playbook,
else stated defaults; each figure says which. --runs replays give the
P10, P50 and P90 finish of the campaign, each wave and each organisation,
and the devices expected to be left failed, unreachable, not reached, or
not done by the deadline.

What if: --cap, --window, --max-concurrency, --max-failure-percent and
--deadline, as campaign set takes them, forecast the campaign as if they
were made (nothing is changed): for example a wider window or a higher cap
for an organisation that would miss the deadline.

A draft is forecast as if started now, a paused campaign as if resumed now.
A run that ends with a wave or organisation halted by its failures waits
for a person: its finish is "not finished".`,
		Example: "  ringmaster campaign forecast win10-22h2\n  ringmaster campaign forecast hsa-bluekeep --approval-delay 4h -o json\n" +
			"  ringmaster campaign forecast hsa-bluekeep --cap per_org=80 --window 'RXX=0 18 * * * for 12h'",
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			svc, err := fc.prepare(a, cmd)
			if err != nil {
				return err
			}
			f, err := svc.Forecast(ctx, argv[0], fc.o)
			if err != nil {
				return err
			}
			if fc.output == "json" {
				return json.NewEncoder(a.stdout).Encode(f)
			}
			return f.WriteTable(a.stdout, argv[0], time.UTC)
		},
	}
	fc.register(cmd)
	return cmd
}

func newAlertForecastCmd(a *app) *cobra.Command {
	var fc forecastCmd
	cmd := &cobra.Command{
		Use:   "forecast ID",
		Short: "Forecast an alert's remediation against its deadline: who will miss it, by how many devices",
		Long: `Forecast the remediation of a High Severity Alert: its latest campaign
(ringmaster alert remediate) forecast as campaign forecast does, against the
alert's deadline: which organisations are expected to miss it and how many
of their devices will not be done by then. campaign set's flags ask what a
change would do (--window ORG=SPEC, --cap per_org=N), without making it.`,
		Example: "  ringmaster alert forecast HSA-2019-0708\n  ringmaster alert forecast HSA-2019-0708 --window 'RXX=0 18 * * * for 12h'",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			svc, err := fc.prepare(a, cmd)
			if err != nil {
				return err
			}
			af, err := svc.ForecastAlert(ctx, argv[0], fc.o)
			if err != nil {
				return err
			}
			if fc.output == "json" {
				return json.NewEncoder(a.stdout).Encode(af)
			}
			fmt.Fprintf(a.stdout, "alert %s, remediated by campaign %s\n", af.Alert, af.Campaign)
			return af.Forecast.WriteTable(a.stdout, af.Campaign, time.UTC)
		},
	}
	fc.register(cmd)
	return cmd
}

// forecastCmd is what campaign forecast and alert forecast share: the
// runs' flags, campaign set's as a what-if, and the output.
type forecastCmd struct {
	o      campaigns.ForecastOptions
	sc     specChanges
	output string
}

func (fc *forecastCmd) register(cmd *cobra.Command) {
	f := cmd.Flags()
	def := campaigns.DefaultForecast
	f.IntVar(&fc.o.Runs, "runs", def.Runs, "how many replays the quantiles come from")
	f.DurationVar(&fc.o.ApprovalDelay, "approval-delay", def.ApprovalDelay, "how long a person is assumed to take to approve a wave that awaits approval")
	f.IntVar(&fc.o.MinRuns, "min-runs", def.MinRuns, "observed runs an organisation needs for its own figures")
	f.Uint64Var(&fc.o.Seed, "seed", 1, "the replays' seed: the same seed and state give the same forecast")
	fc.sc.register(f)
	outputFlag(cmd, &fc.output, "table", "table", "json")
}

// prepare checks the flags, takes the what-if changes and returns the
// campaigns service to forecast with.
func (fc *forecastCmd) prepare(a *app, cmd *cobra.Command) (*campaigns.Service, error) {
	if fc.o.Runs < 1 || fc.o.Runs > 10000 {
		return nil, usagef("--runs %d: want 1 to 10000", fc.o.Runs)
	}
	if fc.o.MinRuns < 1 {
		return nil, usagef("--min-runs %d: want 1 or more", fc.o.MinRuns)
	}
	if fc.o.ApprovalDelay < 0 {
		return nil, usagef("--approval-delay %s: want a duration of 0 or more", fc.o.ApprovalDelay)
	}
	changes, err := fc.sc.changes()
	if err != nil {
		return nil, err
	}
	fc.o.Changes = changes
	return a.campaignApp(cmd.Context())
}
