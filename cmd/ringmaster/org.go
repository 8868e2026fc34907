package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/internal/safecsv"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

func newOrgCmd(a *app) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "org",
		Aliases: []string{"orgs", "organisation"},
		Short:   "Manage organisations (trusts, practices, care providers)",
	})
	cmd.AddCommand(newOrgAddCmd(a), newOrgListCmd(a), newOrgShowCmd(a), newOrgRemoveCmd(a), newOrgSetCredentialCmd(a))
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
			o.Normalise()
			if err := o.Validate(); err != nil {
				return usageError{err}
			}
			s, err := a.inventory(cmd.Context())
			if err != nil {
				return err
			}
			if err := s.CreateOrganisation(cmd.Context(), &o); err != nil {
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

// orgJSON is the stable JSON form of an organisation.
type orgJSON struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	TimeZone  string    `json:"time_zone"`
	Tags      []string  `json:"tags"`
	Devices   int       `json:"devices"`
	CreatedAt time.Time `json:"created_at"`
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
			orgs, err := s.Organisations(cmd.Context())
			if err != nil {
				return err
			}
			counts, err := s.CountByOrgAndBuild(cmd.Context())
			if err != nil {
				return err
			}
			devices := map[string]int{}
			for _, c := range counts {
				devices[c.Org] += c.Devices
			}
			out := make([]orgJSON, len(orgs))
			for i, o := range orgs {
				out[i] = orgJSON{Code: o.Code, Name: o.Name, TimeZone: o.TimeZone, Tags: o.Tags, Devices: devices[o.Code], CreatedAt: o.CreatedAt.UTC()}
				if out[i].Tags == nil {
					out[i].Tags = []string{}
				}
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
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "CODE\tNAME\tTIME ZONE\tDEVICES\tTAGS")
			for _, o := range out {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", o.Code, o.Name, o.TimeZone, o.Devices, strings.Join(o.Tags, ","))
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
			o, err := s.Organisation(cmd.Context(), argv[0])
			if err != nil {
				return err
			}
			counts, err := s.CountByOrgAndBuild(cmd.Context())
			if err != nil {
				return err
			}
			var mine []inventory.BuildCount
			for _, c := range counts {
				if c.Org == o.Code {
					mine = append(mine, c)
				}
			}
			_, sum := inventory.Summarise(mine)
			if output == "json" {
				return writeJSON(a, struct {
					orgJSON
					Summary summaryJSON `json:"summary"`
				}{orgJSON{o.Code, o.Name, o.TimeZone, nonNil(o.Tags), sum.Devices, o.CreatedAt.UTC()}, toSummaryJSON(sum)})
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "Code:\t%s\n", o.Code)
			fmt.Fprintf(tw, "Name:\t%s\n", o.Name)
			fmt.Fprintf(tw, "Time zone:\t%s\n", o.TimeZone)
			fmt.Fprintf(tw, "Tags:\t%s\n", strings.Join(o.Tags, ", "))
			fmt.Fprintf(tw, "Devices:\t%d\n", sum.Devices)
			fmt.Fprintf(tw, "Windows 10:\t%d (%.1f%%)\n", sum.Windows10, inventory.Percent(sum.Windows10, sum.Devices))
			fmt.Fprintf(tw, "Windows 7:\t%d\n", sum.Windows7)
			fmt.Fprintf(tw, "Build unknown:\t%d\n", sum.Unknown)
			for _, r := range sortedReleases(sum.Releases) {
				fmt.Fprintf(tw, "  %s:\t%d\n", r, sum.Releases[r])
			}
			return tw.Flush()
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

func writeJSON(a *app, v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
