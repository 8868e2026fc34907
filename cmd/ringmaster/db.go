package main

import (
	"fmt"

	"github.com/ringmaster-fleet/ringmaster/store"

	"github.com/spf13/cobra"
)

func newDBCmd(a *app) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "db",
		Short: "Look after the database file",
	})
	cmd.AddCommand(newDBCheckCmd(a))
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
