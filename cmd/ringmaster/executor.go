package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm"
	"github.com/ringmaster-fleet/ringmaster/store"
	"github.com/ringmaster-fleet/ringmaster/targets"
)

// builtinExecutors are served by this binary itself, re-executed as a
// plugin (the way Packer bundles its plugins), so that the built-in
// executors cross the same process boundary as anyone else's.
var builtinExecutors = map[string]func() sdk.Executor{
	"winrm": func() sdk.Executor { return winrm.New(winrm.Options{}) },
}

// executorPluginCmd is the hidden entry point the host starts; run by hand
// it refuses, as go-plugin does without the handshake cookie.
func newExecutorPluginCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "executor-plugin NAME",
		Short:   "Serve a built-in executor as a plugin (started by ringmaster itself)",
		Example: "  (not run by hand: ringmaster starts it)",
		Hidden:  true,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, argv []string) error {
			newExec, ok := builtinExecutors[argv[0]]
			if !ok {
				return usagef("no built-in executor %q", argv[0])
			}
			if os.Getenv(sdk.Handshake.MagicCookieKey) != sdk.Handshake.MagicCookieValue {
				return fmt.Errorf("this command is started by ringmaster as an executor plugin, not by hand")
			}
			// The executor's heap is small (a few MiB: requests, responses
			// and their parse trees) but churns with every WS-Management
			// response; at the default GOGC a busy run spends a fifth of
			// the plugin's CPU collecting it. The host filters GOGC out of
			// the plugin's environment, so this is the one setting.
			debug.SetGCPercent(400)
			sdk.Serve(newExec())
			return nil
		},
	}
}

// writeChunk copies a command's output to this process's stdout or stderr,
// as the device wrote it.
func (a *app) writeChunk(c sdk.Chunk) {
	w := a.stdout
	if c.Stream == sdk.Stderr {
		w = a.stderr
	}
	_, _ = w.Write(c.Data)
}

// resolver builds the targets.Resolver for the target flags over the
// inventory and its connection profiles, printing the warnings forced
// Basic authentication calls for, and putting errors in the flags' terms.
func (a *app) resolver(ctx context.Context, o targetFlags) (*targets.Resolver, error) {
	s, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	opts := o.targetOptions()
	r, err := targets.New(ctx, a.targetsConfig(s), opts)
	if err != nil {
		return nil, targetsError(err)
	}
	if warning, _ := opts.CheckAuth(); warning != "" {
		fmt.Fprintf(a.stderr, "warning: --allow-basic-without-tls: %s\n", warning)
	}
	for _, w := range r.Warnings() {
		fmt.Fprintf(a.stderr, "warning: %s\n", w)
	}
	return r, nil
}

// targetsError words the errors of targets' options in the flags' terms,
// which set-connection shares with the target flags; others it returns
// as they are.
func targetsError(err error) error {
	var (
		basic *targets.BasicAuthError
		file  *targets.FileError
	)
	switch {
	case errors.As(err, &basic):
		return basicAuthError(basic)
	case errors.As(err, &file) && file.Option == "":
		return fmt.Errorf("--ca-file: %w", file.Err)
	case errors.As(err, &file):
		return fmt.Errorf("--option %s: %w", file.Option, file.Err)
	}
	return err
}

// basicAuthError words a refusal of Basic authentication in the flags'
// terms, which set-connection shares with the target flags.
func basicAuthError(basic *targets.BasicAuthError) error {
	where := ""
	if basic.Profile != "" {
		where = " (" + basic.Profile + ")"
	}
	if basic.Unverified {
		return usagef("--auth basic with --insecure-skip-verify%s would hand passwords to whoever answers: verify certificates (--ca-file), use --auth ntlm, or add --allow-basic-without-tls to accept that", where)
	}
	return usagef("--auth basic without --https%s would send passwords in clear: add --https (with --ca-file if the devices' certificates are from a private CA), use --auth ntlm, or add --allow-basic-without-tls to accept that", where)
}

