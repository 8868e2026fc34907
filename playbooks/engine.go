package playbooks

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// Executor is what the engine needs of an executor: run a command and read
// a device's facts. sdk.Executor and the plugin host's client satisfy it.
type Executor interface {
	Probe(ctx context.Context, t sdk.Target) (sdk.ProbeResult, error)
	Exec(ctx context.Context, t sdk.Target, c sdk.Command, out func(sdk.Chunk)) (sdk.Result, error)
}

// Clock is the engine's time: backoffs and reboot waits go through it so
// tests run them in microseconds.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// After waits for d on the wall clock.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Phase names a block of a playbook.
type Phase string

// Phases, in the order the engine runs them.
const (
	PhaseSteps     Phase = "steps"
	PhaseVerify    Phase = "verify"
	PhaseOnFailure Phase = "on_failure"
)

// Checkpoint is where a run stands after a step: the next step to run and
// the facts so far. A caller that stores it can resume the run with it
// after a stop without repeating a completed step.
type Checkpoint struct {
	Phase Phase
	Next  int
	Facts map[string]any
	// Failure is the reason on_failure is running, when it is.
	Failure *Outcome
	// RunID names the run's SYSTEM tasks on the device; Tasks are those
	// launched so far, removed when the run ends.
	RunID string
	Tasks []string
}

// Status is how a run ended.
type Status string

// Statuses.
const (
	StatusSucceeded Status = "succeeded"
	StatusSkipped   Status = "skipped"
	StatusFailed    Status = "failed"
)

// Outcome is how a run ended and why, decided by observed facts and exit
// codes, never by a command merely exiting 0.
type Outcome struct {
	Status  Status
	Reason  Reason
	Message string
	Step    string // the step that decided it, if one did
}

// EventKind names an event.
type EventKind string

// Event kinds.
const (
	EventStepStarted  EventKind = "step_started"
	EventStepSkipped  EventKind = "step_skipped" // its when was false
	EventOutput       EventKind = "output"
	EventFacts        EventKind = "facts"
	EventStepFinished EventKind = "step_finished"
	EventOutcome      EventKind = "outcome"
)

// Event is something that happened during a run.
type Event struct {
	Kind    EventKind
	At      time.Time
	Phase   Phase
	Index   int
	Step    string
	Item    string         // the loop item, in a loop
	Attempt int            // 1-based, for step_started
	Chunk   sdk.Chunk      // for output
	Facts   map[string]any // for facts: the names that changed and their values
	// Probe is set on the facts event of a probe of the device (at the
	// start of a run and after each reboot): the facts as it reported them.
	Probe *sdk.Facts
	// Checkpoint is set on step_finished: store it to resume after this step.
	Checkpoint *Checkpoint
	Outcome    *Outcome // for outcome
}

// Sink receives a run's events in order. Emit is called from the goroutine
// running the playbook; it should not block for long.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

// Emit calls f.
func (f SinkFunc) Emit(e Event) { f(e) }

// Engine runs one playbook on one device through an executor. It knows
// nothing of storage or scheduling: its caller stores the checkpoints and
// outcome it emits.
type Engine struct {
	Executor Executor
	Clock    Clock // default SystemClock
}

// Run is one playbook applied to one device.
type Run struct {
	Playbook *Playbook
	Target   sdk.Target
	// Params are the caller's values by name; defaults fill the rest.
	Params map[string]any
	// Resume continues from a stored checkpoint; nil starts afresh.
	Resume *Checkpoint
	// ID names the run on the device (its SYSTEM tasks and their files):
	// letters, digits, '.', '_' and '-', at most 24. A resumed run keeps the
	// checkpoint's; an empty ID is generated.
	ID string
}

// Default timings.
const (
	DefaultBackoff       = 10 * time.Second
	DefaultRebootTimeout = 30 * time.Minute
	DefaultWaitInterval  = 30 * time.Second
	DefaultWaitTimeout   = time.Hour
	rebootPollMin        = 5 * time.Second
	// rebootGrace is how long a device whose restart command's reply was
	// lost may stay on the same boot before it is asked again.
	rebootGrace   = 2 * time.Minute
	rebootPollMax = time.Minute
)

