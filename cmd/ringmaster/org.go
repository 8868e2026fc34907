package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/estate"
	"github.com/ringmaster-fleet/ringmaster/internal/safecsv"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/targets"
)

func newOrgCmd(a *app) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "org",
		Aliases: []string{"orgs", "organisation"},
		Short:   "Manage organisations (trusts, practices, care providers)",
	})
	cmd.AddCommand(newOrgAddCmd(a), newOrgListCmd(a), newOrgShowCmd(a), newOrgRemoveCmd(a), newOrgSetCredentialCmd(a), newOrgSetConnectionCmd(a))
	return cmd
}

func newOrgAddCmd(a *app) *cobra.Command {
	var o inventory.Organisation
	cmd := &cobra.Command{
		Use:     "add CODE --name NAME --timezone ZONE",
		Short:   "Add an organisation",
		Example: `  ringmaster org add RXX --name "Example Hospitals NHS Trust" --timezone Europe/London --tag acute`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			o.Code = argv[0]
			if err := estate.CheckOrganisation(&o); err != nil {
				return usageError{err}
			}
			s, err := a.inventory(cmd.Context())
			if err != nil {
				return err
			}
			if err := estate.AddOrganisation(cmd.Context(), s, &o); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "added organisation %s (%s)\n", o.Code, o.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Name, "name", "", "organisation name (required)")
	cmd.Flags().StringVar(&o.TimeZone, "timezone", "", "IANA time zone its maintenance windows are in, e.g. Europe/London (required)")
	cmd.Flags().StringSliceVar(&o.Tags, "tag", nil, "tag (repeatable)")
	return cmd
}

func newOrgListCmd(a *app) *cobra.Command {
	var output string
	var raw *bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List organisations with their device counts",
		Example: "  ringmaster org list\n  ringmaster org list -o json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.inventory(cmd.Context())
			if err != nil {
				return err
			}
			out, err := estate.ListOrganisations(cmd.Context(), s)
			if err != nil {
				return err
			}
			switch output {
			case "json":
				return writeJSON(a, out)
			case "csv":
				w := safecsv.NewWriter(a.stdout)
				w.Raw = *raw
				_ = w.Write([]string{"code", "name", "time_zone", "tags", "devices"})
				for _, o := range out {
					_ = w.Write([]string{o.Code, o.Name, o.TimeZone, strings.Join(o.Tags, ","), fmt.Sprint(o.Devices)})
				}
				w.Flush()
				return w.Error()
			}
			tw := newTable(a.stdout, "CODE", "NAME", "TIME ZONE", "DEVICES", "TAGS")
			for _, o := range out {
				row(tw, o.Code, o.Name, o.TimeZone, fmt.Sprint(o.Devices), strings.Join(o.Tags, ","))
			}
			return tw.Flush()
		},
	}
	outputFlag(cmd, &output, "table", "table", "json", "csv")
	raw = rawCSVFlag(cmd, &output)
	return cmd
}

func newOrgShowCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "show CODE",
		Short:   "Show one organisation and where its estate stands",
		Example: "  ringmaster org show RXX",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			s, err := a.inventory(cmd.Context())
			if err != nil {
				return err
			}
			d, err := estate.ShowOrganisation(cmd.Context(), s, argv[0])
			if err != nil {
				return err
			}
			conn, err := targets.ShowProfile(cmd.Context(), s, d.Org.Code)
			if err != nil {
				return err
			}
			out := struct {
				estate.OrgDetail
				Connection targets.Profile `json:"connection"`
			}{d, conn}
			return a.printAs(output, out, func() error {
				o, sum := d.Org, d.Summary
				tw := newTable(a.stdout)
				fmt.Fprintf(tw, "Code:\t%s\n", o.Code)
				fmt.Fprintf(tw, "Name:\t%s\n", o.Name)
				fmt.Fprintf(tw, "Time zone:\t%s\n", o.TimeZone)
				fmt.Fprintf(tw, "Tags:\t%s\n", strings.Join(o.Tags, ", "))
				fmt.Fprintf(tw, "Connection:\t%s (%s)\n", conn, profileFrom(conn.From, o.Code))
				fmt.Fprintf(tw, "Credential:\t%s\n", dash(conn.Credential))
				fmt.Fprintf(tw, "Devices:\t%d\n", sum.Devices)
				fmt.Fprintf(tw, "Windows 10:\t%d (%.1f%%)\n", sum.Windows10, inventory.Percent(sum.Windows10, sum.Devices))
				fmt.Fprintf(tw, "Windows 7:\t%d\n", sum.Windows7)
				fmt.Fprintf(tw, "Build unknown:\t%d\n", sum.Unknown)
				for _, r := range sum.SortedReleases() {
					fmt.Fprintf(tw, "  %s:\t%d\n", r, sum.Releases[r])
				}
				return tw.Flush()
			})
		},
	}
	outputFlag(cmd, &output, "table", "table", "json")
	return cmd
}

func newOrgRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "remove CODE",
		Aliases: []string{"rm"},
		Short:   "Remove an organisation that has no devices",
		Example: "  ringmaster inventory remove -l org=RXX\n  ringmaster org remove RXX",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			s, err := a.inventory(cmd.Context())
			if err != nil {
				return err
			}
			if err := s.RemoveOrganisation(cmd.Context(), argv[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "removed organisation %s\n", inventory.NormaliseOrgCode(argv[0]))
			return nil
		},
	}
}

// profileFrom says whose connection profile serves an organisation.
func profileFrom(from, code string) string {
	switch from {
	case "organisation":
		return "its own: ringmaster org set-connection " + code
	case "default":
		return "the default: ringmaster org set-connection --default"
	}
	return "no profile: ringmaster org set-connection"
}
