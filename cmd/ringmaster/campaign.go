package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	osqlite "github.com/ringmaster-fleet/ringmaster/orchestrator/sqlite"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
)

// campaigns opens the campaign store in the inventory's database.
func (a *app) campaigns(ctx context.Context) (*osqlite.Store, error) {
	s, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	return osqlite.Open(ctx, s.DB(), a.now)
}

// campaignApp is the campaigns application over this database.
func (a *app) campaignApp(ctx context.Context) (*campaigns.Service, error) {
	s, err := a.campaigns(ctx)
	if err != nil {
		return nil, err
	}
	return campaigns.New(campaigns.Config{Store: s, Inventory: inventoryAdapter{a}, Playbooks: a.playbookSource, Now: a.now}), nil
}

// inventoryAdapter gives the scheduler and the campaigns application what
// they read of the inventory.
type inventoryAdapter struct{ a *app }

func (i inventoryAdapter) Devices(ctx context.Context, sel inventory.Selector) iter.Seq2[*inventory.Device, error] {
	s, err := i.a.open(ctx)
	if err != nil {
		return func(yield func(*inventory.Device, error) bool) { yield(nil, err) }
	}
	return s.Devices(ctx, sel)
}

func (i inventoryAdapter) TimeZones(ctx context.Context) (map[string]string, error) {
	s, err := i.a.open(ctx)
	if err != nil {
		return nil, err
	}
	orgs, err := s.Organisations(ctx)
	out := map[string]string{}
	for _, o := range orgs {
		out[o.Code] = o.TimeZone
	}
	return out, err
}

func (i inventoryAdapter) LastSeen(ctx context.Context, hosts []string) (map[string]time.Time, error) {
	s, err := i.a.open(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for _, h := range hosts {
		d, err := s.Device(ctx, h)
		if errors.Is(err, inventory.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[h] = d.LastSeen
	}
	return out, nil
}

// playbookSource reads a playbook file, or a built-in one by name when no
// such file exists, as loadPlaybook does.
func (a *app) playbookSource(ref string) (string, []byte, error) {
	data, err := a.fileLimit().ReadFile(ref)
	if errors.Is(err, fs.ErrNotExist) && !strings.ContainsAny(ref, `/\.`) {
		src, err := builtin.Source(ref)
		return "builtin/" + ref + ".yaml", src, err
	}
	return ref, data, err
}

func newCampaignCmd(a *app) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "campaign",
		Aliases: []string{"campaigns"},
		Short:   "Roll a playbook out in waves: create, start, pause, resume, cancel, approve, retry",
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
	cmd.AddCommand(newCampaignCreateCmd(a), newCampaignListCmd(a), newCampaignShowCmd(a),
		status(orchestrator.ActionStart, "Start a created campaign (ringmaster run does the work)"),
		status(orchestrator.ActionPause, "Start nothing new; runs in flight finish"),
		status(orchestrator.ActionResume, "Resume a paused campaign"),
		status(orchestrator.ActionCancel, "Stop a campaign for good; runs in flight stop"),
		newCampaignApproveCmd(a), newCampaignRetryCmd(a))
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
	return &cobra.Command{
		Use:     "approve NAME WAVE",
		Short:   "Approve a wave whose approval is manual",
		Example: "  ringmaster campaign approve win10-22h2 ring1",
		Args:    args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			svc, err := a.campaignApp(cmd.Context())
			if err != nil {
				return err
			}
			if err := svc.Approve(cmd.Context(), argv[0], argv[1]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "approved wave %s of campaign %s\n", argv[1], argv[0])
			return nil
		},
	}
}

