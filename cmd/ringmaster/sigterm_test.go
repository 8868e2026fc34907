//go:build slow

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// TestRunStopsOnSIGTERM is what systemd does to the service
// (deploy/systemd/ringmaster-run.service, KillSignal=SIGTERM): ringmaster
// run, mid-campaign with upgrades in flight, gets SIGTERM and exits 0
// promptly, dispatching nothing more; a second run resumes the in-flight
// devices from their checkpoints and finishes the campaign with no device
// failed by the stop.
func TestRunStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a campaign on the wall clock")
	}
	const n = 6
	var specs []device.Spec
	for i := range n {
		specs = append(specs, device.Spec{Hostname: fmt.Sprintf("pc%03d.ra.nhs.uk", i), Caption: "Microsoft Windows 10 Enterprise",
			Edition: "Enterprise", Build: "10.0.18363", UBR: 1556, DiskFreeGB: 40, RAMGB: 8,
			Behaviour: device.Behaviour{UpgradeTime: 6 * time.Second, RebootDuration: time.Second}})
	}
	f, err := fleetsim.Start(context.Background(), fleetsim.Config{Username: "svc", Password: "Term-Secret-1", Devices: specs,
		FirstAddress: net.IPv4(127, byte(100+rand.IntN(150)), byte(1+rand.IntN(250)), 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := newScript(t)
	var csv strings.Builder
	csv.WriteString("hostname,org,address,os_build\n")
	for _, ep := range f.Endpoints() {
		fmt.Fprintf(&csv, "%s,RA,%s,10.0.18363\n", ep.Machine.Hostname(), ep.Address(false))
	}
	if err := os.WriteFile("d.csv", []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("c.yaml", []byte(strings.Replace(crashSpec, "name: crash", "name: term", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	call := s.call
	call("", "inventory", "import", "d.csv", "--create-orgs")
	call("Term-Secret-1\n", "credential", "add", "svc", "--username", "svc", "--password-stdin")
	call("", "org", "set-connection", "RA", "--credential", "svc")
	call("", "campaign", "create", "-f", "c.yaml")
	call("", "campaign", "start", "term")

	db, _ := filepath.Abs(s.env["RINGMASTER_DB"])
	child := func(logName string) (*exec.Cmd, chan error) {
		cmd := runChild(t, db, logName, "--workers", "4", "--lease", "2s")
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		return cmd, done
	}
	log := func(name string) string { b, _ := os.ReadFile(name); return string(b) }

	cmd, done := child("first.log")
	// Wait until devices are mid-upgrade: setup launched on one.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		launched := 0
		for _, ep := range f.Endpoints() {
			launched += ep.Machine.Truth().UpgradesLaunched
		}
		if launched > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no upgrade started within a minute:\n%s", log("first.log"))
		}
	}
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) || err != nil {
			t.Fatalf("run after SIGTERM: %v\n%s", err, log("first.log"))
		}
		if took := time.Since(sent); took > 20*time.Second {
			t.Errorf("run took %s to stop after SIGTERM", took)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("run did not stop within a minute of SIGTERM:\n%s", log("first.log"))
	}
	if show := call("", "campaign", "show", "term", "-o", "json"); strings.Contains(show, `"status":"done"`) {
		t.Fatalf("the campaign finished before the stop, which proves nothing: %s", show)
	}

	cmd, done = child("second.log")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("second run: %v\n%s", err, log("second.log"))
		}
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("the campaign did not finish after the stop:\n%s\n%s", call("", "campaign", "show", "term"), log("second.log"))
	}
	if show := call("", "campaign", "show", "term", "-o", "json"); !strings.Contains(show, `"status":"done"`) {
		t.Fatalf("after the second run: %s", show)
	}
	for _, ep := range f.Endpoints() {
		d := call("", "campaign", "show", "term", "--device", ep.Machine.Hostname())
		if first, _, _ := strings.Cut(d, "\n"); !strings.Contains(first, ": succeeded") {
			t.Errorf("%s: %s", ep.Machine.Hostname(), d)
		}
		if got := ep.Machine.Truth().UpgradesLaunched; got != 1 {
			t.Errorf("%s: setup launched %d times, want 1 (a resume must not launch again)", ep.Machine.Hostname(), got)
		}
	}
}

// crashSpec is the feature-update campaign the stop tests run: one wave,
// so that every device is dispatched at once.
const crashSpec = `name: crash
playbook: win10-feature-update
params:
  media_source: '\\dp01\media$\Win10_22H2'
target: 'build<10.0.19045'
waves:
  - {name: all, max_failure_percent: 60}
`

// call runs a command in-process and returns its output, failing the
// test on a non-zero exit.
func (s *script) call(stdin string, argv ...string) string {
	s.t.Helper()
	var o, e bytes.Buffer
	if code := run(context.Background(), argv, strings.NewReader(stdin), &o, &e, func(k string) string { return s.env[k] }); code != 0 {
		s.t.Fatalf("%s: exit %d: %s", strings.Join(argv, " "), code, e.String())
	}
	return o.String()
}

// runChild starts this test binary as "ringmaster run --until-done" on
// the database db, with args, its output to logName; the caller waits.
func runChild(t *testing.T, db, logName string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"run", "--until-done", "--view", "plain"}, args...)...)
	cmd.Env = append(os.Environ(), "RINGMASTER_TEST_MAIN=1", "RINGMASTER_DB="+db)
	logf, err := os.Create(logName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}
