package builtin_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/simtest"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// The simulated clock runs 3000 times faster than the wall and a feature
// update takes 20 simulated minutes, so an upgrade with its restarts
// takes well under a second and a three-hour reboot timeout 3.6 s.
const (
	scale       = 3000
	upgradeTime = 20 * time.Minute
	mediaShare  = `\\dp01\media$\Win10_22H2`
	updateShare = `\\dp01\updates$`
)

// win7to10 is a device the feature update applies to: Windows 10 1909.
func win1909(b device.Behaviour) device.Spec {
	s := simtest.Win10(b)
	s.Build, s.UBR, s.KBs = "10.0.18363", 1556, []string{"KB4532693"}
	s.Behaviour.UpgradeTime = upgradeTime
	return s
}

// trace records a run's events.
type trace struct {
	mu     sync.Mutex
	events []playbooks.Event
	on     func(playbooks.Event)
}

func (r *trace) Emit(e playbooks.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	if r.on != nil {
		r.on(e)
	}
}

// steps lists the steps started, as phase/name (loop items as name[item]).
func (r *trace) steps() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Kind == playbooks.EventStepStarted {
			s := string(e.Phase) + "/" + e.Step
			if e.Item != "" {
				s += "[" + e.Item + "]"
			}
			if len(out) == 0 || out[len(out)-1] != s { // a retry is one step
				out = append(out, s)
			}
		}
	}
	return out
}

func get(t *testing.T, name string) *playbooks.Playbook {
	t.Helper()
	pb, err := builtin.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

func execute(t *testing.T, d simtest.Device, run playbooks.Run) (playbooks.Outcome, *trace) {
	t.Helper()
	run.Target = d.Target
	tr := &trace{}
	out, err := d.Engine.Execute(context.Background(), run, tr)
	if err != nil {
		t.Fatalf("execute: %v", err)
	}
	return out, tr
}

// TestFeatureUpdate runs win10-feature-update end to end in every case the
// issue names and checks the outcome and reason against what the simulated
// device says really happened.
func TestFeatureUpdate(t *testing.T) {
	ltsc := win1909(device.Behaviour{})
	ltsc.Edition, ltsc.Caption = "EnterpriseS", "Microsoft Windows 10 Enterprise LTSC 2019"
	lowDisk := win1909(device.Behaviour{})
	lowDisk.DiskFreeGB = 12
	laptop := win1909(device.Behaviour{OnBattery: true})
	laptop.Battery = true
	pluggedIn := win1909(device.Behaviour{})
	pluggedIn.Battery = true
	current := win1909(device.Behaviour{})
	current.Build = "10.0.19045"

	tests := []struct {
		name     string
		spec     device.Spec
		params   map[string]any
		status   playbooks.Status
		reason   playbooks.Reason
		launched int    // setup upgrades started, by the device's own count
		build    string // the device's build afterwards
		done     int    // upgrades completed (including one later undone)
	}{
		{"clean upgrade", win1909(device.Behaviour{}), nil, playbooks.StatusSucceeded, playbooks.ReasonCompleted, 1, "10.0.19045", 1},
		{"laptop on AC", pluggedIn, nil, playbooks.StatusSucceeded, playbooks.ReasonCompleted, 1, "10.0.19045", 1},
		{"media over HTTP", win1909(device.Behaviour{}), map[string]any{"media_source": "http://dp01.rxx.nhs.uk/media/win10-22h2.zip"},
			playbooks.StatusSucceeded, playbooks.ReasonCompleted, 1, "10.0.19045", 1},
		{"already upgraded", current, nil, playbooks.StatusSkipped, playbooks.ReasonAlreadyCompliant, 0, "10.0.19045", 0},
		{"compat block", win1909(device.Behaviour{CompatBlock: true}), nil, playbooks.StatusFailed, "compat_blocked:0xC1900208", 0, "10.0.18363", 0},
		{"ltsc edition", ltsc, nil, playbooks.StatusSkipped, "ineligible_edition", 0, "10.0.18363", 0},
		{"low disk", lowDisk, nil, playbooks.StatusFailed, "insufficient_disk", 0, "10.0.18363", 0},
		{"laptop on battery", laptop, nil, playbooks.StatusFailed, "on_battery", 0, "10.0.18363", 0},
		{"setup rolls back", win1909(device.Behaviour{RollBack: true}), nil, playbooks.StatusFailed, "rolled_back:0xC1900101", 1, "10.0.18363", 0},
		{"reboot never returns", win1909(device.Behaviour{RebootHangs: true}), nil, playbooks.StatusFailed, playbooks.ReasonRebootTimeout, 1, "10.0.18363", 0},
		// The media is 22H2 but the target is 21H2: the upgrade completes
		// on the wrong build, fails verification and DISM goes back.
		{"wrong build: DISM goes back", win1909(device.Behaviour{}), map[string]any{"target_build": "10.0.19044"},
			playbooks.StatusFailed, "rolled_back", 1, "10.0.18363", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := simtest.Start(t, scale, tt.spec)[0]
			params := map[string]any{"media_source": mediaShare}
			for k, v := range tt.params {
				params[k] = v
			}
			out, tr := execute(t, d, playbooks.Run{Playbook: get(t, "win10-feature-update"), Params: params})
			truth := d.Endpoint.Machine.Truth()
			if out.Status != tt.status || out.Reason != tt.reason {
				t.Errorf("outcome = %+v\nwant %s %s\nsteps: %s", out, tt.status, tt.reason, strings.Join(tr.steps(), ", "))
			}
			if truth.UpgradesLaunched != tt.launched || truth.Build != tt.build || truth.UpgradesDone != tt.done {
				t.Errorf("device: setup launched %d, upgrades completed %d, build %s; want %d, %d, %s",
					truth.UpgradesLaunched, truth.UpgradesDone, truth.Build, tt.launched, tt.done, tt.build)
			}
		})
	}
}