func newCampaignRetryCmd(a *app) *cobra.Command {
	var failed bool
	var reason string
	cmd := &cobra.Command{
		Use:     "retry NAME --failed [--reason R]",
		Short:   "Run failed devices again, from the start",
		Example: "  ringmaster campaign retry win10-22h2 --failed\n  ringmaster campaign retry win10-22h2 --failed --reason rolled_back:0xC1900101",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if !failed {
				return usagef("say which devices to retry: --failed")
			}
			svc, err := a.campaignApp(cmd.Context())
			if err != nil {
				return err
			}
			n, err := svc.Retry(cmd.Context(), argv[0], orchestrator.Reason(reason))
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%d failed devices of campaign %s will run again\n", n, argv[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&failed, "failed", false, "retry failed devices")
	cmd.Flags().StringVar(&reason, "reason", "", "only those that failed with this reason")
	return cmd
}

// campaignSummary is a campaign's counts, as list and show print them.
type campaignSummary struct {
	Name    string         `json:"name"`
	Status  string         `json:"status"`
	Devices int            `json:"devices"`
	States  map[string]int `json:"states"`
	Created time.Time      `json:"created_at"`
}

func countStates(ms []orchestrator.DeviceRecord) map[string]int {
	out := map[string]int{}
	for _, st := range []orchestrator.DeviceState{orchestrator.DevicePending, orchestrator.DeviceQueued, orchestrator.DeviceRunning,
		orchestrator.DeviceSucceeded, orchestrator.DeviceFailed, orchestrator.DeviceSkipped, orchestrator.DeviceDeferred} {
		out[string(st)] = 0
	}
	for _, m := range ms {
		out[string(m.State)]++
	}
	return out
}

var stateColumns = []string{"pending", "queued", "running", "succeeded", "failed", "skipped", "deferred"}

func newCampaignListCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List campaigns with their devices' states",
		Example: "  ringmaster campaign list\n  ringmaster campaign list -o json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.campaigns(cmd.Context())
			if err != nil {
				return err
			}
			cs, err := s.Campaigns(cmd.Context())
			if err != nil {
				return err
			}
			sums := make([]campaignSummary, 0, len(cs))
			for _, c := range cs {
				ms, err := s.Members(cmd.Context(), c.Name)
				if err != nil {
					return err
				}
				sums = append(sums, campaignSummary{Name: c.Name, Status: string(c.Status), Devices: len(ms), States: countStates(ms), Created: c.CreatedAt})
			}
			if output == "json" {
				return json.NewEncoder(a.stdout).Encode(sums)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "NAME\tSTATUS\tDEVICES\t%s\n", strings.ToUpper(strings.Join(stateColumns, "\t")))
			for _, c := range sums {
				fmt.Fprintf(tw, "%s\t%s\t%d", c.Name, c.Status, c.Devices)
				for _, st := range stateColumns {
					fmt.Fprintf(tw, "\t%d", c.States[st])
				}
				fmt.Fprintln(tw)
			}
			return tw.Flush()
		},
	}
	outputFlag(cmd, &output, "table", "table", "json")
	return cmd
}

// campaignShow is what show prints.
type campaignShow struct {
	Name    string         `json:"name"`
	Status  string         `json:"status"`
	Waves   []waveShow     `json:"waves"`
	Reasons []reasonCount  `json:"failure_reasons"`
	Blocked []blockShow    `json:"blocked"`
	States  map[string]int `json:"states"`
	WakeAt  *time.Time     `json:"wake_at"`
	// NeedsPerson: it can go no further until someone retries, approves
	// or cancels (a halt, an approval, a window that never opens again);
	// WaitsFor says what waits and the command that moves it on.
	NeedsPerson bool   `json:"needs_person"`
	WaitsFor    string `json:"waits_for"`
}

type waveShow struct {
	Name      string         `json:"name"`
	Status    string         `json:"status"`
	Devices   int            `json:"devices"`
	States    map[string]int `json:"states"`
	Started   *time.Time     `json:"started_at"`
	Completed *time.Time     `json:"completed_at"`
	Reason    string         `json:"reason"`
}

type reasonCount struct {
	Reason  string `json:"reason"`
	Devices int    `json:"devices"`
}

