package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
)

func newPlaybookCmd(a *app) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "playbook",
		Aliases: []string{"playbooks"},
		Short:   "List, show, export and check playbooks",
	})
	cmd.AddCommand(&cobra.Command{
		Use:     "list",
		Short:   "List the built-in playbooks",
		Example: "  ringmaster playbook list",
		Args:    args(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			for _, n := range builtin.Names() {
				pb, err := builtin.Get(n)
				if err != nil {
					return fmt.Errorf("playbook list: %w", err)
				}
				desc, _, _ := strings.Cut(strings.TrimSpace(pb.Description), ".")
				fmt.Fprintf(a.stdout, "%-24s %-8s %s\n", pb.Name, pb.Version, desc)
			}
			return nil
		},
	}, &cobra.Command{
		Use:     "show NAME",
		Short:   "Print a built-in playbook's YAML",
		Example: "  ringmaster playbook show discover",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, argv []string) error {
			src, err := builtin.Source(argv[0])
			if err != nil {
				return fmt.Errorf("playbook show: %w", err)
			}
			_, err = a.stdout.Write(src)
			return err
		},
	}, &cobra.Command{
		Use:     "export NAME DIR",
		Short:   "Copy a built-in playbook to DIR/NAME.yaml to adapt it; an existing file is never overwritten",
		Example: "  ringmaster playbook export discover ./playbooks",
		Args:    args(cobra.ExactArgs(2)),
		RunE: func(_ *cobra.Command, argv []string) error {
			src, err := builtin.Source(argv[0])
			if err != nil {
				return fmt.Errorf("playbook export: %w", err)
			}
			if err := os.MkdirAll(argv[1], 0o755); err != nil {
				return fmt.Errorf("playbook export: %w", err)
			}
			dst := filepath.Join(argv[1], argv[0]+".yaml")
			f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("playbook export: %s already exists; it is never overwritten (move it or pick another DIR)", dst)
			}
			if err != nil {
				return fmt.Errorf("playbook export: %w", err)
			}
			if _, err := f.Write(src); err != nil {
				f.Close()
				os.Remove(dst)
				return fmt.Errorf("playbook export %s: %w", dst, err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("playbook export %s: %w", dst, err)
			}
			fmt.Fprintf(a.stdout, "wrote %s\n", dst)
			return nil
		},
	}, &cobra.Command{
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
