package orchestrator

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/playbooks"
)

// TestStatusMachineComplete checks the campaign status machine: every
// action has one row, every status is reachable from draft, every
// non-final status can be left, and the final ones (cancelled) only as
// the table says.
func TestStatusMachineComplete(t *testing.T) {
	actions := []Action{ActionStart, ActionPause, ActionResume, ActionCancel, ActionRetry, ActionComplete, ActionInclude}
	changes := StatusChanges()
	if len(changes) != len(actions) {
		t.Fatalf("%d rows for %d actions", len(changes), len(actions))
	}
	for _, a := range actions {
		c, ok := ChangeFor(a)
		if !ok {
			t.Errorf("action %s has no row", a)
			continue
		}
		if len(c.From) == 0 || !slices.Contains(Statuses, c.To) {
			t.Errorf("action %s: from %v to %q", a, c.From, c.To)
		}
		for _, f := range c.From {
			if !slices.Contains(Statuses, f) {
				t.Errorf("action %s from unknown status %q", a, f)
			}
		}
	}
	// Reachable from draft.
	seen := map[Status]bool{StatusDraft: true}
	for changed := true; changed; {
		changed = false
		for _, c := range changes {
			for _, f := range c.From {
				if seen[f] && !seen[c.To] {
					seen[c.To], changed = true, true
				}
			}
		}
	}
	for _, s := range Statuses {
		if !seen[s] {
			t.Errorf("status %s cannot be reached from draft", s)
		}
	}
	// Every status but cancelled can be left.
	for _, s := range Statuses {
		left := slices.ContainsFunc(changes, func(c StatusChange) bool { return c.Allows(s) })
		if left != (s != StatusCancelled) {
			t.Errorf("status %s: can be left %v", s, left)
		}
	}
	// Live is what the controller decides for.
	for _, s := range Statuses {
		if s.Live() != (s == StatusRunning || s == StatusPaused) {
			t.Errorf("%s.Live() = %v", s, s.Live())
		}
	}
}

// TestStatusApply walks every status and action: allowed ones move to
// the row's status, the rest fail with ErrState and move nothing.
func TestStatusApply(t *testing.T) {
	tests := []struct {
		from Status
		a    Action
		want Status // "" when refused
	}{
		{StatusDraft, ActionStart, StatusRunning},
		{StatusDraft, ActionPause, ""},
		{StatusDraft, ActionResume, ""},
		{StatusDraft, ActionCancel, StatusCancelled},
		{StatusDraft, ActionRetry, ""},
		{StatusDraft, ActionComplete, ""},
		{StatusDraft, ActionInclude, ""},
		{StatusRunning, ActionStart, ""},
		{StatusRunning, ActionPause, StatusPaused},
		{StatusRunning, ActionResume, ""},
		{StatusRunning, ActionCancel, StatusCancelled},
		{StatusRunning, ActionRetry, ""},
		{StatusRunning, ActionComplete, StatusDone},
		{StatusRunning, ActionInclude, ""},
		{StatusPaused, ActionStart, ""},
		{StatusPaused, ActionPause, ""},
		{StatusPaused, ActionResume, StatusRunning},
		{StatusPaused, ActionCancel, StatusCancelled},
		{StatusPaused, ActionRetry, ""},
		{StatusPaused, ActionComplete, ""},
		{StatusPaused, ActionInclude, ""},
		{StatusCancelled, ActionStart, ""},
		{StatusCancelled, ActionPause, ""},
		{StatusCancelled, ActionResume, ""},
		{StatusCancelled, ActionCancel, ""},
		{StatusCancelled, ActionRetry, ""},
		{StatusCancelled, ActionComplete, ""},
		{StatusCancelled, ActionInclude, ""},
		{StatusDone, ActionStart, ""},
		{StatusDone, ActionPause, ""},
		{StatusDone, ActionResume, ""},
		{StatusDone, ActionCancel, ""},
		{StatusDone, ActionRetry, StatusRunning},
		{StatusDone, ActionComplete, ""},
		{StatusDone, ActionInclude, StatusRunning},
	}
	if want := len(Statuses) * len(StatusChanges()); len(tests) != want {
		t.Fatalf("%d cases, want every status and action (%d)", len(tests), want)
	}
	for _, tt := range tests {
		got, err := tt.from.Apply(tt.a)
		switch {
		case tt.want == "" && !errors.Is(err, ErrState):
			t.Errorf("%s on %s: %s, %v; want ErrState", tt.a, tt.from, got, err)
		case tt.want == "" && got != tt.from:
			t.Errorf("%s on %s refused but moved to %s", tt.a, tt.from, got)
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("%s on %s: %s, %v; want %s", tt.a, tt.from, got, err, tt.want)
		}
	}
	if _, err := StatusDraft.Apply("explode"); !errors.Is(err, ErrState) {
		t.Errorf("unknown action: %v, want ErrState", err)
	}
}

