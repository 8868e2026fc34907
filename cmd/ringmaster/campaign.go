package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

func newCampaignCmd(a *app) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "campaign",
		Aliases: []string{"campaigns"},
		Short:   "Roll a playbook out in waves: create, start, pause, resume, cancel, approve, retry, continue, set, exclude, forecast",
	})
	status := func(action orchestrator.Action, short string) *cobra.Command {
		return &cobra.Command{
			Use: string(action) + " NAME", Short: short, Example: "  ringmaster campaign " + string(action) + " win10-22h2",
			Args: args(cobra.ExactArgs(1)),
			RunE: func(cmd *cobra.Command, argv []string) error {
				svc, err := a.campaignApp(cmd.Context())
				if err != nil {
					return err
				}
				to, err := svc.Act(cmd.Context(), argv[0], action)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "campaign %s is %s\n", argv[0], to)
				return nil
			},
		}
	}
	cmd.AddCommand(newCampaignCreateCmd(a), newCampaignListCmd(a), newCampaignShowCmd(a), newCampaignForecastCmd(a),
		status(orchestrator.ActionStart, "Start a created campaign (ringmaster run does the work)"),
		status(orchestrator.ActionPause, "Start nothing new; runs in flight finish"),
		status(orchestrator.ActionResume, "Resume a paused campaign"),
		status(orchestrator.ActionCancel, "Stop a campaign for good; runs in flight stop"),
		newCampaignApproveCmd(a), newCampaignRetryCmd(a), newCampaignContinueCmd(a), newCampaignSetCmd(a),
		newCampaignMoveCmd(a, false), newCampaignMoveCmd(a, true), newCampaignDevicesCmd(a))
	return cmd
}

func newCampaignCreateCmd(a *app) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Create a campaign from a YAML file (as a draft)",
		Long: `Create a campaign from a YAML file: its playbook (a built-in name or a
file) and parameters, its target selector, its waves, maintenance windows,
caps and deadline. The file is checked whole (every problem with its line),
the parameters against the playbook, and the targets are split into waves
now; nothing is stored if anything is wrong. The playbook is stored as it is
today, so editing it later does not change a campaign in progress.`,
		Example: "  ringmaster campaign create -f win10-22h2.yaml",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("give the campaign file with -f FILE")
			}
			data, err := a.fileLimit().ReadFile(file)
			if err != nil {
				return fmt.Errorf("campaign create: %w", err)
			}
			svc, err := a.campaignApp(cmd.Context())
			if err != nil {
				return err
			}
			c, err := svc.Create(cmd.Context(), file, data)
			if err != nil {
				return fmt.Errorf("campaign create: %w", err)
			}
			var parts []string
			for i, w := range c.Spec.Waves {
				parts = append(parts, fmt.Sprintf("%s %d", w.Name, c.WaveSizes[i]))
			}
			fmt.Fprintf(a.stdout, "created campaign %s (draft): %d devices; waves: %s\n", c.Spec.Name, c.Devices(), strings.Join(parts, ", "))
			if c.Unwaved > 0 {
				fmt.Fprintf(a.stdout, "%d target devices are in no wave (the waves' selectors and shares leave them out)\n", c.Unwaved)
			}
			fmt.Fprintf(a.stdout, "start it with: ringmaster campaign start %s\n", c.Spec.Name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "campaign YAML file")
	return cmd
}

func newCampaignApproveCmd(a *app) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     "approve NAME WAVE",
		Short:   "Approve a wave whose approval is manual",
		Example: "  ringmaster campaign approve win10-22h2 ring1",
		Args:    args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			svc, err := a.campaignApp(cmd.Context())
			if err != nil {
				return err
			}
			if err := svc.Approve(cmd.Context(), argv[0], argv[1], a.decision(reason)); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "approved wave %s of campaign %s\n", argv[1], argv[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record")
	return cmd
}

func newCampaignRetryCmd(a *app) *cobra.Command {
	var failed bool
	var f orchestrator.DeviceFilter
	cmd := &cobra.Command{
		Use:   "retry NAME --failed [--wave W] [--org O] [--reason R]",
		Short: "Run failed devices again, from the start",
		Example: "  ringmaster campaign retry win10-22h2 --failed\n  ringmaster campaign retry win10-22h2 --failed --reason rolled_back:0xC1900101\n" +
			"  ringmaster campaign retry win10-22h2 --failed --wave pilot --org RXX",
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if !failed {
				return usagef("say which devices to retry: --failed")
			}
			svc, err := a.campaignApp(cmd.Context())
			if err != nil {
				return err
			}
			n, err := svc.Retry(cmd.Context(), argv[0], f)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%d failed devices of campaign %s will run again\n", n, argv[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&failed, "failed", false, "retry failed devices")
	filterFlags(cmd, &f, false)
	return cmd
}

var stateColumns = []string{"pending", "queued", "running", "succeeded", "failed", "skipped", "deferred"}

// stateHeaders are the state columns' headers.
func stateHeaders() []string {
	headers := make([]string, len(stateColumns))
	for i, st := range stateColumns {
		headers[i] = strings.ToUpper(st)
	}
	return headers
}

// stateCounts are the state columns' cells for counts by state.
func stateCounts(states map[string]int) []string {
	cells := make([]string, len(stateColumns))
	for i, st := range stateColumns {
		cells[i] = fmt.Sprint(states[st])
	}
	return cells
}

func newCampaignListCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List campaigns with their devices' states",
		Example: "  ringmaster campaign list\n  ringmaster campaign list -o json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, err := a.campaignApp(cmd.Context())
			if err != nil {
				return err
			}
			sums, err := svc.List(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(a.stdout).Encode(sums)
			}
			tw := newTable(a.stdout, append([]string{"NAME", "STATUS", "DEVICES"}, stateHeaders()...)...)
			for _, c := range sums {
				row(tw, append([]string{c.Name, fmt.Sprint(c.Status), fmt.Sprint(c.Devices)}, stateCounts(c.States)...)...)
			}
			return tw.Flush()
		},
	}
	outputFlag(cmd, &output, "table", "table", "json")
	return cmd
}