// Execute runs r to its outcome, emitting events to sink. It returns an
// error only when the run could not be carried out as asked (bad
// parameters, cancelled); a device that fails is an Outcome, not an error.
// A cancelled run stops promptly after emitting its last checkpoint.
func (e *Engine) Execute(ctx context.Context, r Run, sink Sink) (Outcome, error) {
	params, err := r.Playbook.Values(r.Params)
	if err != nil {
		return Outcome{}, err
	}
	// The preamble is the same for every script of the run: build it once.
	preamble, err := ParamsPreamble(params)
	if err != nil {
		return Outcome{}, fmt.Errorf("playbook %s: %w", r.Playbook.Name, err)
	}
	st := &runState{e: e, r: r, sink: sink, params: params, preamble: preamble, clock: e.Clock}
	if st.clock == nil {
		st.clock = SystemClock{}
	}
	cp := Checkpoint{Phase: PhaseSteps, Facts: map[string]any{}}
	if r.Resume != nil {
		cp = *r.Resume
		cp.Facts = maps.Clone(r.Resume.Facts)
		if cp.Facts == nil {
			cp.Facts = map[string]any{}
		}
	}
	st.facts = cp.Facts
	st.tasks = slices.Clone(cp.Tasks)
	switch {
	case cp.RunID != "":
		st.runID = cp.RunID
	case r.ID != "":
		if !runIDRE.MatchString(r.ID) {
			return Outcome{}, fmt.Errorf("playbook %s: run id %q: want at most 24 letters, digits, '.', '_' or '-'", r.Playbook.Name, r.ID)
		}
		st.runID = r.ID
	default:
		st.runID = newRunID()
	}
	// Facts are observed afresh at the start and on every resume: the
	// device may have changed while the run was stopped.
	if out, ok := st.probe(ctx); !ok {
		return st.finish(ctx, out)
	}
	out, err := st.from(ctx, cp)
	if err != nil {
		return Outcome{}, err
	}
	return st.finish(ctx, out)
}

type runState struct {
	e      *Engine
	r      Run
	sink   Sink
	clock  Clock
	params map[string]any
	facts  map[string]any
	// preamble gives scripts their parameters as $Params.
	preamble string
	runID    string
	tasks    []string // SYSTEM tasks launched, for cleanup
}

func (st *runState) emit(ev Event) {
	ev.At = st.clock.Now()
	if st.sink != nil {
		st.sink.Emit(ev)
	}
}

func (st *runState) finish(ctx context.Context, o Outcome) (Outcome, error) {
	if len(st.tasks) > 0 && o.Reason != ReasonUnreachable && o.Reason != ReasonAuthFailed {
		if err := st.removeTasks(ctx); err != nil {
			o.Message = strings.TrimPrefix(o.Message+"; ", "; ") + "SYSTEM tasks not removed: " + err.Error()
		}
	}
	st.emit(Event{Kind: EventOutcome, Outcome: &o})
	return o, nil
}

// from runs the playbook from a checkpoint to its outcome.
func (st *runState) from(ctx context.Context, cp Checkpoint) (Outcome, error) {
	pb := st.r.Playbook
	if cp.Phase == PhaseOnFailure {
		return st.rollback(ctx, cp.Next, *cp.Failure)
	}
	if cp.Phase == PhaseSteps {
		out, done, err := st.block(ctx, PhaseSteps, pb.Steps, cp.Next, nil)
		if err != nil || done {
			return st.afterFailure(ctx, out, err)
		}
		cp.Next = 0
	}
	out, done, err := st.block(ctx, PhaseVerify, pb.Verify, cp.Next, nil)
	if err != nil || done {
		if err == nil && out.Status == StatusFailed && out.Reason == ReasonCommandFailed {
			out.Reason = ReasonVerifyFailed
		}
		return st.afterFailure(ctx, out, err)
	}
	return Outcome{Status: StatusSucceeded, Reason: ReasonCompleted}, nil
}

