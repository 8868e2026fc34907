package orchestrator

import (
	"time"

	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Status is where a campaign stands.
type Status string

// Campaign statuses.
const (
	StatusDraft     Status = "draft"     // created, not started
	StatusRunning   Status = "running"   // the controller dispatches work
	StatusPaused    Status = "paused"    // nothing new starts; runs in flight finish
	StatusCancelled Status = "cancelled" // stopped for good; runs in flight are stopped
	StatusDone      Status = "done"      // every device has a final state
)

// WaveStatus is where a wave stands.
type WaveStatus string

// Wave statuses.
const (
	WavePending          WaveStatus = "pending"           // an earlier wave is not done
	WaveAwaitingApproval WaveStatus = "awaiting_approval" // manual approval, not yet given
	WaveActive           WaveStatus = "active"            // dispatching its devices
	WaveHalted           WaveStatus = "halted"            // failures passed the threshold: nothing new starts
	WaveDone             WaveStatus = "done"              // every device finished (deferred ones go on)
)

// DeviceState is where one device stands within a campaign.
type DeviceState string

// Device states.
const (
	DevicePending   DeviceState = "pending"   // not started
	DeviceQueued    DeviceState = "queued"    // dispatched, waiting for a worker
	DeviceRunning   DeviceState = "running"   // a worker runs the playbook
	DeviceSucceeded DeviceState = "succeeded" // final
	DeviceFailed    DeviceState = "failed"    // final, with a reason; retry makes it pending again
	DeviceSkipped   DeviceState = "skipped"   // final, with a reason (already_compliant, ineligible_*)
	DeviceDeferred  DeviceState = "deferred"  // unreachable: retried with backoff while the campaign lasts
)

// Final reports a state a device stays in unless retried.
func (s DeviceState) Final() bool {
	return s == DeviceSucceeded || s == DeviceFailed || s == DeviceSkipped
}

// InFlight reports a dispatched device that has not finished.
func (s DeviceState) InFlight() bool { return s == DeviceQueued || s == DeviceRunning }

// Member is one device of a campaign: where it is and how it stands.
type Member struct {
	Hostname string
	Org      string
	Site     string
	Wave     int // index into the spec's waves; -1 for a target no wave took
	Order    int // dispatch order within the campaign
	State    DeviceState
	Reason   Reason
	Attempts int
	// Accepted: a person accepted its failure (campaign continue), so it
	// no longer counts towards a halt; a retry clears it.
	Accepted bool
	// NextAttempt is when a deferred device is tried again.
	NextAttempt time.Time
	// Changed is when the device last changed state.
	Changed time.Time
	// LastSeen is when the inventory last saw the device alive: a deferred
	// device seen after it was deferred is tried at once.
	LastSeen time.Time
}

// Transition is a recorded change of a device's state.
type Transition struct {
	// ID is the stored row's id, which orders a campaign's transitions (a
	// device's as they happened); a reader following a campaign pages by
	// it (campaigns.Store's TransitionsAfter).
	ID       int64
	Campaign string
	Hostname string
	Org      string // the device's organisation
	From, To DeviceState
	Reason   Reason
	At       time.Time
	Cause    string // what made it happen: "controller", "worker", "retry command", ...
}

// Assign splits a campaign's targets into its waves, as an Assignment
// does, and returns the members in dispatch order.
func Assign(s *Spec, targets []*inventory.Device) []Member {
	a := NewAssignment(s)
	for _, d := range targets {
		a.Add(d)
	}
	out := make([]Member, 0, a.Len())
	for m := range a.Members() {
		out = append(out, m)
	}
	return out
}
