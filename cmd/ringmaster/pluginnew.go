package main

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"runtime/debug"
	"slices"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/plugins/scaffold"
)

func newPluginNewCmd(a *app) *cobra.Command {
	var o scaffold.Options
	var dir string
	cmd := &cobra.Command{
		Use:   "new NAME [--dir DIR] [--module PATH] [--ringmaster-source DIR]",
		Short: "Write the skeleton of a new executor plugin module",
		Long: `Write the skeleton of a new executor plugin: a Go module (go.mod, main.go,
executor.go, executor_test.go, README.md) that compiles and passes go vet.
Its test runs Ringmaster's conformance kit against a simulated Windows
device and fails, check by check, saying what to write, until the executor
is written; then build it, check it with ringmaster plugin test and
register it with ringmaster plugin install. docs/plugins.md is the guide.

The module requires this Ringmaster's release. With --ringmaster-source (a
checkout of Ringmaster's source, needed for a development build) it is
built against that checkout instead, with a copy of its requirements and
go.sum, so that it builds offline from the module cache that built
Ringmaster. Nothing is written if the directory holds any of the files.`,
		Example: `  ringmaster plugin new mdm --module example.org/ringmaster-executor-mdm
  ringmaster plugin new mdm --ringmaster-source ~/src/ringmaster`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, argv []string) error {
			o.Name, o.Reserved = argv[0], slices.Sorted(maps.Keys(builtinExecutors))
			if o.Source == "" {
				if bi, ok := debug.ReadBuildInfo(); ok {
					o.Version = bi.Main.Version
				}
			}
			if dir == "" {
				dir = "ringmaster-executor-" + o.Name
			}
			files, err := scaffold.Write(dir, o)
			var bad *host.NameError
			var exists *scaffold.ExistsError
			var devel *scaffold.DevelopmentError
			switch {
			case errors.As(err, &bad), errors.As(err, &exists):
				return usageError{err}
			case errors.As(err, &devel):
				return usagef("%w: give --ringmaster-source, the checkout it was built from", err)
			case err != nil:
				return err
			}
			for _, f := range files {
				fmt.Fprintf(a.stdout, "wrote %s\n", filepath.Join(dir, f.Path))
			}
			fmt.Fprintf(a.stdout, "next: cd %s && go test ./...  (it fails, saying what to write; docs/plugins.md is the guide)\n", dir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "directory to write the module into (default ./ringmaster-executor-NAME)")
	f.StringVar(&o.Module, "module", "", "the module's path (default example.com/ringmaster-executor-NAME)")
	f.StringVar(&o.Source, "ringmaster-source", "", "build against this Ringmaster source checkout (a replace directive, its go.sum copied) instead of a release")
	return cmd
}