// TestFeatureUpdateLeavesNoTask checks that a finished run removes the
// SYSTEM tasks and scripts it put on the device.
func TestFeatureUpdateLeavesNoTask(t *testing.T) {
	d := simtest.Start(t, scale, win1909(device.Behaviour{}))[0]
	pb := get(t, "win10-feature-update")
	upgrade := slices.IndexFunc(pb.Steps, func(s playbooks.Step) bool { return s.Name == "upgrade" })
	out, _ := execute(t, d, playbooks.Run{Playbook: pb, ID: "t1", Params: map[string]any{"media_source": mediaShare}})
	if out.Status != playbooks.StatusSucceeded {
		t.Fatalf("outcome = %+v", out)
	}
	task := fmt.Sprintf("t1-s%d", upgrade)
	for _, cmd := range []sdk.Command{
		{Shell: sdk.Cmd, Script: `schtasks /Query /TN "Ringmaster\` + task + `"`},
		{Shell: sdk.PowerShell, Script: `Test-Path 'C:\ProgramData\Ringmaster\Runs\` + task + `.ps1'`},
		{Shell: sdk.PowerShell, Script: `Test-Path 'C:\ProgramData\Ringmaster\FeatureUpdate'`},
	} {
		res, _ := d.Engine.Executor.Exec(context.Background(), d.Target, cmd, nil)
		if strings.Contains(string(res.Stdout), "True") || (cmd.Shell == sdk.Cmd && res.ExitCode == 0) {
			t.Errorf("%s: left behind: %s", cmd.Script, res.Stdout)
		}
	}
}

// TestFeatureUpdateResumes stops the engine at every step boundary in turn,
// and in the middle of the upgrade step, then resumes it from the last
// checkpoint: every run ends upgraded, and setup is launched exactly once.
func TestFeatureUpdateResumes(t *testing.T) {
	pb := get(t, "win10-feature-update")
	// A clean run's boundaries: every step that finishes, skipped or not.
	boundaries := len(pb.Steps) + len(pb.Verify)
	for stopAt := 0; stopAt <= boundaries; stopAt++ {
		inUpgrade := stopAt == boundaries
		name := fmt.Sprintf("after %d steps", stopAt)
		if inUpgrade {
			name = "in the upgrade step"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := simtest.Start(t, scale, win1909(device.Behaviour{}))[0]
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var last *playbooks.Checkpoint
			finished := 0
			var upgrading atomic.Bool
			first := &trace{on: func(e playbooks.Event) {
				switch {
				case e.Kind == playbooks.EventStepFinished:
					last = e.Checkpoint
					if finished++; !inUpgrade && finished > stopAt {
						cancel()
					}
				case inUpgrade && e.Kind == playbooks.EventStepStarted && e.Step == "upgrade":
					upgrading.Store(true)
				}
			}}
			// In the upgrade step the engine waits on its clock between polls
			// of setup's task. The first wait after setup is running on the
			// device stops the run there, in the engine's own goroutine, and
			// never fires: the step cannot finish first, however slow the
			// machine (the task's polls are at most a minute apart and setup
			// takes 75 simulated minutes, so such a wait always comes).
			engine := *d.Engine
			engine.Clock = &stopClock{Clock: d.Engine.Clock, stop: func() bool {
				if upgrading.Load() && d.Endpoint.Machine.Truth().UpgradesLaunched > 0 {
					cancel()
					return true
				}
				return false
			}}
			run := playbooks.Run{Playbook: pb, Target: d.Target, Params: map[string]any{"media_source": mediaShare}}
			out, err := engine.Execute(ctx, run, first)
			switch {
			case err == nil && stopAt < boundaries-1:
				t.Fatalf("ran to the end (%+v) without being stopped", out)
			case err != nil && !errors.Is(err, context.Canceled):
				t.Fatalf("first half: %v", err)
			case inUpgrade && err == nil:
				t.Fatalf("ran to the end (%+v): the stop in the upgrade step never came", out)
			}
			if inUpgrade {
				if n := d.Endpoint.Machine.Truth().UpgradesLaunched; n != 1 || last == nil || !slices.Contains(first.steps(), "steps/upgrade") {
					t.Fatalf("stopped with setup launched %d times, checkpoint %v, steps %s: not inside the upgrade step", n, last, first.steps())
				}
			}
			if err != nil {
				run.Resume = last
				second := &trace{}
				out, err = d.Engine.Execute(context.Background(), run, second)
				if err != nil {
					t.Fatal(err)
				}
				steps := append(first.steps(), second.steps()...)
				if stopAt < boundaries && hasRepeats(steps) {
					t.Errorf("a step ran twice across the stop: %s", strings.Join(steps, ", "))
				}
				if inUpgrade && (len(second.steps()) == 0 || second.steps()[0] != "steps/upgrade") {
					t.Errorf("the resumed run began at %v, not in the upgrade step", second.steps())
				}
			}
			truth := d.Endpoint.Machine.Truth()
			if out.Status != playbooks.StatusSucceeded || truth.UpgradesLaunched != 1 || truth.Build != "10.0.19045" {
				t.Errorf("outcome %+v; device: setup launched %d times, build %s; want succeeded, once, 10.0.19045",
					out, truth.UpgradesLaunched, truth.Build)
			}
		})
	}
}

// stopClock is a playbooks.Clock that, on a wait for which stop returns
// true, returns a timer that never fires: the caller's context, which stop
// cancelled, is all the engine can then see.
type stopClock struct {
	playbooks.Clock
	stop func() bool
}

func (c *stopClock) After(d time.Duration) <-chan time.Time {
	if c.stop() {
		return make(chan time.Time)
	}
	return c.Clock.After(d)
}

func hasRepeats(steps []string) bool {
	seen := map[string]bool{}
	for _, s := range steps {
		if seen[s] {
			return true
		}
		seen[s] = true
	}
	return false
}

// TestFeatureUpdateUnreachableMidRun takes the device off the network while
// setup runs: the run ends unreachable once the step's time is up, and
// resuming it when the device is back picks up the same setup, not a new
// one.
func TestFeatureUpdateUnreachableMidRun(t *testing.T) {
	d := simtest.Start(t, scale, win1909(device.Behaviour{}))[0]
	pb := get(t, "win10-feature-update")
	var last *playbooks.Checkpoint
	var upgrading, offline atomic.Bool
	tr := &trace{on: func(e playbooks.Event) {
		switch {
		case e.Kind == playbooks.EventStepFinished:
			last = e.Checkpoint
		case e.Kind == playbooks.EventStepStarted && e.Step == "upgrade":
			upgrading.Store(true)
		}
	}}
	// The first wait of the upgrade step after setup is running takes the
	// device off the network, so it is always mid-setup when it goes.
	engine := *d.Engine
	engine.Clock = &stopClock{Clock: d.Engine.Clock, stop: func() bool {
		if upgrading.Load() && !offline.Load() && d.Endpoint.Machine.Truth().UpgradesLaunched > 0 {
			d.Endpoint.Machine.SetOnline(false)
			offline.Store(true)
		}
		return false
	}}
	run := playbooks.Run{Playbook: pb, Target: d.Target, Params: map[string]any{"media_source": mediaShare}}
	out, err := engine.Execute(context.Background(), run, tr)
	if err != nil || out.Status != playbooks.StatusFailed || out.Reason != playbooks.ReasonUnreachable {
		t.Fatalf("outcome = %+v, %v; want failed unreachable\nsteps: %s", out, err, strings.Join(tr.steps(), ", "))
	}
	d.Endpoint.Machine.SetOnline(true)
	run.Resume = last
	out, tr = execute(t, d, run)
	truth := d.Endpoint.Machine.Truth()
	if out.Status != playbooks.StatusSucceeded || truth.UpgradesLaunched != 1 || truth.Build != "10.0.19045" {
		t.Errorf("resumed: outcome %+v; setup launched %d times, build %s; want succeeded, once, 10.0.19045\nsteps: %s",
			out, truth.UpgradesLaunched, truth.Build, strings.Join(tr.steps(), ", "))
	}
}

// TestInstallKB runs install-kb in each case the issue names. KB4512508
// applies to 1903/1909, KB4511553 only to 1809 (the simulator's table).
func TestInstallKB(t *testing.T) {
	has := func(kbs ...string) device.Spec {
		s := win1909(device.Behaviour{})
		s.KBs = kbs
		return s
	}
	hangs := has()
	hangs.Behaviour.RebootHangs = true
	tests := []struct {
		name      string
		spec      device.Spec
		kbs       []any
		status    playbooks.Status
		reason    playbooks.Reason
		installed []string // KBs wusa installed, by the device's count
		reboots   int
		steps     string
	}{
		{"installs and restarts once", has(), []any{"KB4512508", "KB4517389"}, playbooks.StatusSucceeded, playbooks.ReasonCompleted,
			[]string{"KB4512508", "KB4517389"}, 1,
			"steps/install[KB4512508], steps/install[KB4517389], verify/installed[KB4512508], verify/installed[KB4517389]"},
		{"already installed", has("KB4512508"), []any{"KB4512508"}, playbooks.StatusSkipped, playbooks.ReasonAlreadyCompliant,
			nil, 0, "steps/already installed"},
		{"not applicable", has(), []any{"KB4511553"}, playbooks.StatusSkipped, "not_applicable",
			nil, 0, "steps/install[KB4511553], steps/nothing applied"},
		{"mixed", has("KB4532693"), []any{"KB4512508", "KB4511553", "KB4532693"}, playbooks.StatusSucceeded, playbooks.ReasonCompleted,
			[]string{"KB4512508"}, 1,
			"steps/install[KB4512508], steps/install[KB4511553], verify/installed[KB4512508], verify/installed[KB4532693]"},
		{"restart never returns", hangs, []any{"KB4512508"}, playbooks.StatusFailed, playbooks.ReasonRebootTimeout,
			[]string{"KB4512508"}, 1, "steps/install[KB4512508]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := simtest.Start(t, scale, tt.spec)[0]
			out, tr := execute(t, d, playbooks.Run{Playbook: get(t, "install-kb"),
				Params: map[string]any{"kbs": tt.kbs, "source": updateShare}})
			truth := d.Endpoint.Machine.Truth()
			if out.Status != tt.status || out.Reason != tt.reason {
				t.Errorf("outcome = %+v, want %s %s", out, tt.status, tt.reason)
			}
			if !slices.Equal(truth.KBsInstalled, tt.installed) && !(len(tt.installed) == 0 && len(truth.KBsInstalled) == 0) {
				t.Errorf("wusa installed %v, want %v", truth.KBsInstalled, tt.installed)
			}
			if truth.Reboots != tt.reboots {
				t.Errorf("device restarted %d times, want %d", truth.Reboots, tt.reboots)
			}
			if got := strings.Join(tr.steps(), ", "); got != tt.steps {
				t.Errorf("steps:\n got %s\nwant %s", got, tt.steps)
			}
		})
	}
}