// afterFailure runs on_failure when a failure calls for it. A device that
// went unreachable is not rolled back: nothing can reach it, its state is
// unknown, and the run resumes from its last checkpoint once it is back.
func (st *runState) afterFailure(ctx context.Context, out Outcome, err error) (Outcome, error) {
	if err != nil {
		return Outcome{}, err
	}
	if out.Status != StatusFailed || out.Reason == ReasonUnreachable || len(st.r.Playbook.OnFailure) == 0 {
		return out, nil
	}
	return st.rollback(ctx, 0, out)
}

func (st *runState) rollback(ctx context.Context, next int, failure Outcome) (Outcome, error) {
	out, done, err := st.block(ctx, PhaseOnFailure, st.r.Playbook.OnFailure, next, &failure)
	switch {
	case err != nil:
		return Outcome{}, err
	case done && endsPlaybook(st.r.Playbook.OnFailure, out.Step):
		// A fail or skip step in on_failure names the outcome, e.g. rolled_back.
		return out, nil
	case done:
		failure.Message += fmt.Sprintf("; rollback step %q: %s (%s)", out.Step, out.Message, out.Reason)
	}
	return failure, nil
}

// block runs steps[next:]. done is true when a step ended the playbook
// (skip or fail); out says how.
func (st *runState) block(ctx context.Context, phase Phase, steps []Step, next int, failure *Outcome) (out Outcome, done bool, err error) {
	for i := next; i < len(steps); i++ {
		if err := ctx.Err(); err != nil {
			return Outcome{}, false, fmt.Errorf("playbook %s: %w", st.r.Playbook.Name, err)
		}
		s := &steps[i]
		run, err := st.when(s, nil)
		if err != nil {
			return Outcome{Status: StatusFailed, Reason: ReasonBadCondition, Message: err.Error(), Step: s.Name}, true, nil
		}
		if !run {
			st.emit(Event{Kind: EventStepSkipped, Phase: phase, Index: i, Step: s.Name})
		} else {
			out, stop, err := st.step(ctx, phase, i, s)
			if err != nil {
				return Outcome{}, false, err
			}
			if stop {
				out.Step = s.Name
				return out, true, nil
			}
		}
		cp := &Checkpoint{Phase: phase, Next: i + 1, Facts: maps.Clone(st.facts), Failure: failure,
			RunID: st.runID, Tasks: slices.Clone(st.tasks)}
		st.emit(Event{Kind: EventStepFinished, Phase: phase, Index: i, Step: s.Name, Checkpoint: cp})
	}
	return Outcome{}, false, nil
}

