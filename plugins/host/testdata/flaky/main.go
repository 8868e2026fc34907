// Command flaky is a test executor plugin that misbehaves on request:
// Exec "crash" exits the process, "hang" never returns, "garbage" answers
// with an error kind no host knows, "env" writes the names of its
// environment variables to stdout, one a line; anything else is echoed.
package main

import (
	"context"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

type flaky struct{ log hclog.Logger }

func (flaky) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "flaky", Version: "1.0.0", Capabilities: []string{"exec"}}, nil
}

func (flaky) Probe(context.Context, sdk.Target) (sdk.ProbeResult, error) {
	return sdk.ProbeResult{}, &sdk.Error{Kind: sdk.Unreachable, Op: "probe"}
}

func (f flaky) Exec(ctx context.Context, t sdk.Target, c sdk.Command, out func(sdk.Chunk)) (sdk.Result, error) {
	f.log.Info("running a command", "script", c.Script)
	switch c.Script {
	case "crash":
		os.Exit(3)
	case "hang":
		select {} // ignores even its context
	case "garbage":
		return sdk.Result{}, &sdk.Error{Kind: "sideways", Op: "exec"}
	case "env":
		var names []string
		for _, kv := range os.Environ() {
			name, _, _ := strings.Cut(kv, "=")
			names = append(names, name)
		}
		sort.Strings(names)
		c.Script = strings.Join(names, "\n")
	}
	if out != nil {
		out(sdk.Chunk{Stream: sdk.Stdout, Data: []byte(c.Script)})
	}
	return sdk.Result{Stdout: []byte(c.Script)}, nil
}

func main() {
	sdk.Serve(flaky{log: hclog.New(&hclog.LoggerOptions{Name: "flaky", JSONFormat: true, Output: os.Stderr})})
}
