package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/report"
)

func newAlertCmd(a *app) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "alert",
		Aliases: []string{"alerts"},
		Short:   "High Severity Alerts: add, list, show, remove, remediate with a campaign, and forecast it",
	})
	cmd.AddCommand(newAlertAddCmd(a), newAlertListCmd(a), newAlertShowCmd(a), newAlertRemoveCmd(a), newAlertRemediateCmd(a), newAlertForecastCmd(a))
	return cmd
}

func newAlertAddCmd(a *app) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "add -f ALERT.yaml",
		Short: "Add a High Severity Alert: its deadline and the updates that remediate it per build",
		Long: `Add a High Severity Alert: its deadline and, per build, the updates that
remediate it (any one, or a later one that supersedes it). The alert is
stored, and reports start counting its updates, in one transaction: all or
nothing. Limits, far above real alerts: the file's size (--max-file-size),
` + fmt.Sprintf("%d builds, %d updates a build, %d superseded updates with %d later ones each.",
			alerts.MaxBuilds, alerts.MaxKBsPerBuild, alerts.MaxSuperseded, alerts.MaxSupersedingPer),
		Example: `  ringmaster alert add -f dejablue.yaml

  # dejablue.yaml
  id: HSA-2019-0042
  title: DejaBlue (CVE-2019-1181, CVE-2019-1182) RDP remote code execution
  issued: 2019-08-13
  deadline: 2019-08-27
  remediation:                       # per build: any one of these updates
    "10.0.18363": [KB4512508]
    "6.1.7601": [KB4512506, KB4512486]
  supersedence:                      # later cumulative updates that include one
    KB4512508: [KB4517389]`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("give the alert file with -f FILE")
			}
			ctx := cmd.Context()
			data, err := a.fileLimit().ReadFile(file)
			if err != nil {
				return fmt.Errorf("alert add: %w", err)
			}
			al, err := alerts.ParseContext(ctx, file, data)
			if err != nil {
				return fmt.Errorf("alert add: %w", err)
			}
			s, err := a.alerts(ctx)
			if err != nil {
				return err
			}
			// Reports count the alert's updates from the moment it is
			// stored: the store watches them in the same transaction.
			if err := s.Add(ctx, al, data); err != nil {
				return fmt.Errorf("alert add: %w", err)
			}
			fmt.Fprintf(a.stdout, "added alert %s (deadline %s, %d builds)\n", al.ID, al.Deadline, len(al.Remediation))
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "alert YAML file")
	return cmd
}

func newAlertListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the alerts",
		Example: "  ringmaster alert list",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.alerts(cmd.Context())
			if err != nil {
				return err
			}
			list, err := s.List(cmd.Context())
			if err != nil {
				return err
			}
			for _, al := range list {
				fmt.Fprintf(a.stdout, "%-16s issued %s  deadline %s  %s\n", al.ID, al.Issued, al.Deadline, al.Title)
			}
			return nil
		},
	}
}

func newAlertRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "remove ID",
		Aliases: []string{"rm"},
		Short:   "Remove an alert, with its figures in the daily history",
		Long: `Remove an alert. In the same transaction, reports stop counting the updates
only it named, and its figures leave the daily history. An alert that can no
longer be read (stored by an earlier version) can be removed too. Campaigns
created from it stay.`,
		Example: "  ringmaster alert remove HSA-2019-0042",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			s, err := a.alerts(ctx)
			if err != nil {
				return err
			}
			// The store stops watching the updates only it named and
			// forgets its daily figures in the same transaction.
			if err := s.Remove(ctx, argv[0]); err != nil {
				return fmt.Errorf("alert remove: %w", err)
			}
			fmt.Fprintf(a.stdout, "removed alert %s\n", argv[0])
			return nil
		},
	}
}

func newAlertShowCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "show ID",
		Short:   "Show an alert and each organisation's compliance with it",
		Example: "  ringmaster alert show HSA-2019-0042\n  ringmaster alert show HSA-2019-0042 -o csv",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			svc, err := a.reports(cmd.Context())
			if err != nil {
				return err
			}
			list, err := svc.Compliance(cmd.Context(), inventory.Everything(), argv[0])
			if err != nil {
				return err
			}
			al, c := list[0].Alert, list[0].Compliance
			if output == report.FormatTable {
				fmt.Fprintf(a.stdout, "remediated by (any one, or a later update that supersedes it):\n")
				for _, b := range al.Builds() {
					fmt.Fprintf(a.stdout, "  %-12s %s\n", b, strings.Join(al.Satisfying(b), ", "))
				}
				fmt.Fprintln(a.stdout)
			}
			return report.WriteCompliance(a.stdout, c, output)
		},
	}
	outputFlag(cmd, &output, report.FormatTable, report.FormatTable, report.FormatCSV, report.FormatJSON)
	reportCSVFlag(cmd, &output)
	return cmd
}

func newAlertRemediateCmd(a *app) *cobra.Command {
	var (
		source, name string
		soak         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "remediate ID --source FOLDER",
		Short: "Create a campaign that installs an alert's updates on the devices still exposed",
		Long: `Create a campaign (a draft: review it, then campaign start) that runs the
hsa-remediate playbook on every device observed to be exposed to the alert
(on a build it names, without a remediating update or a later one that
supersedes it), in a pilot wave and the rest, before the alert's deadline.`,
		Example: `  ringmaster alert remediate HSA-2019-0042 --source '\\dp01\updates$'`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if source == "" {
				return usagef("give the folder holding the updates (KBnnnnnnn.msu) with --source")
			}
			ctx := cmd.Context()
			rs, err := a.reports(ctx)
			if err != nil {
				return err
			}
			cs, err := a.campaignApp(ctx)
			if err != nil {
				return err
			}
			r, c, err := cs.RemediateAlert(ctx, rs, argv[0], campaigns.Remediation{Source: source, Name: name, PilotSoak: soak})
			if err != nil {
				return fmt.Errorf("alert remediate: %w", err)
			}
			if len(r.Exposed) == 0 {
				fmt.Fprintf(a.stdout, "no device is observed to be exposed to %s: nothing to do\n", r.Alert.ID)
				return nil
			}
			created := c.Spec.Name
			fmt.Fprintf(a.stdout, "created campaign %s (draft) for the %d exposed devices: pilot %d, rest %d\n", created, len(r.Exposed), c.WaveSizes[0], c.WaveSizes[1])
			fmt.Fprintf(a.stdout, "review it with ringmaster campaign show %s, then ringmaster campaign start %s\n", created, created)
			return nil
		},
	}
	cmd.Flags().StringVar(&source, "source", "", `folder (share or local) holding the updates as KBnnnnnnn.msu, e.g. \\dp01\updates$`)
	cmd.Flags().StringVar(&name, "campaign", "", "campaign name (default remediate-ID)")
	cmd.Flags().DurationVar(&soak, "pilot-soak", 4*time.Hour, "how long the pilot wave (a twentieth of the devices) soaks before the rest")
	return cmd
}
