package conformance_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/conformance"
)

// broken gets almost everything wrong: untyped errors, empty facts, lost
// exit codes, a password in its error text.
type broken struct{}

func (broken) Info(context.Context) (sdk.Info, error) { return sdk.Info{}, nil }

func (broken) Probe(_ context.Context, t sdk.Target) (sdk.ProbeResult, error) {
	if t.Address == "nowhere" {
		return sdk.ProbeResult{}, errors.New("dial failed")
	}
	return sdk.ProbeResult{Facts: sdk.Facts{OSBuild: "22H2", KBs: []string{"4499175"}}}, nil
}

func (broken) Exec(_ context.Context, t sdk.Target, c sdk.Command, _ func(sdk.Chunk)) (sdk.Result, error) {
	if t.Password == "wrong" {
		return sdk.Result{}, errors.New("login as " + t.Username + " with " + t.Password + " failed")
	}
	return sdk.Result{Stdout: []byte("ok")}, nil
}

func TestKitCatchesABrokenExecutor(t *testing.T) {
	h := conformance.Harness{
		Executor:       broken{},
		Target:         sdk.Target{Address: "here", Username: "u", Password: "right"},
		Unreachable:    sdk.Target{Address: "nowhere"},
		BadCredentials: sdk.Target{Address: "here", Username: "u", Password: "wrong"},
	}
	text, checked := "", 0
	for r := range conformance.Evaluate(context.Background(), h) {
		if r.Check != conformance.Checks()[checked] {
			t.Errorf("result %d is of check %q, want %q", checked, r.Check, conformance.Checks()[checked])
		}
		checked++
		for _, p := range r.Problems {
			text += r.Check + ": " + p + "\n"
		}
		if strings.Contains(strings.Join(r.Problems, " "), "wrong") {
			t.Errorf("%s: a problem repeats the password it reports: %q", r.Check, r.Problems)
		}
	}
	if checked != len(conformance.Checks()) {
		t.Errorf("Evaluate yielded %d results for %d checks", checked, len(conformance.Checks()))
	}
	for _, want := range []string{
		"info: Info must name the executor",
		`probe facts: facts: OS build "22H2" is not major.minor.build`,
		`probe facts: facts: KB "4499175" is not KB followed by digits`,
		`exec stdout and streaming: Write-Output: stdout "ok"`,
		"exit codes: no error; want one of kind command_failed",
		"stderr: an unknown cmdlet's error is not on stderr",
		"timeout honoured: no error; want one of kind timed_out",
		"cancellation prompt: no error; want one of kind cancelled",
		`unreachable typed: error "dial failed" is not an *sdk.Error`,
		"bad credentials typed and secret-free: the error reveals a password",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the kit did not report %q; it reported:\n%s", want, text)
		}
	}
}
