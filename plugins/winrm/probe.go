package winrm

import (
	"context"
	"time"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// FactsScript is the SDK's Windows facts script (kept as a name here for
// benchmarks that run the same script without the executor).
const FactsScript = sdk.WindowsFactsScript

// Probe implements sdk.Executor.
func (e *Executor) Probe(ctx context.Context, t sdk.Target) (sdk.ProbeResult, error) {
	res, err := e.Exec(ctx, t, sdk.Command{Shell: sdk.PowerShell, Script: sdk.WindowsFactsScript}, nil)
	if err != nil && !sdk.IsKind(err, sdk.CommandFailed) {
		if se, ok := err.(*sdk.Error); ok {
			se.Op = "probe"
		}
		return sdk.ProbeResult{}, err
	}
	facts, perr := sdk.ParseWindowsFacts(string(res.Stdout))
	if perr != nil {
		return sdk.ProbeResult{}, &sdk.Error{Kind: sdk.Protocol, Op: "probe", Target: t.Hostname, Err: perr}
	}
	return sdk.ProbeResult{Facts: facts, ObservedAt: time.Now().UTC()}, nil
}
