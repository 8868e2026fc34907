package playbooks_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/internal/simtest"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// simulated starts one simulated Windows 10 device whose clock runs 600
// times faster than the wall and returns the engine wired to it through
// the real WinRM executor.
func simulated(t *testing.T, b device.Behaviour) (*playbooks.Engine, sdk.Target, *fleetsim.Endpoint) {
	t.Helper()
	d := simtest.Start(t, 600, simtest.Win10(b))[0]
	return d.Engine, d.Target, d.Endpoint
}

func parse(t *testing.T, src string) *playbooks.Playbook {
	t.Helper()
	pb, err := playbooks.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

// recorder keeps a run's events.
type recorder struct {
	mu     sync.Mutex
	events []playbooks.Event
	onStep func(playbooks.Event)
}

func (r *recorder) Emit(e playbooks.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	if r.onStep != nil && e.Kind == playbooks.EventStepFinished {
		r.onStep(e)
	}
}

func (r *recorder) started() []string {
	var out []string
	for _, e := range r.events {
		if e.Kind == playbooks.EventStepStarted {
			out = append(out, string(e.Phase)+"/"+e.Step)
		}
	}
	return out
}

func (r *recorder) output() string {
	var b strings.Builder
	for _, e := range r.events {
		if e.Kind == playbooks.EventOutput {
			b.Write(e.Chunk.Data)
		}
	}
	return b.String()
}

const flow = `
name: flow
version: 1.0.0
params:
  - {name: target_build, type: string, default: "10.0.19045"}
  - {name: note, type: string, default: "x"}
steps:
  - name: already there
    when: facts.os_build == params.target_build
    skip: "already_compliant: the device is on the target build"
  - name: read disk
    powershell: Write-Output "free=48"
    register: {name: disk, regex: 'free=(?P<gb>\d+)'}
  - name: echo note
    powershell: Write-Output $Params.note
  - name: patch
    cmd: exit /b %CODE%
    expect: {success: [0], skip: {2359302: already_installed}, fail: {5: access_denied}}
on_failure:
  - name: undo
    powershell: Write-Output undo
verify:
  - name: check
    powershell: exit 0
`

func TestEngineOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		code    string
		status  playbooks.Status
		reason  playbooks.Reason
		started string
	}{
		{"clean", "0", playbooks.StatusSucceeded, playbooks.ReasonCompleted,
			"steps/read disk steps/echo note steps/patch verify/check"},
		{"skip with reason", "2359302", playbooks.StatusSkipped, "already_installed",
			"steps/read disk steps/echo note steps/patch"},
		{"named failure runs on_failure", "5", playbooks.StatusFailed, "access_denied",
			"steps/read disk steps/echo note steps/patch on_failure/undo"},
		{"unlisted failure", "7", playbooks.StatusFailed, playbooks.ReasonCommandFailed,
			"steps/read disk steps/echo note steps/patch on_failure/undo"},
	}
	e, target, _ := simulated(t, device.Behaviour{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pb := parse(t, strings.Replace(flow, "%CODE%", tt.code, 1))
			var rec recorder
			out, err := e.Execute(context.Background(), playbooks.Run{Playbook: pb, Target: target,
				Params: map[string]any{"note": "'; Remove-Item C:\\ -Recurse; '"}}, &rec)
			if err != nil {
				t.Fatal(err)
			}
			if out.Status != tt.status || out.Reason != tt.reason {
				t.Errorf("outcome = %+v, want %s %s", out, tt.status, tt.reason)
			}
			if got := strings.Join(rec.started(), " "); got != tt.started {
				t.Errorf("steps run:\n got %s\nwant %s", got, tt.started)
			}
			if !strings.Contains(rec.output(), "'; Remove-Item C:\\ -Recurse; '\r\n") {
				t.Errorf("hostile parameter did not come back as data: %q", rec.output())
			}
			last := rec.events[len(rec.events)-1]
			if last.Kind != playbooks.EventOutcome || *last.Outcome != out {
				t.Errorf("last event = %+v, want the outcome", last)
			}
		})
	}
}