// targetsConfig wires a targets.Resolver to the stores, the key file and
// the executors.
func (a *app) targetsConfig(db store.DB) targets.Config {
	builtins := make(map[string]host.Spec, len(builtinExecutors))
	for name := range builtinExecutors {
		// This very binary, re-executed: there is nothing to pin.
		builtins[name] = host.Spec{Name: name, Self: true, Args: []string{"executor-plugin", name}}
	}
	return targets.Config{Organisations: db.Inventory(), Devices: db.Inventory(), Profiles: db.Inventory(), Credentials: db.Credentials(),
		KeyFile: a.keyFile(), Files: a.fileLimit(), Builtins: builtins, Plugins: db.Plugins(), Logger: a.log}
}

type targetFlags struct {
	https, insecure        bool
	basicWithoutTLS        bool
	auth, caFile, executor string
	port                   int
	connect                time.Duration
	options                map[string]string
}

// targetOptions are the flags as targets.Options: what is given
// overrides the devices' connection profiles.
func (o *targetFlags) targetOptions() targets.Options {
	return targets.Options{HTTPS: o.https, CAFile: o.caFile, Port: o.port, InsecureSkipVerify: o.insecure, Auth: o.auth,
		AllowBasicWithoutTLS: o.basicWithoutTLS, ConnectTimeout: o.connect, Executor: o.executor, ExecutorOptions: o.options}
}

func (o *targetFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.https, "https", false, "use HTTPS (also chosen by an address on port 5986; default: the connection profile's)")
	f.StringVar(&o.caFile, "ca-file", "", "PEM bundle of the CAs that sign the devices' WinRM certificates (default: the connection profile's, else system roots)")
	f.IntVar(&o.port, "port", 0, "port for devices whose address names none (default: the connection profile's, else 5985, or 5986 with HTTPS)")
	f.BoolVar(&o.insecure, "insecure-skip-verify", false, "do not verify the device's certificate (testing only)")
	f.StringVar(&o.auth, "auth", "", "authentication: ntlm (Negotiate) or basic (basic needs HTTPS with a verified certificate) (default: the connection profile's, else ntlm)")
	f.BoolVar(&o.basicWithoutTLS, "allow-basic-without-tls", false, "let --auth basic send passwords over plain HTTP or unverified TLS, where anyone on the path can read them (isolated labs only)")
	f.DurationVar(&o.connect, "connect-timeout", 30*time.Second, "connect and round-trip timeout")
	f.StringVar(&o.executor, "executor", "", "executor: the built-in winrm, or a plugin registered with ringmaster plugin install (default: the connection profile's, else winrm)")
	keyValuesVar(f, &o.options, "option", "executor option key=value, repeatable, over the connection profile's; a value @FILE is read from FILE (e.g. known_hosts=@~/.ssh/known_hosts for ssh)")
}

func newExecCmd(a *app) *cobra.Command {
	var (
		o       targetFlags
		shell   string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "exec HOSTNAME -- SCRIPT",
		Short: "Run one command on one device now, streaming its output",
		Long: `Run one command on one device through its executor (WinRM), streaming its
output. The device comes from the inventory; it logs on with its own
credential, else its organisation's. The script runs in PowerShell (default)
or cmd.`,
		Example: `  ringmaster exec pc000001.rxx.nhs.uk -- '(Get-CimInstance Win32_OperatingSystem).Version'
  ringmaster exec pc000001.rxx.nhs.uk --shell cmd -- ver`,
		Args: args(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return usagef("write the script after --, e.g. ringmaster exec HOST -- hostname")
			}
			if shell != string(sdk.PowerShell) && shell != string(sdk.Cmd) {
				return usagef("--shell %q: want powershell or cmd", shell)
			}
			ctx := cmd.Context()
			r, err := a.resolver(ctx, o)
			if err != nil {
				return err
			}
			_, t, x, closeX, err := r.Reach(ctx, argv[0])
			if err != nil {
				return err
			}
			defer closeX()
			_, err = x.Exec(ctx, t, sdk.Command{Shell: sdk.Shell(shell), Script: strings.Join(argv[1:], " "), Timeout: timeout}, a.writeChunk)
			return err
		},
	}
	o.register(cmd)
	cmd.Flags().StringVar(&shell, "shell", "powershell", "powershell or cmd")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up on the command after this long")
	return cmd
}
