package playbooks_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// stepClock is a hand-moved clock: After returns at once, having moved the
// clock on by the wait.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.t = c.t.Add(d)
	now := c.t
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- now
	return ch
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// slowChecks is a device whose first check after an event is slow: the
// check begins inside the step's time budget and is answered after it, as
// on a loaded host or a simulated estate whose time runs 600 times faster
// than the host's. The next check finds the device ready.
type slowChecks struct {
	clock   *stepClock
	slow    time.Duration // how long the first check takes
	mu      sync.Mutex
	booted  time.Time
	restart bool // shutdown /r was asked
	probes  int  // probes since then
	polls   int  // wait_until checks
}

func (x *slowChecks) Probe(context.Context, sdk.Target) (sdk.ProbeResult, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.restart {
		x.probes++
		if x.probes == 1 {
			x.clock.advance(x.slow)
			return sdk.ProbeResult{}, sdk.Errorf(sdk.Unreachable, "probe", "pc1", "connection refused")
		}
		x.booted = x.clock.Now()
	}
	return sdk.ProbeResult{Facts: sdk.Facts{OSBuild: "10.0.19045", LastBoot: x.booted}, ObservedAt: x.clock.Now()}, nil
}

func (x *slowChecks) Exec(_ context.Context, _ sdk.Target, c sdk.Command, _ func(sdk.Chunk)) (sdk.Result, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case strings.Contains(c.Script, "shutdown /r"):
		x.restart = true
		return sdk.Result{}, nil
	case strings.Contains(c.Script, "state="):
		x.polls++
		if x.polls == 1 {
			x.clock.advance(x.slow)
			return sdk.Result{Stdout: []byte("state=Starting\r\n")}, nil
		}
		return sdk.Result{Stdout: []byte("state=Ready\r\n")}, nil
	}
	return sdk.Result{}, nil
}

// TestSlowCheckIsNotATimeout: a wait (a reboot, wait_until) times out only
// when a check begun after its budget finds the device still not ready,
// never because one check begun inside the budget was answered after it.
// Before this rule the demo on a loaded machine failed devices with
// reboot_timeout and timed_out that had come back in time.
func TestSlowCheckIsNotATimeout(t *testing.T) {
	const waitStep = `
name: waiting
version: 1.0.0
steps:
  - name: wait for state
    wait_until:
      powershell: Write-Output "state=?"
      until: facts.task.state == "Ready"
      interval: 1m
      timeout: 5m
    register: {name: task, regex: 'state=(?P<state>\w+)'}
`
	const rebootStep = `
name: rebooting
version: 1.0.0
steps:
  - name: restart
    reboot: {timeout: 20m}
`
	for _, tt := range []struct {
		name, playbook string
		slow           time.Duration
	}{
		{"reboot", rebootStep, 25 * time.Minute},
		{"wait_until", waitStep, 6 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clock := &stepClock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
			x := &slowChecks{clock: clock, slow: tt.slow, booted: clock.t.Add(-time.Hour)}
			pb, err := playbooks.Parse("test.yaml", []byte(tt.playbook))
			if err != nil {
				t.Fatal(err)
			}
			e := &playbooks.Engine{Executor: x, Clock: clock}
			out, err := e.Execute(context.Background(), playbooks.Run{Playbook: pb, Target: sdk.Target{Hostname: "pc1"}}, nil)
			if err != nil || out.Status != playbooks.StatusSucceeded {
				t.Fatalf("outcome %+v, %v; want succeeded: the second check, after the budget, found the device ready", out, err)
			}
		})
	}
}