func TestEngineFactsAndParams(t *testing.T) {
	e, target, _ := simulated(t, device.Behaviour{})
	pb := parse(t, flow)
	var rec recorder
	out, err := e.Execute(context.Background(), playbooks.Run{Playbook: pb, Target: target,
		Params: map[string]any{"target_build": "10.0.19044"}}, &rec)
	// The device is on 10.0.19044, so the when holds on the probed build.
	if err != nil || out.Status != playbooks.StatusSkipped || out.Reason != playbooks.ReasonAlreadyCompliant ||
		out.Message != "the device is on the target build" || strings.Join(rec.started(), " ") != "steps/already there" {
		t.Errorf("on the target build: outcome = %+v, %v, steps %v; want skipped already_compliant at once", out, err, rec.started())
	}
	rec = recorder{}
	if _, err := e.Execute(context.Background(), playbooks.Run{Playbook: pb, Target: target}, &rec); err != nil {
		t.Fatal(err)
	}
	var disk any
	for _, ev := range rec.events {
		if ev.Kind == playbooks.EventFacts && ev.Facts["disk"] != nil {
			disk = ev.Facts["disk"]
		}
	}
	if m, _ := disk.(map[string]any); m["gb"] != "48" {
		t.Errorf("registered disk = %#v", disk)
	}

	_, err = e.Execute(context.Background(), playbooks.Run{Playbook: pb, Target: target,
		Params: map[string]any{"target_build": 19045, "bogus": true}}, nil)
	if err == nil || !strings.Contains(err.Error(), "parameter target_build") || !strings.Contains(err.Error(), "parameter bogus") {
		t.Errorf("bad params: err = %v, want both named", err)
	}
}

func TestEngineUnreachable(t *testing.T) {
	e, target, _ := simulated(t, device.Behaviour{})
	target.Address = "127.0.0.1:1" // nothing listens there
	out, err := e.Execute(context.Background(), playbooks.Run{Playbook: parse(t, flow), Target: target}, nil)
	if err != nil || out.Status != playbooks.StatusFailed || out.Reason != playbooks.ReasonUnreachable {
		t.Errorf("outcome = %+v, %v; want failed unreachable", out, err)
	}
}

const rebooting = `
name: rebooting
version: 1.0.0
steps:
  - name: restart
    reboot: {timeout: 20m}
verify:
  - name: back
    powershell: exit 0
`

func TestEngineReboot(t *testing.T) {
	e, target, ep := simulated(t, device.Behaviour{})
	out, err := e.Execute(context.Background(), playbooks.Run{Playbook: parse(t, rebooting), Target: target}, nil)
	if err != nil || out.Status != playbooks.StatusSucceeded {
		t.Fatalf("outcome = %+v, %v", out, err)
	}
	if n := ep.Machine.Truth().Reboots; n != 1 {
		t.Errorf("device rebooted %d times, want 1", n)
	}

	e, target, _ = simulated(t, device.Behaviour{RebootHangs: true})
	out, err = e.Execute(context.Background(), playbooks.Run{Playbook: parse(t, rebooting), Target: target}, nil)
	if err != nil || out.Status != playbooks.StatusFailed || out.Reason != playbooks.ReasonRebootTimeout {
		t.Errorf("hung reboot: outcome = %+v, %v; want reboot_timeout", out, err)
	}
}

// lostReply answers the restart command with a protocol error, as WinRM
// does when the shell is gone before the reply is read: the first time
// after running it (the restart came first) or without running it (the
// reply and the command were both lost), by ran.
type lostReply struct {
	playbooks.Executor
	ran  bool
	lost atomic.Int32
}

func (l *lostReply) Exec(ctx context.Context, t sdk.Target, c sdk.Command, out func(sdk.Chunk)) (sdk.Result, error) {
	if strings.HasPrefix(c.Script, "shutdown /r") && l.lost.Add(1) == 1 {
		if l.ran {
			l.Executor.Exec(ctx, t, c, out)
		}
		return sdk.Result{}, sdk.Errorf(sdk.Protocol, "exec", t.Hostname, "http error 500: the shell was not found on the server")
	}
	return l.Executor.Exec(ctx, t, c, out)
}

// TestEngineRebootReplyLost: a restart whose reply is lost is not a
// failure: the device's boot time says whether it restarted, and one that
// did not is asked once more.
func TestEngineRebootReplyLost(t *testing.T) {
	for _, ran := range []bool{true, false} {
		e, target, ep := simulated(t, device.Behaviour{})
		lossy := &lostReply{Executor: e.Executor, ran: ran}
		e.Executor = lossy
		out, err := e.Execute(context.Background(), playbooks.Run{Playbook: parse(t, rebooting), Target: target}, nil)
		if err != nil || out.Status != playbooks.StatusSucceeded {
			t.Fatalf("restart ran %v, its reply lost: outcome = %+v, %v; want succeeded", ran, out, err)
		}
		if n := ep.Machine.Truth().Reboots; n != 1 {
			t.Errorf("restart ran %v, its reply lost: the device restarted %d times, want 1", ran, n)
		}
		if want := map[bool]int32{true: 1, false: 2}[ran]; lossy.lost.Load() != want {
			t.Errorf("restart ran %v, its reply lost: asked %d times, want %d", ran, lossy.lost.Load(), want)
		}
	}
}

