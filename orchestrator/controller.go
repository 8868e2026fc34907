package orchestrator

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// WaveState is a wave's recorded progress.
type WaveState struct {
	Status    WaveStatus
	Started   time.Time // when it became active
	Completed time.Time // when it was done
	Approved  bool      // manual approval given
	Reason    string    // why it halted
}

// View is the read-only state the controller decides from: the campaign,
// its waves' progress, its devices counted by wave, organisation, site,
// state and reason, its deferred devices, a reader of its pending devices
// in dispatch order, and each organisation's calendar. Its size follows
// the campaign's organisations and deferred devices, not its devices:
// Decide reads only as many pending devices as it may dispatch. Nothing in
// it is changed by Decide.
type View struct {
	Spec   *Spec
	Status Status
	Waves  []WaveState // one per spec wave
	// Counts are every device of the campaign counted (see Count).
	Counts []Count
	// Deferred are the campaign's deferred devices, each with when the
	// inventory last saw it.
	Deferred []Member
	// Pending reads the pending devices of a wave and organisation in
	// dispatch order.
	Pending   PendingReader
	Calendars map[string]Calendar // by organisation code; absent means always open
	// Unserved are the organisations no live node serves
	// (Placements.Unserved): their devices wait for a node (BlockNoNode),
	// never dispatched to a queue no one takes. Nil serves every one.
	Unserved map[string]bool
	// MaxDispatch, when above 0, is the most devices the plan dispatches:
	// a plan that could dispatch more dispatches the first MaxDispatch of
	// them (in the order it would have), says More and wakes at once, so
	// that one decision reads and writes no more than that many devices.
	MaxDispatch int
	// Members, when set, are every member of the campaign, for a view
	// built in memory (tests, a replay of the controller): Decide then
	// counts them itself, and Counts, Deferred and Pending are ignored.
	Members []Member
}

// Count is how many of a campaign's devices share a wave, organisation,
// site, state, reason and acceptance of their failure. A store keeps
// these counts exact in the transactions that move devices.
type Count struct {
	Wave     int
	Org      string
	Site     string
	State    DeviceState
	Reason   Reason
	Accepted bool
	Devices  int
}

// PendingReader reads a campaign's pending devices of one wave and
// organisation in dispatch order. Its reads cannot fail one by one: a
// reader over a store keeps its first error, returns nothing after it, and
// reports it from Err, which the caller checks before it applies a plan
// decided on the view (as with bufio.Scanner).
type PendingReader interface {
	// Pending returns up to limit pending devices of wave in org whose
	// dispatch order is after after, in dispatch order.
	Pending(wave int, org string, after, limit int) []Member
	// Heads returns the first limit pending devices of wave in each of
	// orgs, in dispatch order, one list per organisation in orgs' order:
	// the first page of many organisations in one read.
	Heads(wave int, orgs []string, limit int) [][]Member
	// Err is the first error a read met, or nil.
	Err() error
}

// Err is the first error reading the view's pending devices met, or nil:
// a plan decided on a view with an error must not be applied.
func (v View) Err() error {
	if v.Members == nil && v.Pending != nil {
		return v.Pending.Err()
	}
	return nil
}

// BlockReason says why work that could start does not.
type BlockReason string

// Block reasons.
const (
	BlockNotStarted       BlockReason = "not_started"       // before the campaign's start time
	BlockPaused           BlockReason = "paused"            // the campaign is paused
	BlockDeadline         BlockReason = "deadline_passed"   // nothing new starts after the deadline
	BlockWindowClosed     BlockReason = "window_closed"     // outside the organisation's maintenance window
	BlockNoWindow         BlockReason = "no_window"         // the organisation's window never opens again
	BlockWaveCap          BlockReason = "wave_concurrency"  // the wave's max_concurrency is reached
	BlockOrgCap           BlockReason = "org_cap"           // the per-organisation cap is reached
	BlockSiteCap          BlockReason = "site_cap"          // the per-site cap is reached
	BlockTotalCap         BlockReason = "total_cap"         // the campaign's total cap is reached
	BlockSoaking          BlockReason = "soaking"           // the previous wave soaks
	BlockAwaitingApproval BlockReason = "awaiting_approval" // the wave needs campaign approve
	BlockHalted           BlockReason = "halted"            // the wave (or the organisation in it) halted
	BlockDeferred         BlockReason = "deferred"          // unreachable devices wait for their retry
	BlockNoNode           BlockReason = "waiting_for_node"  // no running node serves the organisation (ringmaster run --serve)
)

// Block is a group of devices waiting for the same reason.
type Block struct {
	Wave    string
	Org     string // "" when the reason is the wave's or the campaign's
	Reason  BlockReason
	Until   time.Time // when it lifts, if known
	Devices int
}

// WaveChange is a decision about a wave.
type WaveChange struct {
	Wave   int
	State  WaveState
	Reason string // why, for the record
}

// Plan is what the controller decided: which devices to dispatch, how waves
// move, when to look again. Something else applies it.
type Plan struct {
	Dispatch    []string // hostnames, in dispatch order
	WaveChanges []WaveChange
	Done        bool      // the campaign is complete
	WakeAt      time.Time // decide again then (zero: only when something changes)
	Blocked     []Block
	// More says the plan stopped at the view's MaxDispatch with more
	// devices it could dispatch now (WakeAt is then the decision's time).
	More bool
}

// NeedsPerson reports whether a campaign with this plan can go no further
// without a person (PersonWait says what waits).
func (p Plan) NeedsPerson(v View) bool { return len(p.PersonWaits(v)) > 0 }

// Wait is something in a campaign only a person can move on: what waits,
// and the command that moves it on.
type Wait struct {
	What    string `json:"what"`
	Command string `json:"command"`
}

