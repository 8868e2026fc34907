package main

import (
	"errors"
	"fmt"
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
			dst, err := builtin.Export(argv[0], argv[1])
			var exists *builtin.ExistsError
			if errors.As(err, &exists) {
				return fmt.Errorf("playbook export: %w (move it or pick another DIR)", err)
			}
			if err != nil {
				return fmt.Errorf("playbook export: %w", err)
			}
			fmt.Fprintf(a.stdout, "wrote %s\n", dst)
			return nil
		},
	}, newPlaybookRunCmd(a), &cobra.Command{
		Use:     "validate FILE...",
		Short:   "Check playbook files; every problem is reported with its file and line",
		Example: "  ringmaster playbook validate my-upgrade.yaml",
		Args:    args(cobra.MinimumNArgs(1)),
		RunE: func(_ *cobra.Command, argv []string) error {
			checked, err := a.playbookFiles().Validate(argv)
			bad := 0
			for _, c := range checked {
				if c.Err != nil {
					fmt.Fprintln(a.stderr, c.Err)
					bad++
					continue
				}
				fmt.Fprintf(a.stdout, "%s: ok (%s %s, %d steps)\n", c.File, c.Playbook.Name, c.Playbook.Version, c.Steps())
			}
			if err != nil {
				return fmt.Errorf("playbook validate: %w", err)
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

// playbookFiles resolves playbook references: a file within the input
// file limit, else a built-in playbook by name.
func (a *app) playbookFiles() builtin.Files {
	return builtin.Files{Limit: a.fileLimit()}
}

func newPlaybookRunCmd(a *app) *cobra.Command {
	var (
		o      targetFlags
		host   string
		params map[string]string
	)
	cmd := &cobra.Command{
		Use:   "run NAME|FILE --device HOSTNAME [--param k=v ...]",
		Short: "Run a playbook on one device now, streaming each step's output",
		Long: `Run a built-in playbook (by name) or a playbook file on one device from the
inventory, streaming each step and its output. The outcome and its reason
are printed last; the command exits non-zero when the outcome is failed.`,
		Example: `  ringmaster playbook run discover --device pc000001.rxx.nhs.uk
  ringmaster playbook run ./my-upgrade.yaml --device pc000001.rxx.nhs.uk --param target_build=10.0.19045`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if host == "" {
				return usagef("--device HOSTNAME is required")
			}
			pb, err := a.playbookFiles().Load(argv[0])
			if err != nil {
				return fmt.Errorf("playbook run: %w", err)
			}
			values, err := pb.ParseValues(params)
			if err != nil {
				return fmt.Errorf("playbook run: %w", err)
			}
			ctx := cmd.Context()
			r, err := a.resolver(ctx, o)
			if err != nil {
				return err
			}
			d, t, x, closeX, err := r.Reach(ctx, host)
			if err != nil {
				return err
			}
			defer closeX()
			e := &playbooks.Engine{Executor: x}
			out, err := e.Execute(ctx, playbooks.Run{Playbook: pb, Target: t, Params: values}, playbooks.SinkFunc(func(ev playbooks.Event) {
				switch ev.Kind {
				case playbooks.EventStepStarted:
					attempt := ""
					if ev.Attempt > 1 {
						attempt = fmt.Sprintf(" (attempt %d)", ev.Attempt)
					}
					fmt.Fprintf(a.stdout, "==> %s: %s%s\n", ev.Phase, ev.Step, attempt)
				case playbooks.EventStepSkipped:
					fmt.Fprintf(a.stdout, "--> %s: %s skipped (when is false)\n", ev.Phase, ev.Step)
				case playbooks.EventOutput:
					a.writeChunk(ev.Chunk)
				}
			}))
			if err != nil {
				return fmt.Errorf("playbook run %s on %s: %w", pb.Name, d.Hostname, err)
			}
			line := fmt.Sprintf("outcome: %s (%s)", out.Status, out.Reason)
			if out.Step != "" {
				line += fmt.Sprintf(" at step %q", out.Step)
			}
			if out.Message != "" && out.Message != string(out.Reason) {
				line += ": " + out.Message
			}
			fmt.Fprintln(a.stdout, line)
			if out.Status == playbooks.StatusFailed {
				return fmt.Errorf("playbook %s failed on %s: %s", pb.Name, d.Hostname, out.Reason)
			}
			return nil
		},
	}
	o.register(cmd)
	cmd.Flags().StringVar(&host, "device", "", "hostname of the device, as in the inventory")
	keyValuesVar(cmd.Flags(), &params, "param", "parameter value k=v, repeatable; the value is taken literally after the first =; a list's items are comma-separated")
	return cmd
}
