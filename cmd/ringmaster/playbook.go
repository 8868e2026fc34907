package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/playbooks"
)

func newPlaybookCmd(a *app) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "playbook",
		Aliases: []string{"playbooks"},
		Short:   "Check playbooks and print their JSON Schema",
	})
	cmd.AddCommand(&cobra.Command{
		Use:     "validate FILE...",
		Short:   "Check playbook files; every problem is reported with its file and line",
		Example: "  ringmaster playbook validate my-upgrade.yaml",
		Args:    args(cobra.MinimumNArgs(1)),
		RunE: func(_ *cobra.Command, argv []string) error {
			bad := 0
			for _, f := range argv {
				data, err := os.ReadFile(f)
				if err != nil {
					return fmt.Errorf("playbook validate: %w", err)
				}
				pb, err := playbooks.Parse(f, data)
				if err != nil {
					fmt.Fprintln(a.stderr, err)
					bad++
					continue
				}
				fmt.Fprintf(a.stdout, "%s: ok (%s %s, %d steps)\n", f, pb.Name, pb.Version, len(pb.Steps)+len(pb.OnFailure)+len(pb.Verify))
			}
			if bad > 0 {
				return fmt.Errorf("%d of %d playbooks are invalid", bad, len(argv))
			}
			return nil
		},
	}, &cobra.Command{
		Use:     "schema",
		Short:   "Print the playbook format's JSON Schema",
		Example: "  ringmaster playbook schema > playbook.schema.json",
		Args:    args(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			_, err := a.stdout.Write(playbooks.Schema)
			return err
		},
	})
	return cmd
}