// TestHSARemediate installs what an alert requires for the device's build
// and nothing else.
func TestHSARemediate(t *testing.T) {
	required := []any{"10.0.18363=KB4512508", "10.0.17763=KB4511553", "10.0.18363=KB4517389"}
	has := func(build string, kbs ...string) device.Spec {
		s := win1909(device.Behaviour{})
		s.Build, s.KBs = build, kbs
		return s
	}
	tests := []struct {
		name      string
		spec      device.Spec
		status    playbooks.Status
		reason    playbooks.Reason
		installed []string
	}{
		{"installs the build's updates", has("10.0.18363", "KB4517389"), playbooks.StatusSucceeded, playbooks.ReasonCompleted, []string{"KB4512508"}},
		{"already remediated", has("10.0.18363", "KB4512508", "KB4517389"), playbooks.StatusSkipped, playbooks.ReasonAlreadyCompliant, nil},
		{"build not in the alert", has("10.0.19045"), playbooks.StatusSkipped, "not_applicable", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := simtest.Start(t, scale, tt.spec)[0]
			out, tr := execute(t, d, playbooks.Run{Playbook: get(t, "hsa-remediate"),
				Params: map[string]any{"alert": "HSA-2019-0042", "required": required, "source": updateShare}})
			truth := d.Endpoint.Machine.Truth()
			if out.Status != tt.status || out.Reason != tt.reason {
				t.Errorf("outcome = %+v, want %s %s\nsteps: %s", out, tt.status, tt.reason, strings.Join(tr.steps(), ", "))
			}
			if !slices.Equal(truth.KBsInstalled, tt.installed) && !(len(tt.installed) == 0 && len(truth.KBsInstalled) == 0) {
				t.Errorf("wusa installed %v, want %v", truth.KBsInstalled, tt.installed)
			}
		})
	}
}