func (st *runState) when(s *Step, item *string) (bool, error) {
	if s.When == "" || (s.Loop != "" && item == nil) { // a loop's when is checked per item
		return true, nil
	}
	env := map[string]any{"params": st.params, "facts": st.facts}
	if item != nil {
		env["item"] = *item
	}
	v, err := expr.Eval(s.When, env)
	if err != nil {
		return false, fmt.Errorf("step %q: when %q: %w", s.Name, s.When, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("step %q: when %q is %T, not true or false", s.Name, s.When, v)
	}
	return b, nil
}

// step runs one step, with its retries. stop ends the playbook with out.
func (st *runState) step(ctx context.Context, phase Phase, i int, s *Step) (out Outcome, stop bool, err error) {
	if s.PowerShell == "" && s.Cmd == "" { // an action the engine carries out itself, once
		st.emit(Event{Kind: EventStepStarted, Phase: phase, Index: i, Step: s.Name, Attempt: 1})
		switch {
		case s.Fail != "":
			reason, msg := splitReason(s.Fail, "failed")
			return Outcome{Status: StatusFailed, Reason: reason, Message: msg}, true, nil
		case s.Skip != "":
			reason, msg := splitReason(s.Skip, "skipped")
			return Outcome{Status: StatusSkipped, Reason: reason, Message: msg}, true, nil
		case s.Reboot != nil:
			return st.reboot(ctx, s)
		default:
			return st.waitUntil(ctx, phase, i, s)
		}
	}
	if s.Loop != "" {
		return st.loop(ctx, phase, i, s)
	}
	a, err := st.attempts(ctx, phase, i, s, nil)
	switch {
	case err != nil || a.stop:
		return a.out, a.stop, err
	case a.verdict == VerdictSkip:
		return Outcome{Status: StatusSkipped, Reason: a.reason}, true, nil
	}
	if s.Register != nil {
		v, err := Capture(s.Register, a.res.Stdout)
		if err != nil {
			return Outcome{Status: StatusFailed, Reason: ReasonBadOutput, Message: err.Error()}, true, nil
		}
		st.setFacts(phase, i, s.Name, map[string]any{s.Register.Name: v})
	}
	if a.verdict == VerdictReboot {
		return st.reboot(ctx, s)
	}
	return Outcome{}, false, nil
}

// loop runs a step once per item of its list.
func (st *runState) loop(ctx context.Context, phase Phase, i int, s *Step) (Outcome, bool, error) {
	items, err := st.items(s)
	if err != nil {
		return Outcome{Status: StatusFailed, Reason: ReasonBadCondition, Message: err.Error()}, true, nil
	}
	results := map[string]any{}
	reboot := false
	for _, item := range items {
		run, err := st.when(s, &item)
		if err != nil {
			return Outcome{Status: StatusFailed, Reason: ReasonBadCondition, Message: err.Error()}, true, nil
		}
		if !run {
			st.emit(Event{Kind: EventStepSkipped, Phase: phase, Index: i, Step: s.Name, Item: item})
			continue
		}
		a, err := st.attempts(ctx, phase, i, s, &item)
		if err != nil || a.stop {
			if a.out.Message != "" {
				a.out.Message = item + ": " + a.out.Message
			}
			return a.out, a.stop, err
		}
		r := map[string]any{"exit_code": a.res.ExitCode, "verdict": a.verdict.String(), "reason": string(a.reason)}
		if s.Register != nil && (s.Register.JSON || s.Register.Regex != "") {
			v, err := Capture(s.Register, a.res.Stdout)
			if err != nil {
				return Outcome{Status: StatusFailed, Reason: ReasonBadOutput, Message: item + ": " + err.Error()}, true, nil
			}
			r["value"] = v
		}
		results[item] = r
		reboot = reboot || a.verdict == VerdictReboot
	}
	if s.Register != nil {
		st.setFacts(phase, i, s.Name, map[string]any{s.Register.Name: results})
	}
	if reboot {
		return st.reboot(ctx, s)
	}
	return Outcome{}, false, nil
}

// items evaluates a loop's list.
func (st *runState) items(s *Step) ([]string, error) {
	v, err := expr.Eval(s.Loop, map[string]any{"params": st.params, "facts": st.facts})
	if err != nil {
		return nil, fmt.Errorf("step %q: loop %q: %w", s.Name, s.Loop, err)
	}
	var out []string
	switch x := v.(type) {
	case []string:
		out = x
	case []any:
		for _, it := range x {
			out = append(out, fmt.Sprint(it))
		}
	case nil:
	default:
		return nil, fmt.Errorf("step %q: loop %q is %T, not a list", s.Name, s.Loop, v)
	}
	return out, nil
}

// attempt is how one script step (or loop item) went, after its retries.
type attempt struct {
	res     sdk.Result
	verdict Verdict
	reason  Reason
	out     Outcome // when stop: why the playbook ends
	stop    bool
}

// attempts runs a step's script, retrying transient failures always and
// failed commands only when the step says so.
func (st *runState) attempts(ctx context.Context, phase Phase, i int, s *Step, item *string) (attempt, error) {
	tries, backoff := 1, DefaultBackoff
	if s.Retries != nil {
		tries += s.Retries.Count
		if s.Retries.Backoff.Duration > 0 {
			backoff = s.Retries.Backoff.Duration
		}
	}
	for n := 1; ; n++ {
		ev := Event{Kind: EventStepStarted, Phase: phase, Index: i, Step: s.Name, Attempt: n}
		if item != nil {
			ev.Item = *item
		}
		st.emit(ev)
		a, retry, err := st.script(ctx, phase, i, s, item, n)
		if err != nil || !retry || n >= tries {
			return a, err
		}
		select {
		case <-ctx.Done():
			return attempt{}, fmt.Errorf("playbook %s step %q: %w", st.r.Playbook.Name, s.Name, ctx.Err())
		case <-st.clock.After(backoff):
		}
		backoff *= 2
	}
}

// script runs a step's script once and judges its exit code. retry says
// whether another attempt is allowed.
func (st *runState) script(ctx context.Context, phase Phase, i int, s *Step, item *string, n int) (a attempt, retry bool, err error) {
	cmd := st.command(s.PowerShell, s.Cmd, item)
	cmd.Timeout = s.Timeout.Duration
	out := func(c sdk.Chunk) {
		ev := Event{Kind: EventOutput, Phase: phase, Index: i, Step: s.Name, Chunk: c}
		if item != nil {
			ev.Item = *item
		}
		st.emit(ev)
	}
	var res sdk.Result
	if s.RunAs == RunAsSystem {
		res, err = st.asSystem(ctx, s, st.taskName(phase, i, item, n), cmd, out)
	} else {
		res, err = st.e.Executor.Exec(ctx, st.r.Target, cmd, out)
	}
	var launch *taskError
	switch {
	case errors.As(err, &launch):
		return attempt{stop: true, out: Outcome{Status: StatusFailed, Reason: ReasonTaskFailed, Message: launch.Error()}}, false, nil
	case err != nil && !sdk.IsKind(err, sdk.CommandFailed):
		if ctx.Err() != nil {
			return attempt{}, false, fmt.Errorf("playbook %s step %q: %w", st.r.Playbook.Name, s.Name, ctx.Err())
		}
		return attempt{stop: true, out: transportOutcome(err)}, sdk.KindOf(err).Retryable(), nil
	}
	a = attempt{res: res}
	a.verdict, a.reason = Judge(s.Expect, res.ExitCode)
	if a.verdict == VerdictFail {
		if strings.HasPrefix(string(a.reason), "exit:") {
			a.reason = ReasonCommandFailed
		}
		msg := fmt.Sprintf("exit code %d (0x%08X)", res.ExitCode, uint32(res.ExitCode))
		a.stop, a.out = true, Outcome{Status: StatusFailed, Reason: a.reason, Message: msg}
		return a, s.Retries != nil && s.Retries.OnFailure, nil
	}
	return a, false, nil
}

// command is a step's script: cmd as written (cmd.exe has no safe way to
// take values, so cmd steps get none), PowerShell after the $Params
// preamble and, in a loop, $Item.
func (st *runState) command(ps, cmd string, item *string) sdk.Command {
	if cmd != "" {
		return sdk.Command{Shell: sdk.Cmd, Script: cmd}
	}
	pre := st.preamble
	if item != nil {
		pre += "$Item = " + PSLiteral(*item) + "\n"
	}
	return sdk.Command{Shell: sdk.PowerShell, Script: pre + ps}
}

func (st *runState) setFacts(phase Phase, i int, step string, changed map[string]any) {
	maps.Copy(st.facts, changed)
	st.emit(Event{Kind: EventFacts, Phase: phase, Index: i, Step: step, Facts: changed})
}

// probed records a probe's facts into the run, and emits them both as a
// playbook sees them and as the device reported them.
func (st *runState) probed(step string, f sdk.Facts) {
	changed := DeviceFacts(f)
	maps.Copy(st.facts, changed)
	st.emit(Event{Kind: EventFacts, Index: -1, Step: step, Facts: changed, Probe: &f})
}

var reasonRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(:0x[0-9A-Fa-f]+)?$`)

// splitReason reads a fail or skip step's "reason" or "reason: message".
func splitReason(text string, fallback Reason) (Reason, string) {
	head, msg, _ := strings.Cut(text, ": ")
	if reasonRE.MatchString(text) {
		return Reason(text), ""
	}
	if reasonRE.MatchString(head) {
		return Reason(head), strings.TrimSpace(msg)
	}
	return fallback, text
}

// endsPlaybook says whether the named step is a fail or skip step.
func endsPlaybook(steps []Step, name string) bool {
	for _, s := range steps {
		if s.Name == name {
			return s.Fail != "" || s.Skip != ""
		}
	}
	return false
}

// transportOutcome names why a command could not be run.
func transportOutcome(err error) Outcome {
	o := Outcome{Status: StatusFailed, Message: err.Error()}
	switch sdk.KindOf(err) {
	case sdk.Unreachable:
		o.Reason = ReasonUnreachable
	case sdk.AuthFailed:
		o.Reason = ReasonAuthFailed
	case sdk.TimedOut:
		o.Reason = ReasonTimedOut
	default:
		o.Reason = Reason(sdk.KindOf(err))
	}
	return o
}

// probe reads the device's facts into the run. ok is false when the device
// could not be probed; out says why.
func (st *runState) probe(ctx context.Context) (out Outcome, ok bool) {
	res, err := st.e.Executor.Probe(ctx, st.r.Target)
	if err != nil {
		return transportOutcome(err), false
	}
	st.probed("", res.Facts)
	return Outcome{}, true
}

// DeviceFacts are a probe's facts as a playbook's conditions see them
// (facts.os_build, facts.kbs, ...).
func DeviceFacts(f sdk.Facts) map[string]any {
	kbs := make([]any, len(f.KBs))
	for i, k := range f.KBs {
		kbs[i] = k
	}
	return map[string]any{
		"hostname": f.Hostname, "os_caption": f.OSCaption, "os_edition": f.OSEdition, "os_build": f.OSBuild,
		"ubr": f.UBR, "kbs": kbs, "disk_free_gb": f.DiskFreeGB, "ram_gb": f.RAMGB,
		"manufacturer": f.Manufacturer, "model": f.Model, "last_boot": f.LastBoot.UTC().Format(time.RFC3339),
		"pending_reboot": f.PendingReboot,
	}
}

// expired reports whether a wait whose budget ends at deadline is over,
// given that its last check began at checked: only a check begun at or
// after the deadline can end the wait. A check begun before it and
// answered after (a slow network, a loaded host, a simulated estate's
// compressed time) earns one more look, so the time a check itself takes
// never counts against the device.
func expired(deadline, checked time.Time) bool { return !checked.Before(deadline) }

// reboot restarts the device and waits, polling with backoff, until it has
// gone away and come back (a later boot time), then re-probes its facts.
// A device that does not return within the timeout is reboot_timeout.
func (st *runState) reboot(ctx context.Context, s *Step) (Outcome, bool, error) {
	timeout := DefaultRebootTimeout
	if s.Reboot != nil && s.Reboot.Timeout.Duration > 0 {
		timeout = s.Reboot.Timeout.Duration
	}
	before, _ := st.facts["last_boot"].(string)
	// shutdown /r returns at once and restarts after /t seconds, so the
	// command's reply is normally not cut off by the restart itself.
	restart := sdk.Command{Shell: sdk.Cmd, Script: "shutdown /r /t 5", Timeout: time.Minute}
	_, err := st.e.Executor.Exec(ctx, st.r.Target, restart, nil)
	// A reply lost in the protocol (the shell gone: the restart came
	// first, on a loaded host or network) leaves it unknown whether the
	// restart began: the boot time below says. Seen up on the same boot
	// once a grace has passed, the device is asked once more.
	unsure := err != nil && sdk.IsKind(err, sdk.Protocol)
	if err != nil && ctx.Err() == nil && !sdk.KindOf(err).Retryable() && !unsure {
		return transportOutcome(err), true, nil
	}
	askAgain := st.clock.Now().Add(rebootGrace)
	deadline := st.clock.Now().Add(timeout)
	wait := rebootPollMin
	for {
		select {
		case <-ctx.Done():
			return Outcome{}, false, fmt.Errorf("playbook %s step %q: waiting for reboot: %w", st.r.Playbook.Name, s.Name, ctx.Err())
		case <-st.clock.After(wait):
		}
		checked := st.clock.Now()
		res, err := st.e.Executor.Probe(ctx, st.r.Target)
		if err == nil && res.Facts.LastBoot.UTC().Format(time.RFC3339) != before {
			st.probed(s.Name, res.Facts)
			return Outcome{}, false, nil
		}
		if err != nil && sdk.IsKind(err, sdk.AuthFailed) {
			return transportOutcome(err), true, nil
		}
		if err == nil && unsure && !checked.Before(askAgain) {
			unsure = false
			if _, err := st.e.Executor.Exec(ctx, st.r.Target, restart, nil); err != nil && ctx.Err() == nil &&
				!sdk.KindOf(err).Retryable() && !sdk.IsKind(err, sdk.Protocol) {
				return transportOutcome(err), true, nil
			}
		}
		if expired(deadline, checked) {
			return Outcome{Status: StatusFailed, Reason: ReasonRebootTimeout,
				Message: fmt.Sprintf("device did not come back within %s", timeout)}, true, nil
		}
		wait = min(wait*2, rebootPollMax)
	}
}

// waitUntil polls a check until it holds or the timeout passes: the check
// exits 0 and, when the wait has an until, the step's register has read
// its output and until is true.
func (st *runState) waitUntil(ctx context.Context, phase Phase, i int, s *Step) (Outcome, bool, error) {
	w := s.WaitUntil
	interval, timeout := DefaultWaitInterval, DefaultWaitTimeout
	if w.Interval.Duration > 0 {
		interval = w.Interval.Duration
	}
	if w.Timeout.Duration > 0 {
		timeout = w.Timeout.Duration
	}
	deadline := st.clock.Now().Add(timeout)
	for {
		cmd := st.command(w.PowerShell, "", nil)
		cmd.Timeout = interval
		checked := st.clock.Now()
		res, err := st.e.Executor.Exec(ctx, st.r.Target, cmd, nil)
		switch {
		case err == nil && res.ExitCode == 0:
			done, err := st.until(phase, i, s, res.Stdout)
			if err != nil {
				return Outcome{Status: StatusFailed, Reason: ReasonBadCondition, Message: err.Error()}, true, nil
			}
			if done {
				return Outcome{}, false, nil
			}
		case ctx.Err() != nil:
			return Outcome{}, false, fmt.Errorf("playbook %s step %q: %w", st.r.Playbook.Name, s.Name, ctx.Err())
		case err != nil && !sdk.IsKind(err, sdk.CommandFailed) && !sdk.KindOf(err).Retryable():
			return transportOutcome(err), true, nil
		}
		if expired(deadline, checked) {
			return Outcome{Status: StatusFailed, Reason: ReasonTimedOut,
				Message: fmt.Sprintf("%s: not true within %s", s.Name, timeout)}, true, nil
		}
		select {
		case <-ctx.Done():
			return Outcome{}, false, fmt.Errorf("playbook %s step %q: %w", st.r.Playbook.Name, s.Name, ctx.Err())
		case <-st.clock.After(interval):
		}
	}
}

// until registers a successful poll's output and evaluates the wait's
// until. Output that register cannot read means "not yet".
func (st *runState) until(phase Phase, i int, s *Step, stdout []byte) (bool, error) {
	if s.Register != nil {
		v, err := Capture(s.Register, stdout)
		if err != nil {
			return false, nil
		}
		st.setFacts(phase, i, s.Name, map[string]any{s.Register.Name: v})
	}
	if s.WaitUntil.Until == "" {
		return true, nil
	}
	v, err := expr.Eval(s.WaitUntil.Until, map[string]any{"params": st.params, "facts": st.facts})
	if err != nil {
		return false, fmt.Errorf("step %q: until %q: %w", s.Name, s.WaitUntil.Until, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("step %q: until %q is %T, not true or false", s.Name, s.WaitUntil.Until, v)
	}
	return b, nil
}
