package orchestrator

import (
	"fmt"
	"slices"
	"time"

	"github.com/ringmaster-fleet/ringmaster/playbooks"
)

// This file is the campaign state machine, whole: how a campaign's status
// changes and who changes it, how a device moves between states, what
// retry reopens, and which reasons count as failures. Stores guard every
// change with these tables; the controller, the workers and the commands
// read them rather than keep their own lists.

// Reason is why a device ended where it did: a playbook outcome's reason
// (playbooks.Reason*, or one a playbook names) or one the orchestrator
// itself gives (below). It is the playbook engine's type, so an outcome's
// reason is stored as it is.
type Reason = playbooks.Reason

// Reasons the orchestrator gives, for runs that did not get as far as an
// outcome of the engine's.
const (
	ReasonCancelled   Reason = "cancelled"    // the campaign was cancelled before or while the device ran
	ReasonBadPlaybook Reason = "bad_playbook" // the stored playbook no longer parses
	ReasonNoTarget    Reason = "no_target"    // the device could not be turned into an executor target
	ReasonBadRun      Reason = "bad_run"      // the engine could not run the playbook at all
	ReasonExcluded    Reason = "excluded"     // a person took the device out of the campaign (campaign exclude)
)

// CountsAsFailure reports whether a device in state with reason counts
// towards a wave's halt threshold. Only failed devices count, and not
// those that could not be reached (ReasonUnreachable) or logged on to
// (ReasonAuthFailed), or were not eligible (ReasonIneligible...): they say
// nothing about the playbook.
func CountsAsFailure(state DeviceState, reason Reason) bool {
	if state != DeviceFailed {
		return false
	}
	return reason != playbooks.ReasonUnreachable && reason != playbooks.ReasonAuthFailed && !reason.Ineligible()
}

// Statuses lists every campaign status.
var Statuses = []Status{StatusDraft, StatusRunning, StatusPaused, StatusCancelled, StatusDone}

// DeviceStates lists every device state, in the order reports show them.
var DeviceStates = []DeviceState{DevicePending, DeviceQueued, DeviceRunning, DeviceSucceeded, DeviceFailed, DeviceSkipped, DeviceDeferred}

// WaveStatuses lists every wave status.
var WaveStatuses = []WaveStatus{WavePending, WaveAwaitingApproval, WaveActive, WaveHalted, WaveDone}

// Live reports a campaign the controller decides for: running, or paused
// (runs in flight finish, deferred devices wait).
func (s Status) Live() bool { return s == StatusRunning || s == StatusPaused }

// Action is what changes a campaign's status: a person's command, or the
// controller finding every device final.
type Action string

// Actions.
const (
	ActionStart    Action = "start"    // campaign start
	ActionPause    Action = "pause"    // campaign pause
	ActionResume   Action = "resume"   // campaign resume
	ActionCancel   Action = "cancel"   // campaign cancel
	ActionRetry    Action = "retry"    // campaign retry --failed, when it reopened any device
	ActionComplete Action = "complete" // the controller: Plan.Done
	ActionInclude  Action = "include"  // campaign include, when it put any device back
)

// StatusChange is one row of the campaign status machine: an action moves
// a campaign from any of From to To.
type StatusChange struct {
	Action Action
	From   []Status
	To     Status
}

// statusChanges is the campaign status machine. Retry does not change a
// running or paused campaign's status; it reopens a done one.
var statusChanges = []StatusChange{
	{ActionStart, []Status{StatusDraft}, StatusRunning},
	{ActionPause, []Status{StatusRunning}, StatusPaused},
	{ActionResume, []Status{StatusPaused}, StatusRunning},
	{ActionCancel, []Status{StatusDraft, StatusRunning, StatusPaused}, StatusCancelled},
	{ActionRetry, []Status{StatusDone}, StatusRunning},
	{ActionComplete, []Status{StatusRunning}, StatusDone},
	{ActionInclude, []Status{StatusDone}, StatusRunning},
}

// StatusChanges returns the campaign status machine, one row per action.
func StatusChanges() []StatusChange { return slices.Clone(statusChanges) }

// ChangeFor returns the row of action a; false for an unknown action.
func ChangeFor(a Action) (StatusChange, bool) {
	for _, c := range statusChanges {
		if c.Action == a {
			return c, true
		}
	}
	return StatusChange{}, false
}

// Allows reports whether the change may start from status s.
func (c StatusChange) Allows(s Status) bool { return slices.Contains(c.From, s) }

// Apply returns the status action a moves a campaign in status s to, or an
// error wrapping ErrState when s does not allow it.
func (s Status) Apply(a Action) (Status, error) {
	c, ok := ChangeFor(a)
	if !ok {
		return s, fmt.Errorf("unknown action %q: %w", a, ErrState)
	}
	if !c.Allows(s) {
		return s, fmt.Errorf("cannot %s a %s campaign: %w", a, s, ErrState)
	}
	return c.To, nil
}

// DeviceEvent is what moves a device from one state to another.
type DeviceEvent string

// Device events.
const (
	EventDispatch   DeviceEvent = "dispatch"   // the controller's plan starts it (a new generation and job)
	EventRedispatch DeviceEvent = "redispatch" // its job was taken by a worker that died before it began
	EventOrphaned   DeviceEvent = "orphaned"   // its worker went silent: the lease lapsed
	EventBegin      DeviceEvent = "begin"      // a worker takes its job (or takes it over after a lost worker)
	EventFinish     DeviceEvent = "finish"     // the run ended: an outcome, or deferred while unreachable
	EventRetry      DeviceEvent = "retry"      // campaign retry --failed
	EventExclude    DeviceEvent = "exclude"    // campaign exclude: a person takes a device out
	EventInclude    DeviceEvent = "include"    // campaign include: a person puts an excluded device back
)

