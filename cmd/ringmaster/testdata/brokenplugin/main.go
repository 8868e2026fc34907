// Command brokenplugin is a deliberately broken executor plugin, for the
// tests of ringmaster plugin test: it speaks the protocol, but its
// executor gets every check of the conformance kit wrong.
package main

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

type broken struct{}

func (broken) Info(context.Context) (sdk.Info, error) { return sdk.Info{Name: "broken"}, nil } // no version

func (broken) Probe(_ context.Context, t sdk.Target) (sdk.ProbeResult, error) {
	if strings.HasPrefix(t.Address, "127.0.0.1:") { // plugin test's unreachable device
		return sdk.ProbeResult{}, errors.New("dial failed") // untyped
	}
	return sdk.ProbeResult{Facts: sdk.Facts{OSBuild: "22H2", KBs: []string{"4499175"}}, ObservedAt: time.Now()}, nil
}

func (broken) Exec(ctx context.Context, t sdk.Target, c sdk.Command, _ func(sdk.Chunk)) (sdk.Result, error) {
	if len(t.Password) > 20 { // the kit's wrong password is the right one made longer
		return sdk.Result{}, errors.New("login as " + t.Username + " with " + t.Password + " failed")
	}
	if c.Script == "Start-Sleep -Seconds 120" {
		return sdk.Result{}, nil // ignores the timeout and the cancel, and says it ran
	}
	return sdk.Result{Stdout: []byte("ok")}, nil // never streams, never fails
}

func main() { sdk.Serve(broken{}) }