// TestEngineResumesAtEveryStep stops the run after each step in turn and
// resumes it from the checkpoint it emitted: every step runs exactly once
// across the two halves, and the outcome is the same as an unbroken run.
func TestEngineResumesAtEveryStep(t *testing.T) {
	e, target, _ := simulated(t, device.Behaviour{})
	pb := parse(t, strings.Replace(flow, "%CODE%", "0", 1))
	const whole = "steps/read disk steps/echo note steps/patch verify/check"
	for stopAfter := 0; stopAfter < 4; stopAfter++ { // the fifth boundary is the end of the run
		ctx, cancel := context.WithCancel(context.Background())
		var last *playbooks.Checkpoint
		seen := 0
		first := &recorder{onStep: func(ev playbooks.Event) {
			last = ev.Checkpoint
			if seen++; seen > stopAfter {
				cancel()
			}
		}}
		_, err := e.Execute(ctx, playbooks.Run{Playbook: pb, Target: target}, first)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("stop after %d: err = %v, want cancelled", stopAfter, err)
		}
		second := &recorder{}
		out, err := e.Execute(context.Background(), playbooks.Run{Playbook: pb, Target: target, Resume: last}, second)
		if err != nil || out.Status != playbooks.StatusSucceeded {
			t.Fatalf("stop after %d: resumed outcome = %+v, %v", stopAfter, out, err)
		}
		if got := strings.Join(append(first.started(), second.started()...), " "); got != whole {
			t.Errorf("stop after %d: steps run\n got %s\nwant %s", stopAfter, got, whole)
		}
	}
}

// TestDiscoverBuiltin runs the built-in discover playbook and checks the
// facts it registers against the simulated device's own state.
func TestDiscoverBuiltin(t *testing.T) {
	e, target, _ := simulated(t, device.Behaviour{})
	pb, err := builtin.Get("discover")
	if err != nil {
		t.Fatal(err)
	}
	facts := map[string]any{}
	out, err := e.Execute(context.Background(), playbooks.Run{Playbook: pb, Target: target}, playbooks.SinkFunc(func(ev playbooks.Event) {
		if ev.Kind == playbooks.EventFacts {
			maps.Copy(facts, ev.Facts)
		}
	}))
	if err != nil || out.Status != playbooks.StatusSucceeded {
		t.Fatalf("outcome = %+v, %v", out, err)
	}
	os, _ := facts["os"].(map[string]any)
	disk, _ := facts["disk"].(map[string]any)
	pending, _ := facts["pending"].(map[string]any)
	if os["CurrentBuild"] != "19044" || os["EditionID"] != "Enterprise" || os["UBR"] != float64(2965) {
		t.Errorf("os = %#v", os)
	}
	if free, _ := disk["FreeSpace"].(float64); free < 48e9 || free > 53e9 {
		t.Errorf("disk = %#v, want about 48.5 GiB free", disk)
	}
	if pending["cbs"] != "False" || pending["wu"] != "False" {
		t.Errorf("pending = %#v", pending)
	}
}

const waiting = `
name: waiting
version: 1.0.0
params:
  - {name: want, type: string, default: Ready}
steps:
  - name: wait for state
    wait_until:
      powershell: Write-Output "state=Ready"
      until: facts.task.state == params.want
      interval: 1m
      timeout: 5m
    register: {name: task, regex: 'state=(?P<state>\w+)'}
`

