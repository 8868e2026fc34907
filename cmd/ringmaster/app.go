package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/store"
)

// Exit codes.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

// usageError marks an error in how the command was called (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// app is what every command shares: flags, streams, the clock and the store.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time
	// clock, when set, is the time the scheduler and playbooks run on
	// instead of the wall clock (the demo's compressed simulated time;
	// now then reads it too).
	clock playbooks.Clock
	log   *slog.Logger

	dbPath   string
	logLevel string
	// maxFileSize bounds the input files commands read (--max-file-size);
	// read them through fileLimit.
	maxFileSize int64
	db          store.DB // see wire.go
	keyPath     string   // the key file, when a command (the demo) sets its own
	// change is what the command tells the audit trail of its change
	// (audit.go).
	change *cliChange
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, now: time.Now}
	if fixed := getenv("RINGMASTER_NOW"); fixed != "" { // reproducible output for tests and demos
		t, err := time.Parse(time.RFC3339, fixed)
		if err != nil {
			fmt.Fprintf(stderr, "error: RINGMASTER_NOW %q: want RFC 3339 such as 2026-01-02T15:04:05Z\n", fixed)
			return exitUsage
		}
		a.now = func() time.Time { return t }
	}
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if cmd != nil {
		if aerr := a.recordCLI(ctx, cmd, cmd.Flags().Args(), err); aerr != nil && err == nil {
			err = aerr
		}
	}
	a.close()
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "error: %s\n", terminalSafe(err.Error()))
	var ue usageError
	var se *inventory.SelectorError
	var unreadable *alerts.UnreadableError
	switch {
	case errors.As(err, &ue), errors.As(err, &se):
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", commandPath(root, args))
		return exitUsage
	case errors.As(err, &unreadable):
		fmt.Fprintf(stderr, "Remove it with 'ringmaster alert remove %s', then add it again from a file within the limits.\n", unreadable.ID)
	}
	return exitRuntime
}

// args wraps a cobra argument validator so its errors are usage errors.
func args(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := v(cmd, a); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// group makes a command that only holds subcommands: alone it prints its
// help; with an unknown subcommand it is a usage error.
func group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, a []string) error {
		if len(a) > 0 {
			msg := fmt.Sprintf("unknown command %q for %q", a[0], c.CommandPath())
			if s := c.SuggestionsFor(a[0]); len(s) > 0 {
				msg += fmt.Sprintf("; did you mean %q?", s[0])
			}
			return usageError{errors.New(msg)}
		}
		return c.Help()
	}
	return cmd
}

func commandPath(root *cobra.Command, args []string) string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		return root.Name()
	}
	return cmd.CommandPath()
}

// actor is who runs this command, recorded with every campaign decision
// and label change: $RINGMASTER_ACTOR (a shared service account, tests),
// else the operating system's user.
func (a *app) actor() string {
	if v := a.getenv("RINGMASTER_ACTOR"); v != "" {
		return v
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return a.getenv("USER")
}
