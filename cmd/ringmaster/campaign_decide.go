package main

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/internal/safecsv"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// The commands a person decides a running campaign with (continue, set,
// exclude, include) and the device listing they decide from. Each only
// wires flags to campaigns.Service and prints.

func (a *app) decision(reason string) campaigns.Decision {
	return campaigns.Decision{Actor: a.actor(), Reason: reason}
}

func newCampaignContinueCmd(a *app) *cobra.Command {
	var wave, org, reason string
	cmd := &cobra.Command{
		Use:   "continue NAME --wave W [--org O] [--reason TEXT]",
		Short: "Accept a halted wave's (or organisation's) failures so far and go on",
		Long: `Accept the failures so far of a halted wave, or of one organisation halted in
a wave (--org), and let it go on: the controller halts again only on
failures beyond those accepted. The decision is recorded with who took it
and why (campaign show lists it).`,
		Example: "  ringmaster campaign continue win10-22h2 --wave pilot --reason \"low disk, known; excluded\"\n" +
			"  ringmaster campaign continue win10-22h2 --wave ring1 --org RXX",
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if wave == "" {
				return usagef("say which wave: --wave W")
			}
			svc, err := a.campaignApp(cmd.Context())
			if err != nil {
				return err
			}
			n, err := svc.Continue(cmd.Context(), argv[0], wave, org, a.decision(reason))
			if err != nil {
				return err
			}
			who := "wave " + wave
			if org != "" {
				who = "organisation " + strings.ToUpper(org) + " in wave " + wave
			}
			fmt.Fprintf(a.stdout, "accepted %d failures of %s of campaign %s: it goes on\n", n, who, argv[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&wave, "wave", "", "the halted wave")
	cmd.Flags().StringVar(&org, "org", "", "only this organisation's failures in the wave")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record")
	return cmd
}

// specChanges are the flags that change a campaign's spec: campaign set
// makes them, campaign forecast asks what they would do.
type specChanges struct {
	failPct, conc, caps, windows []string
	deadline                     string
}

func (c *specChanges) register(f *pflag.FlagSet) {
	f.StringArrayVar(&c.failPct, "max-failure-percent", nil, "WAVE=N: a wave's halt threshold (repeatable)")
	f.StringArrayVar(&c.conc, "max-concurrency", nil, "WAVE=N: a wave's devices at once (repeatable)")
	f.StringArrayVar(&c.caps, "cap", nil, "per_org=N, per_site=N or total=N (repeatable)")
	f.StringVar(&c.deadline, "deadline", "", "RFC 3339 time, or none to remove it")
	f.StringArrayVar(&c.windows, "window", nil, "default=SPEC or ORG=SPEC, SPEC \"CRON for DURATION[ in ZONE]\" or none (repeatable)")
}

// changes are the flags as changes, each with the flag it came from.
func (c *specChanges) changes() ([]orchestrator.Change, error) {
	var changes []orchestrator.Change
	keyed := func(flag string, f orchestrator.Field, vals []string) error {
		for _, v := range vals {
			k, val, ok := strings.Cut(v, "=")
			if !ok || k == "" {
				return usagef("--%s %s: want KEY=VALUE", flag, v)
			}
			field := f
			if f == "" { // --cap: the key names the cap
				field = orchestrator.Field("caps." + k)
				k = ""
			}
			changes = append(changes, orchestrator.Change{Field: field, Key: k, Value: val, Source: "--" + flag + " " + v})
		}
		return nil
	}
	for _, fl := range []struct {
		flag  string
		field orchestrator.Field
		vals  []string
	}{{"max-failure-percent", orchestrator.FieldMaxFailurePercent, c.failPct}, {"max-concurrency", orchestrator.FieldMaxConcurrency, c.conc},
		{"cap", "", c.caps}, {"window", orchestrator.FieldWindow, c.windows}} {
		if err := keyed(fl.flag, fl.field, fl.vals); err != nil {
			return nil, err
		}
	}
	if c.deadline != "" {
		changes = append(changes, orchestrator.Change{Field: orchestrator.FieldDeadline, Value: c.deadline, Source: "--deadline " + c.deadline})
	}
	return changes, nil
}

func newCampaignSetCmd(a *app) *cobra.Command {
	var sc specChanges
	var reason string
	cmd := &cobra.Command{
		Use:   "set NAME [--max-failure-percent W=N] [--max-concurrency W=N] [--cap KIND=N] [--deadline T|none] [--window ORG=SPEC]",
		Short: "Change a campaign's thresholds, concurrency, caps, deadline or windows",
		Long: `Change a running (or draft, or paused) campaign's thresholds, concurrency,
caps, deadline and windows; never its targets or waves. The changed
campaign is checked exactly as create checks a file, each problem naming
the flag that caused it; the controller uses it from its next pass. The
change is recorded with who made it and why. (campaign forecast takes the
same flags, to show what a change would do before it is made.)

  --max-failure-percent WAVE=N   a wave's halt threshold
  --max-concurrency WAVE=N       a wave's devices at once
  --cap per_org=N|per_site=N|total=N
  --deadline 2026-12-24T18:00:00Z, or none
  --window default=SPEC or ORG=SPEC, SPEC being "CRON for DURATION"
                                 (optionally "in ZONE"), or none`,
		Example: "  ringmaster campaign set win10-22h2 --max-failure-percent ring1=20 --cap per_org=50\n" +
			"  ringmaster campaign set win10-22h2 --window 'RXX=0 19 * * 1-5 for 10h' --deadline none",
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			changes, err := sc.changes()
			if err != nil {
				return err
			}
			if len(changes) == 0 {
				return usagef("say what to change: --max-failure-percent, --max-concurrency, --cap, --deadline or --window")
			}
			svc, err := a.campaignApp(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := svc.Set(cmd.Context(), argv[0], changes, a.decision(reason)); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "changed campaign %s (%d changes); the controller uses them from its next pass\n", argv[0], len(changes))
			return nil
		},
	}
	sc.register(cmd.Flags())
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record")
	return cmd
}

func newCampaignMoveCmd(a *app, include bool) *cobra.Command {
	var selector, reason string
	verb, short := "exclude", "Take devices out of a campaign: skipped as excluded, never counted as failed"
	example := "  ringmaster campaign exclude win10-22h2 pc000123.rxx.nhs.uk pc000456.rxx.nhs.uk --reason \"disk too small\"\n" +
		"  ringmaster campaign exclude win10-22h2 -l 'label.hold=yes'"
	if include {
		verb, short = "include", "Put excluded devices back into a campaign (pending again)"
		example = "  ringmaster campaign include win10-22h2 pc000123.rxx.nhs.uk\n  ringmaster campaign include win10-22h2 -l 'label.hold=yes'"
	}
	cmd := &cobra.Command{
		Use:     verb + " NAME HOST...|-l SELECTOR",
		Short:   short,
		Example: example,
		Args:    args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if (len(argv) > 1) == (selector != "") {
				return usagef("name the devices by hostname or with -l SELECTOR, one of the two")
			}
			svc, err := a.campaignApp(cmd.Context())
			if err != nil {
				return err
			}
			sel := campaigns.Selection{Hosts: argv[1:], Selector: selector}
			move := svc.Exclude
			if include {
				move = svc.Include
			}
			ch, err := move(cmd.Context(), argv[0], sel, a.decision(reason))
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%sd %d devices of campaign %s\n", verb, len(ch.Moved), argv[0])
			for _, m := range ch.Unmoved {
				why := string(m.State)
				if m.Reason != "" {
					why += " (" + string(m.Reason) + ")"
				}
				fmt.Fprintf(a.stdout, "  %s left as it is: %s\n", m.Hostname, why)
			}
			for _, h := range ch.Missing {
				fmt.Fprintf(a.stdout, "  %s is not in the campaign\n", h)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "the devices matching this selector")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record")
	return cmd
}

// filterFlags are the device filter flags devices and retry share.
func filterFlags(cmd *cobra.Command, f *orchestrator.DeviceFilter, withState bool) {
	cmd.Flags().StringVar(&f.Wave, "wave", "", "only this wave's devices")
	cmd.Flags().StringVar(&f.Org, "org", "", "only this organisation's devices")
	cmd.Flags().StringVar((*string)(&f.Reason), "reason", "", "only those with this reason")
	if withState {
		cmd.Flags().StringVar((*string)(&f.State), "state", "", "only those in this state ("+strings.Join(stateColumns, ", ")+")")
	}
}

func newCampaignDevicesCmd(a *app) *cobra.Command {
	var q campaigns.DeviceQuery
	var output string
	cmd := &cobra.Command{
		Use:   "devices NAME [--wave W] [--org O] [--state S] [--reason R] [--limit N --after HOST]",
		Short: "List a campaign's devices by wave, organisation, state and reason, a page at a time",
		Long: `List a campaign's devices in dispatch order, by wave, organisation, state and
reason, a page at a time (--limit, default 100): when there are more, the
last line (or, with -o json, "next") says the --after that gives the next
page. Each page is one indexed query, however large the campaign.`,
		Example: "  ringmaster campaign devices win10-22h2 --wave pilot --state failed -o csv\n" +
			"  ringmaster campaign devices win10-22h2 --state deferred --limit 500 --after pc000123.rxx.nhs.uk",
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			svc, err := a.campaignApp(cmd.Context())
			if err != nil {
				return err
			}
			p, err := svc.Devices(cmd.Context(), argv[0], q)
			if err != nil {
				return err
			}
			rows := p.Rows()
			header := []string{"HOSTNAME", "ORG", "SITE", "WAVE", "STATE", "REASON", "ATTEMPTS", "CHANGED", "MESSAGE"}
			cells := func(d campaigns.DeviceRow) []string {
				return []string{d.Hostname, d.Org, d.Site, cmp.Or(d.Wave, "-"), d.State, d.Reason, fmt.Sprint(d.Attempts), d.Changed.Format(time.RFC3339), d.Message}
			}
			switch output {
			case "json":
				return writeJSON(a, struct {
					Devices []campaigns.DeviceRow `json:"devices"`
					Next    string                `json:"next"`
				}{rows, p.Next})
			case "csv":
				w := safecsv.NewWriter(a.stdout)
				w.Write(header)
				for _, d := range rows {
					w.Write(cells(d))
				}
				w.Flush()
				return w.Error()
			}
			tw := newTable(a.stdout, header...)
			for _, d := range rows {
				row(tw, cells(d)...)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if p.Next != "" {
				fmt.Fprintf(a.stdout, "more: --after %s\n", p.Next)
			}
			return nil
		},
	}
	filterFlags(cmd, &q.DeviceFilter, true)
	cmd.Flags().IntVar(&q.Limit, "limit", campaigns.DefaultPage, fmt.Sprintf("devices per page (at most %d)", campaigns.MaxPage))
	cmd.Flags().StringVar(&q.After, "after", "", "the page after this device (the last of the previous page)")
	outputFlag(cmd, &output, "table", "table", "csv", "json")
	return cmd
}

// printEvents prints the decisions people took on a campaign.
func (a *app) printEvents(evs []orchestrator.Event) {
	if len(evs) == 0 {
		return
	}
	fmt.Fprintln(a.stdout, "\ndecisions:")
	for _, e := range evs {
		where := ""
		if e.Wave != "" {
			where = " wave " + e.Wave
		}
		if e.Org != "" {
			where += " org " + e.Org
		}
		why := ""
		if e.Reason != "" {
			why = `: "` + e.Reason + `"`
		}
		fmt.Fprintf(a.stdout, "  %s  %s by %s%s: %s%s\n", e.At.UTC().Format(time.RFC3339), e.Action, e.Actor, where, e.Detail, why)
	}
}
