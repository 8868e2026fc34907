package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

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
