package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/internal/plugintest"
)

// goIn runs the go command in dir as a plugin author would, with the module
// proxy off: the module must build from what it was written with.
func goIn(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=readonly", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The implementation the test writes where the skeleton says to: an
// executor that reaches devices over WinRM (through Ringmaster's public
// winrm package, as a plugin adding its own policy would) and logs both
// ways the guide describes.
const authoredExecutor = `package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm"
)

const version = "0.1.0"

var log = sdk.Logger(slog.LevelDebug)

// Executor reaches devices over WinRM.
type Executor struct{ w sdk.Executor }

// New returns the executor.
func New() *Executor { return &Executor{w: winrm.New(winrm.Options{})} }

// Info implements sdk.Executor.
func (*Executor) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "mine", Version: version, Capabilities: []string{"probe", "exec", "powershell", "cmd", "stream"}}, nil
}

// Probe implements sdk.Executor.
func (e *Executor) Probe(ctx context.Context, t sdk.Target) (sdk.ProbeResult, error) {
	log.Info("mine is probing", "device", t.Hostname)
	return e.w.Probe(ctx, t)
}

// Exec implements sdk.Executor.
func (e *Executor) Exec(ctx context.Context, t sdk.Target, c sdk.Command, out func(sdk.Chunk)) (sdk.Result, error) {
	fmt.Fprintln(os.Stderr, "mine runs a command on", t.Hostname)
	return e.w.Exec(ctx, t, c, out)
}
`

const authoredTest = `package main

import (
	"context"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/plugins/certify"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/conformance"
)

func TestConformance(t *testing.T) {
	d, stop, err := certify.Simulated(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	conformance.Run(t, conformance.Harness{Executor: New(), Target: d.Reachable, Unreachable: d.Unreachable, BadCredentials: d.BadCredentials})
}
`

// TestPluginAuthorPath follows docs/plugins.md from an empty directory to a
// campaign, with the module proxy off: plugin new writes a module that
// passes go vet and whose test fails saying what to write; once written,
// it passes its test, plugin test over gRPC, is installed, and runs a
// campaign on the simulated estate, its logs in Ringmaster's.
func TestPluginAuthorPath(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a new module")
	}
	source, err := filepath.Abs(filepath.Join(wd, "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	_, call, _ := fleetEstate(t, 4, nil)
	mod := filepath.Join(plugintest.Dir(t), "mine")

	o, e, code := call("", "plugin", "new", "mine", "--dir", mod, "--ringmaster-source", source)
	if code != 0 || !strings.Contains(o, "wrote "+filepath.Join(mod, "executor_test.go")) {
		t.Fatalf("plugin new: exit %d\n%s%s", code, o, e)
	}
	if out, err := goIn(t, mod, "vet", "./..."); err != nil {
		t.Fatalf("go vet of the skeleton: %v\n%s", err, out)
	}
	out, err := goIn(t, mod, "test", "./...")
	if err == nil || !strings.Contains(out, "not written yet: write exec in executor.go, then run go test") {
		t.Fatalf("the skeleton's test: %v, want a failure saying what to write:\n%s", err, out)
	}

	for name, body := range map[string]string{"executor.go": authoredExecutor, "executor_test.go": authoredTest} {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := goIn(t, mod, "test", "./..."); err != nil {
		t.Fatalf("go test once written: %v\n%s", err, out)
	}
	bin := filepath.Join(mod, "ringmaster-executor-mine")
	if out, err := goIn(t, mod, "build", "-o", bin, "."); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	if o, e, code := call("", "plugin", "test", bin); code != 0 || !strings.Contains(o, "plugin mine 0.1.0, protocol version 1: 10 of 10 checks passed") {
		t.Fatalf("plugin test: exit %d\n%s%s", code, o, e)
	}
	if o, e, code := call("", "plugin", "install", bin); code != 0 || !strings.Contains(o, "installed plugin mine 0.1.0, protocol version 1") {
		t.Fatalf("plugin install: exit %d\n%s%s", code, o, e)
	}
	if o, _, _ := call("", "plugin", "list"); !strings.Contains(o, "mine") || !strings.Contains(o, "0.1.0") || !strings.Contains(o, " ok ") {
		t.Errorf("plugin list:\n%s", o)
	}
	if o, e, code := call("", "org", "set-connection", "--default", "--executor", "mine"); code != 0 {
		t.Fatalf("set-connection: exit %d\n%s%s", code, o, e)
	}
	os.WriteFile("c.yaml", []byte("name: with-mine\nplaybook: discover\ntarget: 'org in (RA,RB)'\nwaves:\n  - {name: all}\n"), 0o644)
	for _, argv := range [][]string{{"campaign", "create", "-f", "c.yaml"}, {"campaign", "start", "with-mine"}} {
		if o, e, code := call("", argv...); code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", argv, code, o, e)
		}
	}
	o, e, code = call("", "run", "--until-done", "--view", "plain", "--workers", "2", "--log-level", "debug")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, o, e)
	}
	if o, _, _ := call("", "campaign", "show", "with-mine"); !strings.Contains(o, "campaign with-mine: done") || !strings.Contains(o, "all   done    4        0") {
		t.Errorf("the campaign did not finish:\n%s", o)
	}
	for _, want := range []string{`level=INFO msg="mine is probing" plugin=mine`, `level=INFO msg="mine runs a command on`} {
		if !strings.Contains(e, want) {
			t.Errorf("ringmaster's log lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("run's log:\n%s", e)
	}
}
