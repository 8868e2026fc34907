package sdk_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// echoExecutor is the smallest useful executor: it "runs" a script by
// echoing it. A real one reaches devices over its transport; its main is
// just sdk.Serve(New()).
type echoExecutor struct{}

func (echoExecutor) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "echo", Version: "1.0.0", Capabilities: []string{"exec"}}, nil
}

func (echoExecutor) Probe(_ context.Context, t sdk.Target) (sdk.ProbeResult, error) {
	return sdk.ProbeResult{}, &sdk.Error{Kind: sdk.Unreachable, Op: "probe", Target: t.Hostname, Err: fmt.Errorf("echo cannot probe")}
}

func (echoExecutor) Exec(ctx context.Context, t sdk.Target, c sdk.Command, out func(sdk.Chunk)) (sdk.Result, error) {
	if err := ctx.Err(); err != nil {
		return sdk.Result{}, &sdk.Error{Kind: sdk.Cancelled, Op: "exec", Target: t.Hostname, Err: err}
	}
	data := []byte(strings.ToUpper(c.Script) + "\n")
	if out != nil {
		out(sdk.Chunk{Stream: sdk.Stdout, Data: data})
	}
	return sdk.Result{Stdout: data, Duration: time.Millisecond}, nil
}

// An executor is a type with three methods; this one is called directly.
// Its plugin's main would be `func main() { sdk.Serve(echoExecutor{}) }`,
// and plugins/sdk/conformance checks it from go test.
func Example() {
	var x sdk.Executor = echoExecutor{}
	res, err := x.Exec(context.Background(), sdk.Target{Hostname: "pc1.rxx.nhs.uk"}, sdk.Command{Shell: sdk.PowerShell, Script: "hello"},
		func(c sdk.Chunk) { fmt.Printf("%s: %s", c.Stream, c.Data) })
	fmt.Println(err, res.ExitCode)
	_, err = x.Probe(context.Background(), sdk.Target{Hostname: "pc1.rxx.nhs.uk"})
	fmt.Println(sdk.KindOf(err), sdk.KindOf(err).Retryable())
	// Output:
	// stdout: HELLO
	// <nil> 0
	// unreachable true
}
