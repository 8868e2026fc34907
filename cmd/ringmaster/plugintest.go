package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/credentials"
	"github.com/ringmaster-fleet/ringmaster/plugins/certify"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/plugins/registry"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/conformance"
)

func newPluginTestCmd(a *app) *cobra.Command {
	var (
		t                    sdk.Target
		caFile, unreachable  string
		passwordStdin        bool
		startTimeout, prompt time.Duration
	)
	cmd := &cobra.Command{
		Use:   "test PATH|NAME [--address HOST:PORT --username USER --password-stdin]",
		Short: "Check an executor plugin against the contract, through the plugin boundary, on a device",
		Long: `Check an executor plugin as Ringmaster will use it: started as a plugin
process, pinned to its SHA-256, spoken to over gRPC, and put through every
check of the conformance kit (` + strings.Join(conformance.Checks(), ", ") + `).
PATH is a plugin file (with a / in it, e.g. ./ringmaster-executor-agent);
NAME is a plugin registered with ringmaster plugin install, or the built-in
winrm.

Without --address, the device is a simulated Windows 10 machine started for
the test, served over WinRM on HTTPS with NTLM logons: that suits an
executor that speaks WinRM. For another transport, name a device with
--address (a real one, or your own fake in front of plugins/sdk/testdevice),
its --username and, on standard input, its password; the kit also tries a
wrong password and an address where nothing listens (--unreachable).

Each check is printed with PASS or FAIL and, for a failure, why. The exit
status is 0 only when every check passed. docs/plugins.md is the guide.`,
		Example: `  ringmaster plugin test ./ringmaster-executor-mine
  printf '%s' "$AGENT_TOKEN" | ringmaster plugin test ./ringmaster-executor-agent --address 127.0.0.1:8443 --password-stdin`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			spec, err := a.pluginSpec(cmd, argv[0])
			if err != nil {
				return err
			}
			var targets certify.Targets
			if t.Address == "" {
				for _, name := range deviceFlags {
					if cmd.Flags().Changed(name) {
						return usagef("--%s describes a device given with --address; the simulated device needs none", name)
					}
				}
				var stop func()
				if targets, stop, err = certify.Simulated(ctx); err != nil {
					return err
				}
				defer stop()
			} else {
				if _, _, err := net.SplitHostPort(t.Address); err != nil {
					return usagef("--address %q: want HOST:PORT", t.Address)
				}
				if !passwordStdin {
					return usagef("give the device's password (or token) on standard input with --password-stdin")
				}
				secret, err := credentials.ReadSecret(a.stdin)
				if err != nil {
					return err
				}
				t.Password = secret
				if caFile != "" {
					if t.CACertPEM, err = a.fileLimit().ReadFile(caFile); err != nil {
						return fmt.Errorf("--ca-file: %w", err)
					}
				}
				for k, v := range t.Options {
					if file, ok := strings.CutPrefix(v, "@"); ok {
						b, err := a.fileLimit().ReadFile(file)
						if err != nil {
							return fmt.Errorf("--option %s: %w", k, err)
						}
						t.Options[k] = string(b)
					}
				}
				if targets, err = certify.Named(t, unreachable); err != nil {
					return usageError{err}
				}
			}
			fmt.Fprintf(a.stdout, "device: %s\n", targets.Describe)
			rep, err := certify.Run(ctx, spec, certify.Options{Targets: targets, StartTimeout: startTimeout, Prompt: prompt, Logger: a.log},
				func(r conformance.Result) {
					verdict := "PASS"
					if !r.Passed() {
						verdict = "FAIL"
					}
					fmt.Fprintf(a.stdout, "%s  %-40s %s\n", verdict, r.Check, r.Took.Round(time.Millisecond))
					for _, p := range r.Problems {
						fmt.Fprintf(a.stdout, "      %s\n", escapeControls(p))
					}
				})
			if err != nil {
				return err
			}
			failed := rep.Failed()
			fmt.Fprintf(a.stdout, "plugin %s %s, protocol version %d: %d of %d checks passed\n",
				printable(rep.Info.Name), printable(rep.Info.Version), rep.Protocol, len(rep.Results)-len(failed), len(rep.Results))
			if len(failed) > 0 {
				return fmt.Errorf("%s failed %d checks: %s", spec.Name, len(failed), strings.Join(failed, ", "))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&t.Address, "address", "", "the device to check against, HOST:PORT (default: a simulated Windows device over WinRM, started for the test)")
	f.StringVar(&t.Hostname, "hostname", "", "the device's DNS name, as the inventory would give it (default: the host of --address)")
	f.StringVar(&t.Username, "username", "", "the user to log on as")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the device's password (or token) from standard input")
	f.StringVar(&t.Auth, "auth", "", "authentication scheme, as the executor documents it")
	f.BoolVar(&t.HTTPS, "https", false, "connect with TLS")
	f.StringVar(&caFile, "ca-file", "", "PEM bundle of the CAs that sign the device's certificate")
	f.BoolVar(&t.InsecureSkipVerify, "insecure-skip-verify", false, "do not verify the device's certificate or host key (testing only)")
	f.DurationVar(&t.ConnectTimeout, "connect-timeout", 10*time.Second, "connect and round-trip timeout")
	keyValuesVar(f, &t.Options, "option", "executor option key=value, repeatable; a value @FILE is read from FILE (e.g. known_hosts=@known_hosts for ssh)")
	f.StringVar(&unreachable, "unreachable", "", "HOST:PORT where nothing answers, for the unreachable check (default: an unused loopback port)")
	f.DurationVar(&startTimeout, "start-timeout", host.DefaultStartTimeout, "refuse the plugin if it has not completed the handshake within this long")
	f.DurationVar(&prompt, "prompt", 10*time.Second, "how soon a command's timeout or a cancel must take effect")
	return cmd
}

// deviceFlags describe the device plugin test checks against, and mean
// nothing without --address.
var deviceFlags = []string{"hostname", "username", "password-stdin", "auth", "https", "ca-file", "insecure-skip-verify", "option", "unreachable"}

// pluginSpec says how to start PATH|NAME: a file (a path with a slash),
// checked and pinned as it is now; the built-in executor; or a registered
// plugin, pinned as registered.
func (a *app) pluginSpec(cmd *cobra.Command, pathOrName string) (host.Spec, error) {
	if strings.Contains(pathOrName, "/") {
		return registry.FileSpec(pathOrName)
	}
	if _, ok := builtinExecutors[pathOrName]; ok {
		return host.Spec{Name: pathOrName, Self: true, Args: []string{"executor-plugin", pathOrName}}, nil
	}
	r, err := a.pluginRegistry(cmd.Context())
	if err != nil {
		return host.Spec{}, err
	}
	return r.Spec(cmd.Context(), pathOrName)
}

// escapeControls writes the control characters in s (which may carry text
// from a plugin or a device) as Go escapes, so that they cannot reach a
// terminal, and leaves the rest as it is.
func escapeControls(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