func newCampaignShowCmd(a *app) *cobra.Command {
	var output, device string
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a campaign: waves, counts per state, failure reasons, and what waits and why",
		Example: "  ringmaster campaign show win10-22h2\n  ringmaster campaign show win10-22h2 -o json\n" +
			"  ringmaster campaign show win10-22h2 --device pc000001.rxx.nhs.uk",
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			svc, err := a.campaignApp(ctx)
			if err != nil {
				return err
			}
			if device != "" {
				h, err := svc.Device(ctx, argv[0], device)
				if err != nil {
					return err
				}
				a.printHistory(h)
				return nil
			}
			sh, err := svc.Show(ctx, argv[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(a.stdout).Encode(sh)
			}
			a.printShow(sh)
			return nil
		},
	}
	outputFlag(cmd, &output, "table", "table", "json")
	cmd.Flags().StringVar(&device, "device", "", "show one device's state and every transition it went through")
	return cmd
}

func (a *app) printShow(sh campaigns.Detail) {
	fmt.Fprintf(a.stdout, "campaign %s: %s\n", sh.Name, sh.Status)
	tw := newTable(a.stdout, slices.Concat([]string{"WAVE", "STATUS", "DEVICES"}, stateHeaders(), []string{"STARTED", "COMPLETED"})...)
	when := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04")
	}
	for _, w := range sh.Waves {
		row(tw, slices.Concat([]string{w.Name, fmt.Sprint(w.Status), fmt.Sprint(w.Devices)}, stateCounts(w.States), []string{when(w.Started), when(w.Completed)})...)
	}
	tw.Flush()
	for _, w := range sh.Waves {
		if w.Reason != "" {
			fmt.Fprintf(a.stdout, "wave %s %s: %s\n", w.Name, w.Status, w.Reason)
		}
	}
	if len(sh.Reasons) > 0 {
		fmt.Fprintln(a.stdout, "\nfailed or deferred, by reason:")
		for _, r := range sh.Reasons {
			fmt.Fprintf(a.stdout, "  %-40s %d\n", r.Reason, r.Devices)
		}
	}
	if len(sh.Blocked) > 0 {
		fmt.Fprintln(a.stdout, "\nwaiting:")
		for _, b := range sh.Blocked {
			who := "wave " + b.Wave
			if b.Org != "" {
				who += ", " + b.Org
			}
			until := ""
			if b.Until != nil {
				until = " until " + b.Until.UTC().Format("2006-01-02 15:04 UTC")
			}
			fmt.Fprintf(a.stdout, "  %-32s %-18s %d devices%s\n", who, b.Reason, b.Devices, until)
		}
	}
	if sh.Status == string(orchestrator.StatusRunning) && len(sh.Nodes) == 0 && !sh.NeedsPerson {
		fmt.Fprintln(a.stdout, "\nno node is running: its devices start once one does (ringmaster run)")
	}
	if len(sh.Unserved) > 0 {
		fmt.Fprintf(a.stdout, "\nwaiting for a node: no running node serves %s (ringmaster nodes; ringmaster run --serve)\n", strings.Join(sh.Unserved, ", "))
	}
	if len(sh.Held) > 0 {
		fmt.Fprintln(a.stdout, "\nheld organisations:")
		for _, h := range sh.Held {
			fmt.Fprintf(a.stdout, "  %s in wave %s: %s (%s)\n", h.Org, h.Wave, h.Reason, h.Command)
		}
	}
	if sh.NeedsPerson {
		fmt.Fprintln(a.stdout, "\nwaits for a person:")
		for _, w := range sh.Waits {
			fmt.Fprintf(a.stdout, "  %s\n    %s\n", w.What, w.Command)
		}
	}
	a.printEvents(sh.Events)
}

func (a *app) printHistory(h campaigns.History) {
	d := h.Device
	fmt.Fprintf(a.stdout, "%s in campaign %s: %s", d.Hostname, h.Campaign, d.State)
	if d.Reason != "" {
		fmt.Fprintf(a.stdout, " (%s)", d.Reason)
	}
	if d.Step != "" {
		fmt.Fprintf(a.stdout, " at step %q", d.Step)
	}
	fmt.Fprintf(a.stdout, ", attempts %d\n", d.Attempts)
	if d.Message != "" {
		fmt.Fprintf(a.stdout, "  %s\n", d.Message)
	}
	for _, t := range h.Transitions {
		reason := ""
		if t.Reason != "" {
			reason = " (" + string(t.Reason) + ")"
		}
		fmt.Fprintf(a.stdout, "  %s  %s -> %s%s  by %s\n", t.At.UTC().Format(time.RFC3339), t.From, t.To, reason, t.Cause)
	}
	if d.Accepted {
		fmt.Fprintln(a.stdout, "  its failure was accepted: it no longer counts towards a halt")
	}
	a.printEvents(h.Decisions)
}
