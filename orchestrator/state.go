package orchestrator

import (
	"cmp"
	"hash/fnv"
	"math"
	"slices"
	"strings"
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
	Campaign string
	Hostname string
	From, To DeviceState
	Reason   Reason
	At       time.Time
	Cause    string // what made it happen: "controller", "worker", "retry command", ...
}

// Assign splits a campaign's targets into its waves, in order: each wave
// takes, from the targets no earlier wave took, those its selector matches,
// then its count or percent of them (all without either). The order within
// and across organisations is a hash of campaign and hostname: stable for a
// campaign, and spread over organisations so a wave's share is not one
// organisation's devices. Targets no wave takes get Wave -1.
func Assign(s *Spec, targets []*inventory.Device) []Member {
	type ranked struct {
		d    *inventory.Device
		rank uint64
	}
	rest := make([]ranked, len(targets))
	for i, d := range targets {
		h := fnv.New64a()
		h.Write([]byte(s.Name + "\x00" + d.Hostname))
		rest[i] = ranked{d, h.Sum64()}
	}
	slices.SortFunc(rest, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), strings.Compare(a.d.Hostname, b.d.Hostname))
	})
	out := make([]Member, 0, len(targets))
	add := func(r ranked, wave int) {
		out = append(out, Member{Hostname: r.d.Hostname, Org: r.d.Org, Site: r.d.Site, Wave: wave, Order: len(out),
			State: DevicePending, LastSeen: r.d.LastSeen})
	}
	for wi := range s.Waves {
		w := &s.Waves[wi]
		var match, keep []ranked
		for _, r := range rest {
			if w.selector.Matches(r.d) {
				match = append(match, r)
			} else {
				keep = append(keep, r)
			}
		}
		n := len(match)
		switch {
		case w.Count > 0:
			n = min(n, w.Count)
		case w.Percent > 0:
			n = min(n, int(math.Ceil(float64(len(match))*w.Percent/100)))
		}
		for _, r := range match[:n] {
			add(r, wi)
		}
		rest = append(keep, match[n:]...)
		slices.SortFunc(rest, func(a, b ranked) int {
			return cmp.Or(cmp.Compare(a.rank, b.rank), strings.Compare(a.d.Hostname, b.d.Hostname))
		})
	}
	for _, r := range rest {
		add(r, -1)
	}
	return out
}