type blockShow struct {
	Wave    string     `json:"wave"`
	Org     string     `json:"org"`
	Reason  string     `json:"reason"`
	Devices int        `json:"devices"`
	Until   *time.Time `json:"until"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
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
			s, err := a.campaigns(ctx)
			if err != nil {
				return err
			}
			if device != "" {
				return a.showDevice(ctx, s, argv[0], device)
			}
			c, err := s.Campaign(ctx, argv[0])
			if err != nil {
				return err
			}
			sh, err := a.describe(ctx, s, c)
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

// describe gathers what show prints; what waits and why comes from the
// controller itself, deciding on the current state without applying it.
func (a *app) describe(ctx context.Context, s *osqlite.Store, c orchestrator.Campaign) (campaignShow, error) {
	names, waves, err := s.Waves(ctx, c.Name)
	if err != nil {
		return campaignShow{}, err
	}
	ms, err := s.Members(ctx, c.Name)
	if err != nil {
		return campaignShow{}, err
	}
	sh := campaignShow{Name: c.Name, Status: string(c.Status), States: countStates(ms), WakeAt: timePtr(c.WakeAt),
		Reasons: []reasonCount{}, Blocked: []blockShow{}}
	reasons := map[string]int{}
	for i, n := range names {
		var in []orchestrator.DeviceRecord
		for _, m := range ms {
			if m.Wave == i {
				in = append(in, m)
			}
		}
		sh.Waves = append(sh.Waves, waveShow{Name: n, Status: string(waves[i].Status), Devices: len(in), States: countStates(in),
			Started: timePtr(waves[i].Started), Completed: timePtr(waves[i].Completed), Reason: waves[i].Reason})
	}
	for _, m := range ms {
		if m.State == orchestrator.DeviceFailed || m.State == orchestrator.DeviceDeferred {
			reasons[string(m.Reason)]++
		}
	}
	for r, n := range reasons {
		sh.Reasons = append(sh.Reasons, reasonCount{r, n})
	}
	slices.SortFunc(sh.Reasons, func(x, y reasonCount) int { return cmp.Or(y.Devices-x.Devices, strings.Compare(x.Reason, y.Reason)) })
	v, err := orchestrator.ReadView(ctx, s, inventoryAdapter{a}, c)
	if err != nil {
		return campaignShow{}, err
	}
	plan := orchestrator.Decide(v, a.now())
	for _, b := range plan.Blocked {
		sh.Blocked = append(sh.Blocked, blockShow{Wave: b.Wave, Org: b.Org, Reason: string(b.Reason), Devices: b.Devices, Until: timePtr(b.Until)})
	}
	sh.WaitsFor = plan.PersonWait(v)
	sh.NeedsPerson = sh.WaitsFor != ""
	return sh, nil
}

func (a *app) printShow(sh campaignShow) {
	fmt.Fprintf(a.stdout, "campaign %s: %s\n", sh.Name, sh.Status)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "WAVE\tSTATUS\tDEVICES\t%s\tSTARTED\tCOMPLETED\n", strings.ToUpper(strings.Join(stateColumns, "\t")))
	when := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04")
	}
	for _, w := range sh.Waves {
		fmt.Fprintf(tw, "%s\t%s\t%d", w.Name, w.Status, w.Devices)
		for _, st := range stateColumns {
			fmt.Fprintf(tw, "\t%d", w.States[st])
		}
		fmt.Fprintf(tw, "\t%s\t%s\n", when(w.Started), when(w.Completed))
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
	if sh.NeedsPerson {
		fmt.Fprintf(a.stdout, "\nwaits for a person: %s\n", sh.WaitsFor)
	}
}

func (a *app) showDevice(ctx context.Context, s *osqlite.Store, name, host string) error {
	d, err := s.Device(ctx, name, inventory.NormaliseHostname(host))
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s in campaign %s: %s", d.Hostname, name, d.State)
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
	tr, err := s.Transitions(ctx, name, d.Hostname)
	if err != nil {
		return err
	}
	for _, t := range tr {
		reason := ""
		if t.Reason != "" {
			reason = " (" + string(t.Reason) + ")"
		}
		fmt.Fprintf(a.stdout, "  %s  %s -> %s%s  by %s\n", t.At.UTC().Format(time.RFC3339), t.From, t.To, reason, t.Cause)
	}
	return nil
}
