package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/internal/inputfile"
	"github.com/ringmaster-fleet/ringmaster/report"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRootCmd(a *app) *cobra.Command {
	root := group(&cobra.Command{
		Use:   "ringmaster",
		Short: "Migrate and patch a many-organisation Windows estate in waves",
		Long: `Ringmaster tracks a Windows device inventory across many organisations and
drives upgrade and patch playbooks to it in waves, reporting progress per
organisation.

The database is --db PATH, else $RINGMASTER_DB, else ./ringmaster.db.`,
		Example: `  ringmaster inventory generate --devices 2000 --orgs 12 --seed 1 --out estate.csv
  ringmaster inventory import estate.csv --create-orgs
  ringmaster inventory summary`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	})
	root.PersistentFlags().StringVar(&a.dbPath, "db", "", "database file (default $RINGMASTER_DB, else ./ringmaster.db)")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "warn", "log level: debug, info, warn or error (logs go to stderr)")
	root.PersistentFlags().Int64Var(&a.maxFileSize, "max-file-size", inputfile.DefaultMax, "largest operator file a command reads (a campaign, playbook or alert), in bytes")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if a.maxFileSize <= 0 {
			return usagef("--max-file-size %d: want a positive number of bytes", a.maxFileSize)
		}
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(a.logLevel)); err != nil {
			return usagef("--log-level %q: want debug, info, warn or error", a.logLevel)
		}
		a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: lvl}))
		return nil
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return flagError(err) })
	root.AddCommand(newOrgCmd(a), newInventoryCmd(a), newCredentialCmd(a), newExecCmd(a), newProbeCmd(a), newPluginCmd(a), newPlaybookCmd(a), newCampaignCmd(a), newRunCmd(a), newNodesCmd(a), newAlertCmd(a), newNotifyCmd(a), newReportCmd(a), newDemoCmd(a), newSimulateCmd(a), newDBCmd(a), newServeCmd(a), newTokenCmd(a), newAuditCmd(a), newExecutorPluginCmd())
	return root
}

// outputFlag registers -o/--output with the allowed formats.
func outputFlag(cmd *cobra.Command, dst *string, def string, allowed ...string) {
	cmd.Flags().StringVarP(dst, "output", "o", def, "output format: "+strings.Join(allowed, ", "))
	cmd.PreRunE = chain(cmd.PreRunE, func(*cobra.Command, []string) error {
		for _, f := range allowed {
			if *dst == f {
				return nil
			}
		}
		return usagef("--output %q: want one of %s", *dst, strings.Join(allowed, ", "))
	})
}

// rawCSVFlag registers --raw-csv on a command that writes CSV with -o csv
// and returns where its value goes. Without it, cells a spreadsheet would
// run as formulas are neutralised (internal/safecsv).
func rawCSVFlag(cmd *cobra.Command, output *string) *bool {
	raw := new(bool)
	cmd.Flags().BoolVar(raw, "raw-csv", false, "with -o csv, write cells exactly as stored, for a round trip or another program: "+
		"unsafe to open in a spreadsheet, where a cell starting with = + - or @ can run as a formula "+
		"(by default such a cell is written after a single quote, which import removes again)")
	cmd.PreRunE = chain(cmd.PreRunE, func(*cobra.Command, []string) error {
		if *raw && *output != "csv" {
			return usagef("--raw-csv applies to -o csv only")
		}
		return nil
	})
	return raw
}

// reportCSVFlag is rawCSVFlag for the report commands: with --raw-csv, -o
// csv becomes report.FormatRawCSV.
func reportCSVFlag(cmd *cobra.Command, output *string) {
	raw := rawCSVFlag(cmd, output)
	cmd.PreRunE = chain(cmd.PreRunE, func(*cobra.Command, []string) error {
		if *raw {
			*output = report.FormatRawCSV
		}
		return nil
	})
}

func chain(fs ...func(*cobra.Command, []string) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, a []string) error {
		for _, f := range fs {
			if f == nil {
				continue
			}
			if err := f(c, a); err != nil {
				return err
			}
		}
		return nil
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
