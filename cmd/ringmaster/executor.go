package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/credential"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm"
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
			sdk.Serve(newExec())
			return nil
		},
	}
}

// startBuiltinExecutor runs a built-in executor out of process, from this
// very binary: the host executes the file this process is running, so
// there is nothing to pin.
func startBuiltinExecutor(ctx context.Context, name string, log *slog.Logger) (*host.Plugin, error) {
	return host.Start(ctx, host.Spec{Name: name, Self: true, Args: []string{"executor-plugin", name}}, log)
}

// target builds how to reach a device: its address (else hostname), HTTPS
// when the port is 5986 or --https says so, and the device's credential,
// else its organisation's.
func (a *app) target(ctx context.Context, d *inventory.Device, o targetFlags) (sdk.Target, error) {
	r, err := a.newTargets(ctx, o)
	if err != nil {
		return sdk.Target{}, err
	}
	return r.target(ctx, d)
}

// reach looks a device up in the inventory, builds its target and starts
// the executor to reach it with; the caller closes the executor.
func (a *app) reach(ctx context.Context, hostname string, o targetFlags) (inventory.Device, sdk.Target, *host.Plugin, error) {
	s, err := a.open(ctx)
	if err != nil {
		return inventory.Device{}, sdk.Target{}, nil, err
	}
	d, err := s.Device(ctx, hostname)
	if err != nil {
		return inventory.Device{}, sdk.Target{}, nil, err
	}
	t, err := a.target(ctx, &d, o)
	if err != nil {
		return inventory.Device{}, sdk.Target{}, nil, err
	}
	x, err := a.startExecutor(ctx, o.executor)
	if err != nil {
		return inventory.Device{}, sdk.Target{}, nil, err
	}
	return d, t, x, nil
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

// targets resolves devices to targets, opening each credential once.
type targets struct {
	a     *app
	o     targetFlags
	ca    []byte
	orgs  map[string]string // org code -> default credential
	creds map[string][2]string
	keys  *credential.Keyring
	// unchecked: no check value is recorded for the stored credentials'
	// key yet (a database from before them); keys records it on first use.
	unchecked bool
}

func (a *app) newTargets(ctx context.Context, o targetFlags) (*targets, error) {
	s, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	if err := o.checkAuth(a.stderr); err != nil {
		return nil, err
	}
	r := &targets{a: a, o: o, orgs: map[string]string{}, creds: map[string][2]string{}}
	orgs, err := s.Organisations(ctx)
	if err != nil {
		return nil, err
	}
	for _, org := range orgs {
		r.orgs[org.Code] = org.Credential
	}
	if o.caFile != "" {
		if r.ca, err = a.fileLimit().ReadFile(o.caFile); err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
	}
	opts := map[string]string{}
	for k, v := range o.options {
		if file, ok := strings.CutPrefix(v, "@"); ok {
			b, err := a.fileLimit().ReadFile(file)
			if err != nil {
				return nil, fmt.Errorf("--option %s: %w", k, err)
			}
			v = string(b)
		}
		opts[k] = v
	}
	if o.basicWithoutTLS {
		opts[winrm.OptionAllowBasicWithoutTLS] = "true"
	}
	r.o.options = opts
	return r, nil
}

// checkAuth refuses Basic authentication where the password would cross
// the network readable (plain HTTP, or TLS whose certificate is not
// verified) unless --allow-basic-without-tls says so, and then warns.
// Devices whose address is on port 5986 use HTTPS too, but --auth basic
// asks for --https so that the choice is explicit for every device.
func (o *targetFlags) checkAuth(stderr io.Writer) error {
	if !strings.EqualFold(o.auth, "basic") {
		return nil
	}
	exposed := !o.https || o.insecure
	switch {
	case exposed && !o.basicWithoutTLS && !o.https:
		return usagef("--auth basic without --https would send passwords in clear: add --https (with --ca-file if the devices' certificates are from a private CA), use --auth ntlm, or add --allow-basic-without-tls to accept that")
	case exposed && !o.basicWithoutTLS:
		return usagef("--auth basic with --insecure-skip-verify would hand passwords to whoever answers: verify certificates (--ca-file), use --auth ntlm, or add --allow-basic-without-tls to accept that")
	case exposed:
		fmt.Fprintln(stderr, "warning: --allow-basic-without-tls: passwords cross the network where anyone on the path can read them")
	}
	return nil
}

func (r *targets) target(ctx context.Context, d *inventory.Device) (sdk.Target, error) {
	credName := d.Credential
	if credName == "" {
		credName = r.orgs[d.Org]
	}
	if credName == "" {
		return sdk.Target{}, fmt.Errorf("device %s has no credential and organisation %s has none either (ringmaster org set-credential %s NAME)", d.Hostname, d.Org, d.Org)
	}
	c, ok := r.creds[credName]
	if !ok {
		s, err := r.a.open(ctx)
		if err != nil {
			return sdk.Target{}, err
		}
		stored, err := s.Credential(ctx, credName)
		if err != nil {
			return sdk.Target{}, err
		}
		if r.keys == nil {
			if r.keys, r.unchecked, err = r.a.unsealingKeyring(ctx, s); err != nil {
				return sdk.Target{}, err
			}
		}
		secret, err := r.keys.Open(stored.Name, stored.Sealed)
		if err != nil {
			return sdk.Target{}, fmt.Errorf("credential %s: %w (key file %s)", stored.Name, err, r.a.keyFile())
		}
		if r.unchecked {
			// A database from before check values: the key that opened
			// a credential is theirs.
			if err := s.RecordKeyCheck(ctx, r.keys.Check()); errors.Is(err, inventory.ErrConflict) {
				return sdk.Target{}, keyMismatch(r.a.keyFile())
			} else if err != nil {
				return sdk.Target{}, err
			}
			r.unchecked = false
		}
		c = [2]string{stored.Username, secret}
		r.creds[credName] = c
	}
	o := r.o
	return sdk.Target{Hostname: d.Hostname, Address: d.Address, HTTPS: o.https || strings.HasSuffix(d.Address, ":5986"),
		CACertPEM: r.ca, InsecureSkipVerify: o.insecure, Auth: o.auth, Username: c[0], Password: c[1], ConnectTimeout: o.connect,
		Options: o.options}, nil
}

type targetFlags struct {
	https, insecure        bool
	basicWithoutTLS        bool
	auth, caFile, executor string
	connect                time.Duration
	options                map[string]string
}

func (o *targetFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.https, "https", false, "use HTTPS (also chosen by an address on port 5986)")
	f.StringVar(&o.caFile, "ca-file", "", "PEM bundle of the CAs that sign the devices' WinRM certificates (default: system roots)")
	f.BoolVar(&o.insecure, "insecure-skip-verify", false, "do not verify the device's certificate (testing only)")
	f.StringVar(&o.auth, "auth", "ntlm", "authentication: ntlm (Negotiate) or basic (basic needs HTTPS with a verified certificate)")
	f.BoolVar(&o.basicWithoutTLS, "allow-basic-without-tls", false, "let --auth basic send passwords over plain HTTP or unverified TLS, where anyone on the path can read them (isolated labs only)")
	f.DurationVar(&o.connect, "connect-timeout", 30*time.Second, "connect and round-trip timeout")
	f.StringVar(&o.executor, "executor", "winrm", "executor: the built-in winrm, or a plugin registered with ringmaster plugin install")
	keyValuesVar(f, &o.options, "option", "executor option key=value, repeatable; a value @FILE is read from FILE (e.g. known_hosts=@~/.ssh/known_hosts for ssh)")
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
			_, t, x, err := a.reach(ctx, argv[0], o)
			if err != nil {
				return err
			}
			defer x.Close()
			_, err = x.Exec(ctx, t, sdk.Command{Shell: sdk.Shell(shell), Script: strings.Join(argv[1:], " "), Timeout: timeout}, a.writeChunk)
			return err
		},
	}
	o.register(cmd)
	cmd.Flags().StringVar(&shell, "shell", "powershell", "powershell or cmd")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up on the command after this long")
	return cmd
}