// TestEngineWaitUntil checks that a wait ends when until holds over the
// registered output, and times out when it never does.
// TestProbeFactsEvent: the facts event of a probe carries the device's
// facts as it reported them (what campaign runs record in the inventory);
// facts a step registers do not.
func TestProbeFactsEvent(t *testing.T) {
	e, target, _ := simulated(t, device.Behaviour{})
	pb, err := builtin.Get("discover")
	if err != nil {
		t.Fatal(err)
	}
	var probes, registered int
	out, err := e.Execute(context.Background(), playbooks.Run{Playbook: pb, Target: target}, playbooks.SinkFunc(func(ev playbooks.Event) {
		if ev.Kind != playbooks.EventFacts {
			return
		}
		_, named := ev.Facts["os_build"]
		switch {
		case ev.Probe != nil:
			probes++
			if !named || ev.Probe.OSBuild != "10.0.19044" || ev.Probe.UBR != 2965 || ev.Probe.Model != "OptiPlex 7090" {
				t.Errorf("probe event: facts %v, probe %+v", ev.Facts, *ev.Probe)
			}
		default:
			registered++
			if named {
				t.Errorf("a probe's facts without the probe: %v", ev.Facts)
			}
		}
	}))
	if err != nil || out.Status != playbooks.StatusSucceeded {
		t.Fatalf("outcome = %+v, %v", out, err)
	}
	if probes != 1 || registered == 0 {
		t.Errorf("%d probe and %d registered facts events", probes, registered)
	}
}

func TestEngineWaitUntil(t *testing.T) {
	e, target, _ := simulated(t, device.Behaviour{})
	pb := parse(t, waiting)
	tests := []struct {
		want   string
		status playbooks.Status
		reason playbooks.Reason
		polls  int
	}{
		{"Ready", playbooks.StatusSucceeded, playbooks.ReasonCompleted, 1},
		{"Done", playbooks.StatusFailed, playbooks.ReasonTimedOut, 6}, // at 0, 1, ... 5 minutes, fewer if polls are slow
	}
	for _, tt := range tests {
		polls := 0
		out, err := e.Execute(context.Background(), playbooks.Run{Playbook: pb, Target: target, Params: map[string]any{"want": tt.want}},
			playbooks.SinkFunc(func(ev playbooks.Event) {
				if ev.Kind == playbooks.EventFacts && ev.Facts["task"] != nil {
					polls++
				}
			}))
		if err != nil || out.Status != tt.status || out.Reason != tt.reason || polls > tt.polls || polls < min(tt.polls, 2) {
			t.Errorf("until state == %s: outcome %+v, %v after %d polls; want %s %s after %d", tt.want, out, err, polls, tt.status, tt.reason, tt.polls)
		}
	}
}

const asSystem = `
name: as-system
version: 1.0.0
params:
  - {name: evil, type: string}
  - {name: items, type: list}
steps:
  - name: echo as system
    run_as: system
    powershell: |
      Write-Output $Params.evil
      exit 3
    expect: {success: [3]}
    register: {name: echoed, regex: '(?s)^(?P<text>.*?)\r?\n$'}
  - name: each item as system
    loop: params.items
    run_as: system
    powershell: Write-Output $Item
    register: {name: items, regex: '(?s)^(?P<text>.*?)\r?\n$'}
`

// TestEngineSystemTaskKeepsValuesInert runs hostile parameter and loop
// values through a SYSTEM task, where the script is written to a file
// first: they come back as data, the task's exit code is the script's,
// and nothing else runs.
func TestEngineSystemTaskKeepsValuesInert(t *testing.T) {
	e, target, ep := simulated(t, device.Behaviour{})
	evil := "'; Remove-Item C:\\ -Recurse; ' $(Restart-Computer -Force) `n \u2019; Stop-Computer; \u2018"
	items := []any{"KB1", "'; Restart-Computer -Force; '", "$(Restart-Computer)"}
	facts := map[string]any{}
	out, err := e.Execute(context.Background(), playbooks.Run{Playbook: parse(t, asSystem), Target: target,
		Params: map[string]any{"evil": evil, "items": items}},
		playbooks.SinkFunc(func(ev playbooks.Event) {
			if ev.Kind == playbooks.EventFacts {
				maps.Copy(facts, ev.Facts)
			}
		}))
	if err != nil || out.Status != playbooks.StatusSucceeded {
		t.Fatalf("outcome = %+v, %v", out, err)
	}
	if got := facts["echoed"].(map[string]any)["text"]; got != evil {
		t.Errorf("echoed %q, want %q", got, evil)
	}
	results := facts["items"].(map[string]any)
	for _, it := range items {
		r, _ := results[it.(string)].(map[string]any)
		if v, _ := r["value"].(map[string]any); v["text"] != it {
			t.Errorf("item %q came back as %#v", it, r)
		}
	}
	if n := ep.Machine.Truth().Reboots; n != 0 {
		t.Errorf("a hostile value ran: the device restarted %d times", n)
	}
}