// DeviceMove is one row of the device state machine: an event moves a
// device in any of From (and, when FromReason is set, only one with that
// reason) to one of To, giving it Reason, and starting a new dispatch
// generation (a new job; jobs of older generations do nothing) when
// NewGeneration.
type DeviceMove struct {
	Event         DeviceEvent
	From          []DeviceState
	To            []DeviceState
	NewGeneration bool
	FromReason    Reason
	Reason        Reason
}

// Moves reports whether the move applies to a device in state with
// reason.
func (m DeviceMove) Moves(state DeviceState, reason Reason) bool {
	return slices.Contains(m.From, state) && (m.FromReason == "" || m.FromReason == reason)
}

// deviceMoves is the device state machine. A device in a final state
// (succeeded, failed, skipped) leaves it only by retry, and only from
// failed, or by include, and only from skipped as excluded. Exclude takes
// only a device that has not started (pending) or waits between attempts
// (deferred): one in flight finishes its run, and a final one keeps what
// happened to it.
var deviceMoves = []DeviceMove{
	{Event: EventDispatch, From: []DeviceState{DevicePending, DeviceDeferred}, To: []DeviceState{DeviceQueued}, NewGeneration: true},
	{Event: EventRedispatch, From: []DeviceState{DeviceQueued}, To: []DeviceState{DeviceQueued}, NewGeneration: true},
	{Event: EventOrphaned, From: []DeviceState{DeviceRunning}, To: []DeviceState{DeviceQueued}, NewGeneration: true},
	{Event: EventBegin, From: []DeviceState{DeviceQueued, DeviceRunning}, To: []DeviceState{DeviceRunning}},
	{Event: EventFinish, From: []DeviceState{DeviceRunning}, To: []DeviceState{DeviceSucceeded, DeviceFailed, DeviceSkipped, DeviceDeferred}},
	{Event: EventRetry, From: []DeviceState{DeviceFailed}, To: []DeviceState{DevicePending}},
	{Event: EventExclude, From: []DeviceState{DevicePending, DeviceDeferred}, To: []DeviceState{DeviceSkipped}, Reason: ReasonExcluded},
	{Event: EventInclude, From: []DeviceState{DeviceSkipped}, To: []DeviceState{DevicePending}, FromReason: ReasonExcluded},
}

// DeviceMoves returns the device state machine, one row per event.
func DeviceMoves() []DeviceMove { return slices.Clone(deviceMoves) }

// MoveFor returns the row of event e; false for an unknown event.
func MoveFor(e DeviceEvent) (DeviceMove, bool) {
	for _, m := range deviceMoves {
		if m.Event == e {
			return m, true
		}
	}
	return DeviceMove{}, false
}

// From returns the states event e may move a device from.
func (e DeviceEvent) From() []DeviceState {
	m, _ := MoveFor(e)
	return slices.Clone(m.From)
}

// Allows reports whether event e may move a device from one state to
// another.
func (e DeviceEvent) Allows(from, to DeviceState) bool {
	m, ok := MoveFor(e)
	return ok && slices.Contains(m.From, from) && slices.Contains(m.To, to)
}

// Dispatchable reports a state the controller's plan may dispatch a device
// from.
func (s DeviceState) Dispatchable() bool { return EventDispatch.Allows(s, DeviceQueued) }

// RetryWaveFrom lists the wave statuses retry --failed makes active again
// for a wave it reopens devices in: a halted wave (its failures are to run
// again) and a done one (it has work again). A pending or awaiting wave
// is left for the controller to reach in order.
var RetryWaveFrom = []WaveStatus{WaveHalted, WaveDone}

// ReopensWave reports whether retry --failed makes a wave in status w
// active again.
func ReopensWave(w WaveStatus) bool { return slices.Contains(RetryWaveFrom, w) }

// IncludeWaveFrom lists the wave statuses campaign include makes active
// again for a wave it puts a device back in: a done wave has work again.
// A halted wave stays halted (only a person's continue or retry moves it
// on), and a pending or awaiting one is reached in order.
var IncludeWaveFrom = []WaveStatus{WaveDone}

// ContinueFrom lists the wave statuses campaign continue accepts the
// failures of: a halted wave, and a started one holding an organisation
// its own failures halted. Continue makes a halted wave active again; the
// controller halts it anew only on failures beyond those accepted.
var ContinueFrom = []WaveStatus{WaveHalted, WaveActive, WaveDone}

// Amendable lists the campaign statuses campaign set may change the
// thresholds, windows, caps and deadline of: any not yet over.
var Amendable = []Status{StatusDraft, StatusRunning, StatusPaused}

// AfterRun says where a playbook's outcome leaves a device on its
// attempt-th run (1 for the first): succeeded, skipped, failed, or, when
// the device could not be reached, deferred until the spec's backoff
// (doubling per attempt up to its maximum) has passed from now.
func (s *Spec) AfterRun(o playbooks.Outcome, attempt int, now time.Time) (DeviceState, time.Time) {
	switch {
	case o.Status == playbooks.StatusSkipped:
		return DeviceSkipped, time.Time{}
	case o.Status == playbooks.StatusFailed && o.Reason == playbooks.ReasonUnreachable:
		backoff := s.Defer.Backoff.Duration << min(max(attempt-1, 0), 16)
		return DeviceDeferred, now.Add(min(backoff, s.Defer.MaxBackoff.Duration))
	case o.Status == playbooks.StatusFailed:
		return DeviceFailed, time.Time{}
	}
	return DeviceSucceeded, time.Time{}
}