func (w Wait) String() string { return w.What + " (" + w.Command + ")" }

// PersonWait says what in a running campaign with this plan only a person
// can move on, each with the command that does, joined by "; ", or ""
// when the campaign goes on by itself (see PersonWaits).
func (p Plan) PersonWait(v View) string {
	var out []string
	for _, w := range p.PersonWaits(v) {
		out = append(out, w.String())
	}
	return strings.Join(out, "; ")
}

// PersonWaits lists what in a running campaign with this plan only a
// person can move on, with the command that does, or nothing when the
// campaign goes on by itself (or is not running): something is
// dispatched, in flight or due to wake it, or held for a reason that
// lifts on its own. What only a person moves on is a halted wave (even one
// with nothing pending because every device in it failed), an
// organisation halted in a wave, a wave awaiting approval and an
// organisation whose window never opens again. Halts are told with the
// counts as they are now, not as they were when the wave halted. It reads
// the waves as the plan leaves them, so it may be asked before the plan
// is applied.
func (p Plan) PersonWaits(v View) []Wait {
	if v.Status != StatusRunning || p.Done || len(p.Dispatch) > 0 || !p.WakeAt.IsZero() {
		return nil
	}
	v = v.counted()
	t := tallyCounts(v)
	if t.inflight > 0 {
		return nil
	}
	waves := slices.Clone(v.Waves)
	for _, c := range p.WaveChanges {
		waves[c.Wave] = c.State
	}
	name := v.Spec.Name
	haltedWave := map[string]bool{}
	var why []Wait
	add := func(w Wait) {
		if !slices.Contains(why, w) {
			why = append(why, w)
		}
	}
	for i, w := range waves {
		if w.Status == WaveHalted && i < len(v.Spec.Waves) {
			wave := v.Spec.Waves[i].Name
			haltedWave[wave] = true
			add(Wait{fmt.Sprintf("wave %s halted: %s", wave, t.waveFailures(i)),
				fmt.Sprintf("ringmaster campaign continue %s --wave %s, or ringmaster campaign retry %s --failed --wave %s", name, wave, name, wave)})
		}
	}
	held := map[string]Failures{}
	for _, f := range t.heldOrgs(v.Spec, waves) {
		held[f.Org] = f
	}
	for _, b := range p.Blocked {
		switch {
		case b.Reason == BlockHalted && (b.Org == "" || haltedWave[b.Wave]):
			// the wave's halt, said above
		case b.Reason == BlockHalted:
			f, ok := held[b.Org]
			if !ok {
				return nil // no longer held: the next pass dispatches it
			}
			add(f.HeldWait(v.Spec))
		case b.Reason == BlockAwaitingApproval:
			add(Wait{fmt.Sprintf("wave %s awaits approval", b.Wave), fmt.Sprintf("ringmaster campaign approve %s %s", name, b.Wave)})
		case b.Reason == BlockNoNode:
			add(Wait{fmt.Sprintf("no running node serves organisation %s", b.Org),
				fmt.Sprintf("ringmaster run --serve 'org in (%s)' on a machine in its network, or ringmaster run without --serve", b.Org)})
		case b.Reason == BlockNoWindow:
			add(Wait{fmt.Sprintf("organisation %s's maintenance window never opens again", b.Org),
				fmt.Sprintf("ringmaster campaign set %s --window '%s=CRON for DURATION', or ringmaster campaign cancel %s", name, b.Org, name)})
		default:
			return nil // lifts on its own
		}
	}
	return why
}

// Failures is how a wave's failed devices (of one organisation, or all)
// stand against its halt threshold: those that count
// (CountsAsFailure), how many of them a person accepted (campaign
// continue), out of how many devices, and the wave's max_failure_percent.
type Failures struct {
	Wave     int     `json:"-"`
	WaveName string  `json:"wave"`
	Org      string  `json:"org,omitempty"` // "" for the whole wave
	Failed   int     `json:"failed"`
	Accepted int     `json:"accepted"`
	Total    int     `json:"devices"`
	Limit    float64 `json:"max_failure_percent"`
}

// Over reports failures beyond those accepted above the threshold; an
// organisation needs at least MinOrgFailures of them besides.
func (f Failures) Over() bool {
	n := f.Failed - f.Accepted
	if f.Total == 0 || (f.Org != "" && n < MinOrgFailures) {
		return false
	}
	return float64(n)*100/float64(f.Total) > f.Limit
}

// String says the counts against the threshold, as they are: "8 of 54
// devices failed, above max_failure_percent 10".
func (f Failures) String() string {
	of := fmt.Sprintf("%d of %d devices failed", f.Failed, f.Total)
	if f.Org != "" {
		of = fmt.Sprintf("%d of its %d devices failed", f.Failed, f.Total)
	}
	if f.Accepted > 0 {
		of += fmt.Sprintf(" (%d accepted by campaign continue)", f.Accepted)
	}
	cmp := "above"
	if !f.Over() {
		cmp = "now within"
	}
	return fmt.Sprintf("%s, %s max_failure_percent %g", of, cmp, f.Limit)
}

// HeldWait is what an organisation held by these failures waits for,
// and the command that moves it on.
func (f Failures) HeldWait(s *Spec) Wait {
	return Wait{fmt.Sprintf("organisation %s halted in wave %s: %s", f.Org, f.WaveName, f),
		fmt.Sprintf("ringmaster campaign continue %s --wave %s --org %s", s.Name, f.WaveName, f.Org)}
}

// AppliedPlan is a plan as the scheduler applied it: the campaign and the
// seq its view was read at, the view, the plan, whether applying it
// completed the campaign, and when. Notifications are derived from it.
type AppliedPlan struct {
	Campaign string
	Seq      int64
	View     View
	Plan     Plan
	Done     bool // the campaign is done after it
	At       time.Time
}