// TestDeviceMachineComplete checks the device state machine: every event
// has one row over known states, every state is reachable from pending
// and can be left (final states only by retry, and only failed), and a
// dispatch is what starts a new generation.
func TestDeviceMachineComplete(t *testing.T) {
	events := []DeviceEvent{EventDispatch, EventRedispatch, EventOrphaned, EventBegin, EventFinish, EventRetry, EventExclude, EventInclude}
	moves := DeviceMoves()
	if len(moves) != len(events) {
		t.Fatalf("%d rows for %d events", len(moves), len(events))
	}
	for _, e := range events {
		m, ok := MoveFor(e)
		if !ok {
			t.Errorf("event %s has no row", e)
			continue
		}
		for _, s := range append(slices.Clone(m.From), m.To...) {
			if !slices.Contains(DeviceStates, s) {
				t.Errorf("event %s names unknown state %q", e, s)
			}
		}
		if len(m.From) == 0 || len(m.To) == 0 {
			t.Errorf("event %s: from %v to %v", e, m.From, m.To)
		}
		// A new generation is a new job: exactly the events that queue.
		if m.NewGeneration != slices.Equal(m.To, []DeviceState{DeviceQueued}) {
			t.Errorf("event %s: new generation %v, to %v", e, m.NewGeneration, m.To)
		}
	}
	seen := map[DeviceState]bool{DevicePending: true}
	for changed := true; changed; {
		changed = false
		for _, m := range moves {
			for _, f := range m.From {
				for _, to := range m.To {
					if seen[f] && !seen[to] {
						seen[to], changed = true, true
					}
				}
			}
		}
	}
	for _, s := range DeviceStates {
		if !seen[s] {
			t.Errorf("state %s cannot be reached from pending", s)
		}
		var leave []DeviceEvent
		for _, m := range moves {
			if slices.Contains(m.From, s) {
				leave = append(leave, m.Event)
			}
		}
		switch {
		case s == DeviceFailed && !slices.Equal(leave, []DeviceEvent{EventRetry}):
			t.Errorf("failed is left by %v, want retry only", leave)
		case s == DeviceSkipped && !slices.Equal(leave, []DeviceEvent{EventInclude}):
			t.Errorf("skipped is left by %v, want include only", leave)
		case s.Final() && s != DeviceFailed && s != DeviceSkipped && len(leave) > 0:
			t.Errorf("final state %s is left by %v", s, leave)
		case !s.Final() && len(leave) == 0:
			t.Errorf("state %s can never be left", s)
		}
		if s.InFlight() != (s == DeviceQueued || s == DeviceRunning) {
			t.Errorf("%s.InFlight() = %v", s, s.InFlight())
		}
		if s.Dispatchable() != (s == DevicePending || s == DeviceDeferred) {
			t.Errorf("%s.Dispatchable() = %v", s, s.Dispatchable())
		}
	}
	// Every pair of states, for every event: only the table's moves.
	for _, e := range events {
		m, _ := MoveFor(e)
		for _, from := range DeviceStates {
			for _, to := range DeviceStates {
				want := slices.Contains(m.From, from) && slices.Contains(m.To, to)
				if got := e.Allows(from, to); got != want {
					t.Errorf("%s %s -> %s: allowed %v, want %v", e, from, to, got, want)
				}
			}
		}
	}
	if DeviceEvent("explode").Allows(DevicePending, DeviceQueued) {
		t.Error("an unknown event moves a device")
	}
	// Retry reopens halted and done waves, nothing else.
	for _, w := range WaveStatuses {
		if ReopensWave(w) != (w == WaveHalted || w == WaveDone) {
			t.Errorf("retry reopens a %s wave: %v", w, ReopensWave(w))
		}
	}
}

