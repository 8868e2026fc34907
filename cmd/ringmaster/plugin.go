package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/plugins/registry"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

func newPluginCmd(a *app) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "plugin",
		Aliases: []string{"plugins"},
		Short:   "Executor plugins: install (each pinned to its SHA-256), list, remove, test, and new (a module's skeleton)",
	})
	cmd.AddCommand(newPluginInstallCmd(a), newPluginListCmd(a), newPluginRemoveCmd(a), newPluginTestCmd(a), newPluginNewCmd(a))
	return cmd
}

func newPluginInstallCmd(a *app) *cobra.Command {
	var (
		name         string
		startTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "install PATH [--name NAME]",
		Short: "Register an executor plugin binary and its SHA-256",
		Long: `Register an executor plugin: its path and the SHA-256 of the binary as it is
now. The plugin is started once to check it speaks the protocol; its name is
the one it reports unless --name is given. Later, a binary that no longer has
this digest is refused; install it again to accept a change.

The file and every directory above it must be owned by root or by the user
running ringmaster and be writable by no one else (so not under /tmp), or
someone else could replace the plugin; such a plugin is refused, at install
and at every start. A file that has not completed the plugin handshake
within --start-timeout is stopped, with anything it started, and refused.`,
		Example: "  ringmaster plugin install /opt/ringmaster/plugins/ringmaster-executor-ssh\n  ringmaster exec pc1.rxx.nhs.uk --executor ssh -- hostname",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			r, err := a.pluginRegistry(cmd.Context())
			if err != nil {
				return err
			}
			p, err := r.Install(cmd.Context(), argv[0], registry.InstallOptions{Name: name, StartTimeout: startTimeout})
			var reported *registry.ReportedNameError
			var bad *host.NameError
			var slow *host.HandshakeError
			switch {
			case errors.As(err, &reported):
				return usagef("%s reports a name that cannot be registered (%w); give --name", reported.Path, reported.Err)
			case errors.As(err, &bad):
				return usageError{err}
			case errors.As(err, &slow) && slow.Timeout > 0:
				return fmt.Errorf("%w (if it is a plugin that needs longer to start, raise --start-timeout)", err)
			case err != nil:
				return err
			}
			fmt.Fprintf(a.stdout, "installed plugin %s %s, protocol version %d (%s) sha256:%s\n", p.Name, printable(p.Version), p.Protocol, p.Path, p.SHA256)
			return nil
		},
	}
	cmd.Flags().DurationVar(&startTimeout, "start-timeout", host.DefaultStartTimeout, "refuse the file if it has not completed the plugin handshake within this long")
	cmd.Flags().StringVar(&name, "name", "", "name to register it under: lower-case letters, digits, - and _ (default: the name it reports)")
	return cmd
}

func newPluginListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List executors: the built-in one and the registered plugins, with their status",
		Example: "  ringmaster plugin list",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.pluginRegistry(cmd.Context())
			if err != nil {
				return err
			}
			list, err := r.List(cmd.Context())
			if err != nil {
				return err
			}
			tw := newTable(a.stdout, "NAME", "VERSION", "PROTOCOL", "STATUS", "SHA256", "PATH")
			for _, p := range list {
				if p.Health == registry.BuiltIn {
					row(tw, p.Name, "-", strconv.Itoa(sdk.ProtocolVersion), string(p.Health), "-", "(this binary)")
					continue
				}
				version, protocol := printable(p.Version), strconv.Itoa(p.Protocol)
				if p.Version == "" {
					version = "-"
				}
				if p.Protocol == 0 { // installed before the protocol was recorded
					protocol = "-"
				}
				name, status := p.Name, string(p.Health)
				var unsafe *host.UnsafePathError
				switch {
				case p.Health == registry.InvalidName:
					// Shown quoted, so that it cannot write to the terminal.
					name, status = strconv.Quote(name), "invalid name: remove it and install again with --name"
				case errors.As(p.Err, &unsafe):
					status = fmt.Sprintf("refused: %s has mode %04o, owner uid %d", unsafe.Path, unsafe.Mode, unsafe.UID)
				case p.Health == registry.Refused:
					status = "refused: " + p.Err.Error()
				case p.Health == registry.Changed:
					status = "changed: refused until reinstalled"
				case p.Health == registry.OtherProtocol:
					status = fmt.Sprintf("refused: this Ringmaster speaks protocol version %d; rebuild the plugin against its plugins/sdk and install it again", sdk.ProtocolVersion)
				}
				row(tw, name, version, protocol, status, p.SHA256[:16]+"...", printable(p.Path))
			}
			return tw.Flush()
		},
	}
}

func newPluginRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"rm"},
		Short:   "Forget a registered plugin (the binary is left alone)",
		Example: "  ringmaster plugin remove ssh",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			r, err := a.pluginRegistry(cmd.Context())
			if err != nil {
				return err
			}
			if err := r.Remove(cmd.Context(), argv[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "removed plugin %s\n", argv[0])
			return nil
		},
	}
}

// printable returns s as it is if it is printable, else quoted, so that
// text from a plugin or an old registry cannot write escapes to a
// terminal.
func printable(s string) string {
	if q := strconv.Quote(s); q[1:len(q)-1] != s {
		return q
	}
	return s
}
