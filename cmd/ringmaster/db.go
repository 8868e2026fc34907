package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/store"
	"github.com/ringmaster-fleet/ringmaster/store/dbcopy"

	"github.com/spf13/cobra"
)

func newDBCmd(a *app) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "db",
		Short: "Look after the database: check it, migrate it, copy it to PostgreSQL",
	})
	cmd.AddCommand(newDBCheckCmd(a), newDBMigrateCmd(a), newDBCopyCmd(a))
	return cmd
}

func newDBCheckCmd(a *app) *cobra.Command {
	var quick bool
	cmd := &cobra.Command{
		Use:   "check [--quick]",
		Short: "Verify every page of the database; exit 1 if any is damaged",
		Long: `Verify every page and index of the database with SQLite's integrity check
(--quick: its quicker form, which does not match indexes to tables). A
command only notices damage in the pages it reads, so a report can succeed
over a file whose other pages are damaged; run this after a crash, a disk
error or a restore, and from a schedule. It prints "ok" or up to 100
problems, and exits 1 when there are any.`,
		Example: "  ringmaster db check\n  ringmaster db check --quick",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			s, ok := db.(*store.SQLite)
			if !ok {
				return fmt.Errorf("db check verifies an SQLite file; %s is PostgreSQL, whose pages its own tools check (the amcheck extension's pg_amcheck)", db.Where())
			}
			problems, err := s.Check(cmd.Context(), quick)
			if err != nil {
				return err
			}
			if len(problems) == 0 {
				fmt.Fprintln(a.stdout, "ok")
				return nil
			}
			for _, p := range problems {
				fmt.Fprintln(a.stdout, p)
			}
			return fmt.Errorf("database %s is damaged: %s; restore it from a backup", s.Path(), plural(len(problems), "problem", "problems"))
		},
	}
	cmd.Flags().BoolVar(&quick, "quick", false, "the quicker check, which does not match indexes to their tables")
	return cmd
}

func newDBMigrateCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Bring every store's tables up to this version's schema",
		Long: `Apply every store's pending migrations to the database now. Commands
migrate the tables they use when they first open them; this migrates all
of them at once (db copy reads only a file whose every store is up to
date). A database written by a newer ringmaster is refused.`,
		Example: "  ringmaster --db ringmaster.db db migrate",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.migrateAll(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s is up to date\n", a.db.Where())
			return nil
		},
	}
}

func newDBCopyCmd(a *app) *cobra.Command {
	var from, to, output string
	cmd := &cobra.Command{
		Use:   "copy --to URL [--from FILE]",
		Short: "Copy everything in an SQLite file into an empty PostgreSQL database, and check it",
		Long: `Copy the estate in an SQLite file (--from: default the database, --db or
$RINGMASTER_DB) into an empty PostgreSQL database (--to: a postgres:// URL,
or @FILE to read the URL from a file, keeping its password off the command
line): organisations, devices, labels and their history, connection
profiles, credentials (sealed as they are: keep the same key file),
plugins, alerts, the daily history, campaigns with every device's state,
checkpoint and transitions, notifications, API tokens and the audit
trail. Stop every node running on the file first; the file is only read.

The copy is one transaction: if anything fails the database stays empty.
It then compares both databases, every table's rows, the device rollup,
the campaign counts and the reports (progress, scorecard, compliance,
history, campaigns), and exits 1 naming any difference.

River's job queue is not copied. Devices queued in a running or paused
campaign are left to the first control pass on PostgreSQL, which
dispatches each again from its last checkpoint, as after a node died;
running devices resume the same way once their leases lapse.`,
		Example: "  ringmaster db copy --from ringmaster.db --to 'postgres://ringmaster@db.example.nhs.uk/ringmaster?sslmode=verify-full'\n" +
			"  ringmaster db copy --from ringmaster.db --to @/etc/ringmaster/db-url",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return usagef("--to is required: the PostgreSQL database to copy into (a postgres:// URL, or @FILE)")
			}
			if strings.HasPrefix(to, "@") {
				b, err := a.fileLimit().ReadFile(strings.TrimPrefix(to, "@"))
				if err != nil {
					return fmt.Errorf("--to: %w", err)
				}
				to = strings.TrimSpace(string(b))
			}
			if from == "" {
				from = a.dbFile()
			}
			if !store.IsPostgres(to) {
				return usagef("--to %s: not a PostgreSQL database; give a postgres:// URL", quoteShort(to))
			}
			if store.IsPostgres(from) {
				return usagef("--from: the source must be an SQLite file; it names a PostgreSQL database")
			}
			var progress func(string, int64)
			if isTerminal(a.stderr) {
				progress = func(table string, rows int64) {
					if rows > 0 {
						fmt.Fprintf(a.stderr, "  %s: %d rows\n", table, rows)
					}
				}
			}
			r, err := a.copyDB(cmd.Context(), from, to, progress)
			if err != nil {
				return err
			}
			return a.printAs(output, struct {
				dbcopy.Report
				TookSeconds float64 `json:"took_seconds"`
			}{r, r.Took.Seconds()}, func() error {
				fmt.Fprintf(a.stdout, "copied %s to %s in %s\n\n", r.From, r.To, r.Took.Round(100*time.Millisecond))
				tw := newTable(a.stdout, "TABLE", "ROWS")
				for _, t := range r.Tables {
					row(tw, t.Table, fmt.Sprint(t.Copied))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, "\nchecked:")
				for _, c := range r.Checks {
					fmt.Fprintf(a.stdout, "  %s: %s\n", c.Name, c.Detail)
				}
				if r.Requeued > 0 {
					fmt.Fprintf(a.stdout, "\n%s queued in running or paused campaigns: the first control pass on PostgreSQL dispatches them again (their jobs stay behind)\n",
						plural(int(r.Requeued), "device", "devices"))
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the SQLite file to copy (default: the database, --db or $RINGMASTER_DB)")
	cmd.Flags().StringVar(&to, "to", "", "the empty PostgreSQL database to copy into: a postgres:// URL, or @FILE holding it")
	outputFlag(cmd, &output, "table", "table", "json")
	return cmd
}