// TestCountsAsFailure: only failed devices count, and not for the
// playbook engine's reasons that say nothing about the playbook.
func TestCountsAsFailure(t *testing.T) {
	tests := []struct {
		state  DeviceState
		reason Reason
		want   bool
	}{
		{DeviceFailed, "rolled_back:0xC1900101", true},
		{DeviceFailed, playbooks.ReasonCommandFailed, true},
		{DeviceFailed, playbooks.ReasonTimedOut, true},
		{DeviceFailed, ReasonBadRun, true},
		{DeviceFailed, ReasonNoTarget, true},
		{DeviceFailed, playbooks.ReasonUnreachable, false},
		{DeviceFailed, playbooks.ReasonAuthFailed, false},
		{DeviceFailed, "ineligible_edition", false},
		{DeviceFailed, "ineligible_hardware:0xC1900200", false},
		{DeviceFailed, playbooks.ReasonIneligible, false},
		{DeviceSkipped, "ineligible_edition", false},
		{DeviceSkipped, ReasonCancelled, false},
		{DeviceDeferred, playbooks.ReasonUnreachable, false},
		{DeviceSucceeded, playbooks.ReasonCompleted, false},
	}
	for _, tt := range tests {
		if got := CountsAsFailure(tt.state, tt.reason); got != tt.want {
			t.Errorf("CountsAsFailure(%s, %s) = %v, want %v", tt.state, tt.reason, got, tt.want)
		}
	}
}

// TestAfterRun maps outcomes to states, with the unreachable backoff
// doubling per attempt up to its maximum.
func TestAfterRun(t *testing.T) {
	s := &Spec{Defer: Defer{Backoff: Duration{Duration: 15 * time.Minute}, MaxBackoff: Duration{Duration: time.Hour}}}
	now := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	unreachable := playbooks.Outcome{Status: playbooks.StatusFailed, Reason: playbooks.ReasonUnreachable}
	tests := []struct {
		name    string
		out     playbooks.Outcome
		attempt int
		want    DeviceState
		next    time.Duration // after now; 0 for none
	}{
		{"succeeded", playbooks.Outcome{Status: playbooks.StatusSucceeded, Reason: playbooks.ReasonCompleted}, 1, DeviceSucceeded, 0},
		{"skipped", playbooks.Outcome{Status: playbooks.StatusSkipped, Reason: playbooks.ReasonAlreadyCompliant}, 1, DeviceSkipped, 0},
		{"failed", playbooks.Outcome{Status: playbooks.StatusFailed, Reason: "rolled_back:0xC1900101"}, 1, DeviceFailed, 0},
		{"auth failed is a failure", playbooks.Outcome{Status: playbooks.StatusFailed, Reason: playbooks.ReasonAuthFailed}, 1, DeviceFailed, 0},
		{"unreachable, first", unreachable, 1, DeviceDeferred, 15 * time.Minute},
		{"unreachable, second", unreachable, 2, DeviceDeferred, 30 * time.Minute},
		{"unreachable, capped", unreachable, 5, DeviceDeferred, time.Hour},
		{"unreachable, many", unreachable, 1000, DeviceDeferred, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, next := s.AfterRun(tt.out, tt.attempt, now)
			wantNext := time.Time{}
			if tt.next > 0 {
				wantNext = now.Add(tt.next)
			}
			if got != tt.want || !next.Equal(wantNext) {
				t.Errorf("%s, %s; want %s, %s", got, next, tt.want, wantNext)
			}
		})
	}
}
