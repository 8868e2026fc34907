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
// its waves' progress, every member device, and each organisation's
// calendar. Nothing in it is changed by Decide.
type View struct {
	Spec      *Spec
	Status    Status
	Waves     []WaveState // one per spec wave
	Members   []Member
	Calendars map[string]Calendar // by organisation code; absent means always open
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
	for _, m := range v.Members {
		if m.State.InFlight() {
			return nil
		}
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
			add(Wait{fmt.Sprintf("wave %s halted: %s", wave, v.WaveFailures(i)),
				fmt.Sprintf("ringmaster campaign continue %s --wave %s, or ringmaster campaign retry %s --failed --wave %s", name, wave, name, wave)})
		}
	}
	held := map[string]Failures{}
	for _, f := range heldOrgs(v.Spec, waves, v.Members) {
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

// WaveFailures counts wave i's failures against its threshold, as the
// view has them now.
func (v View) WaveFailures(i int) Failures {
	w := &v.Spec.Waves[i]
	f := Failures{Wave: i, WaveName: w.Name, Limit: *w.MaxFailurePercent}
	for _, m := range v.Members {
		if m.Wave == i {
			f.count(m)
		}
	}
	return f
}

// HeldOrgs lists the organisations held by their own failures in a
// started wave (nothing more starts for them in the campaign until a
// person continues or retries), each with the wave and counts that hold
// it, by organisation code.
func (v View) HeldOrgs() []Failures { return heldOrgs(v.Spec, v.Waves, v.Members) }

func (f *Failures) count(m Member) {
	f.Total++
	if CountsAsFailure(m.State, m.Reason) {
		f.Failed++
		if m.Accepted {
			f.Accepted++
		}
	}
}

// heldOrgs are the organisations whose failures in some started wave pass
// that wave's threshold (the first such wave holds each).
func heldOrgs(s *Spec, waves []WaveState, members []Member) []Failures {
	byWave := map[int]map[string]*Failures{}
	for _, m := range members {
		if m.Wave < 0 || m.Wave >= len(waves) {
			continue
		}
		if st := waves[m.Wave].Status; st != WaveActive && st != WaveDone && st != WaveHalted {
			continue
		}
		orgs := byWave[m.Wave]
		if orgs == nil {
			orgs = map[string]*Failures{}
			byWave[m.Wave] = orgs
		}
		f := orgs[m.Org]
		if f == nil {
			w := &s.Waves[m.Wave]
			f = &Failures{Wave: m.Wave, WaveName: w.Name, Org: m.Org, Limit: *w.MaxFailurePercent}
			orgs[m.Org] = f
		}
		f.count(m)
	}
	held := map[string]Failures{}
	for i := range waves {
		for org, f := range byWave[i] {
			if _, ok := held[org]; !ok && f.Over() {
				held[org] = *f
			}
		}
	}
	out := make([]Failures, 0, len(held))
	for _, f := range held {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b Failures) int { return strings.Compare(a.Org, b.Org) })
	return out
}

// Decide computes the next plan from a view of state and the time. It is a
// pure function: the same view and time give the same plan.
func Decide(v View, now time.Time) Plan {
	d := decider{v: v, now: now, waves: slices.Clone(v.Waves), blocked: map[blockKey]*Block{}}
	return d.decide()
}

type blockKey struct {
	wave   int
	org    string
	reason BlockReason
}

type decider struct {
	v       View
	now     time.Time
	waves   []WaveState
	plan    Plan
	blocked map[blockKey]*Block
	order   []blockKey
}

func (d *decider) block(wave int, org string, r BlockReason, until time.Time) {
	k := blockKey{wave, org, r}
	b := d.blocked[k]
	if b == nil {
		name := ""
		if wave >= 0 && wave < len(d.v.Spec.Waves) {
			name = d.v.Spec.Waves[wave].Name
		}
		b = &Block{Wave: name, Org: org, Reason: r, Until: until}
		d.blocked[k] = b
		d.order = append(d.order, k)
	}
	b.Devices++
	if !until.IsZero() && (b.Until.IsZero() || until.Before(b.Until)) {
		b.Until = until
	}
	d.wake(until)
}

func (d *decider) wake(t time.Time) {
	if !t.IsZero() && t.After(d.now) && (d.plan.WakeAt.IsZero() || t.Before(d.plan.WakeAt)) {
		d.plan.WakeAt = t
	}
}

func (d *decider) change(i int, s WaveState, reason string) {
	d.waves[i] = s
	d.plan.WaveChanges = append(d.plan.WaveChanges, WaveChange{Wave: i, State: s, Reason: reason})
}

// tally is a wave's device counts.
type tally struct {
	pending, inflight int
	failures          Failures
}

func (d *decider) tally(wave int, halted map[string]bool) tally {
	w := &d.v.Spec.Waves[wave]
	t := tally{failures: Failures{Wave: wave, WaveName: w.Name, Limit: *w.MaxFailurePercent}}
	for _, m := range d.v.Members {
		if m.Wave != wave {
			continue
		}
		t.failures.count(m)
		switch {
		case m.State == DevicePending && !halted[m.Org]:
			t.pending++
		case m.State.InFlight():
			t.inflight++
		}
	}
	return t
}

// MinOrgFailures is how many counted failures an organisation needs in a
// wave before its own failure rate can halt it: one failure in a wave
// holding two of its devices is noise, not a trend.
const MinOrgFailures = 2

// haltedOrgs are the organisations whose failures (beyond those a person
// accepted) in some started wave passed that wave's threshold: nothing
// more starts for them in this campaign until a person continues or
// retries.
func (d *decider) haltedOrgs() map[string]bool {
	halted := map[string]bool{}
	for _, f := range heldOrgs(d.v.Spec, d.waves, d.v.Members) {
		halted[f.Org] = true
	}
	return halted
}

func (d *decider) decide() Plan {
	spec := d.v.Spec
	switch d.v.Status {
	case StatusRunning:
	case StatusPaused:
		d.blockAll(BlockPaused)
		return d.finish()
	default: // draft, cancelled, done: nothing to do
		return d.finish()
	}
	if spec.Start != nil && d.now.Before(spec.Start.Time) {
		d.blockAll(BlockNotStarted)
		d.wake(spec.Start.Time)
		return d.finish()
	}
	deadline := spec.Deadline != nil && !d.now.Before(spec.Deadline.Time)
	halted := d.haltedOrgs()
	active := -1
	for i := range d.waves {
		w := &spec.Waves[i]
		ws := d.waves[i]
		if ws.Status == WavePending || ws.Status == "" {
			if i > 0 {
				prev := d.waves[i-1]
				if prev.Status != WaveDone {
					break
				}
				if until := prev.Completed.Add(spec.Waves[i-1].Soak.Duration); d.now.Before(until) {
					d.blockWave(i, BlockSoaking, until)
					break
				}
			}
			if w.Approval == ApprovalManual && !ws.Approved {
				if ws.Status != WaveAwaitingApproval {
					d.change(i, WaveState{Status: WaveAwaitingApproval}, "waiting for approval")
				}
				d.blockWave(i, BlockAwaitingApproval, time.Time{})
				break
			}
			ws = WaveState{Status: WaveActive, Started: d.now, Approved: ws.Approved}
			d.change(i, ws, "started")
		}
		if ws.Status == WaveAwaitingApproval {
			if !ws.Approved {
				d.blockWave(i, BlockAwaitingApproval, time.Time{})
				break
			}
			ws = WaveState{Status: WaveActive, Started: d.now, Approved: true}
			d.change(i, ws, "approved and started")
		}
		if ws.Status == WaveHalted {
			d.blockFrom(i, BlockHalted)
			break
		}
		if ws.Status == WaveDone {
			continue
		}
		// Active: halt when failures over the whole wave pass the threshold.
		t := d.tally(i, halted)
		if t.failures.Over() {
			d.change(i, WaveState{Status: WaveHalted, Started: ws.Started, Approved: ws.Approved,
				Reason: t.failures.String()}, "halted")
			d.blockFrom(i, BlockHalted)
			break
		}
		// Done when nothing is left to start or finish, but for the devices
		// of organisations halted by their own failures.
		if t.pending == 0 && t.inflight == 0 {
			d.change(i, WaveState{Status: WaveDone, Started: ws.Started, Completed: d.now, Approved: ws.Approved}, "every device finished")
			continue
		}
		active = i
		break
	}
	d.dispatch(active, halted, deadline)
	if d.complete() {
		d.plan.Done = true
	}
	return d.finish()
}

// dispatch picks the devices to start: pending ones of the active wave and
// deferred ones due again, within windows and caps.
func (d *decider) dispatch(active int, halted map[string]bool, deadline bool) {
	spec := d.v.Spec
	perOrg, perSite, perWave := map[string]int{}, map[string]int{}, map[int]int{}
	total := 0
	for _, m := range d.v.Members {
		if m.State.InFlight() {
			perOrg[m.Org]++
			perSite[m.Org+"/"+m.Site]++
			perWave[m.Wave]++
			total++
		}
	}
	members := slices.Clone(d.v.Members)
	slices.SortFunc(members, func(a, b Member) int { return a.Order - b.Order })
	for _, m := range members {
		var candidate bool
		switch {
		case m.Wave < 0:
		case m.State == DevicePending && m.Wave != active && halted[m.Org] && d.waves[m.Wave].Status == WaveDone:
			// Left behind in a finished wave by its organisation's halt.
			d.block(m.Wave, m.Org, BlockHalted, time.Time{})
			continue
		case m.State == DevicePending:
			candidate = m.Wave == active
		case m.State == DeviceDeferred:
			switch st := d.waves[m.Wave].Status; st {
			case WaveActive, WaveDone:
			case WaveHalted:
				d.block(m.Wave, m.Org, BlockHalted, time.Time{})
				continue
			default:
				continue
			}
			due := !d.now.Before(m.NextAttempt) || m.LastSeen.After(m.Changed)
			if !due {
				d.block(m.Wave, m.Org, BlockDeferred, m.NextAttempt)
				continue
			}
			candidate = true
		}
		if !candidate {
			continue
		}
		if why, until := d.gate(m, halted, deadline); why != "" {
			d.block(m.Wave, m.Org, why, until)
			continue
		}
		w := &spec.Waves[m.Wave]
		site := m.Org + "/" + m.Site
		switch {
		case w.MaxConcurrency > 0 && perWave[m.Wave] >= w.MaxConcurrency:
			d.block(m.Wave, "", BlockWaveCap, time.Time{})
		case spec.Caps.Total > 0 && total >= spec.Caps.Total:
			d.block(m.Wave, "", BlockTotalCap, time.Time{})
		case spec.Caps.PerOrg > 0 && perOrg[m.Org] >= spec.Caps.PerOrg:
			d.block(m.Wave, m.Org, BlockOrgCap, time.Time{})
		case spec.Caps.PerSite > 0 && m.Site != "" && perSite[site] >= spec.Caps.PerSite:
			d.block(m.Wave, m.Org, BlockSiteCap, time.Time{})
		default:
			d.plan.Dispatch = append(d.plan.Dispatch, m.Hostname)
			perOrg[m.Org]++
			perSite[site]++
			perWave[m.Wave]++
			total++
		}
	}
}

// gate says why a device may not start now (its organisation halted, the
// deadline, the window), or "".
func (d *decider) gate(m Member, halted map[string]bool, deadline bool) (BlockReason, time.Time) {
	if halted[m.Org] {
		return BlockHalted, time.Time{}
	}
	if deadline {
		return BlockDeadline, time.Time{}
	}
	cal, ok := d.v.Calendars[m.Org]
	if !ok {
		return "", time.Time{}
	}
	if open, _ := cal.Open(d.now); open {
		return "", time.Time{}
	}
	next, ok := cal.NextOpen(d.now)
	if !ok {
		return BlockNoWindow, time.Time{}
	}
	return BlockWindowClosed, next
}

// blockWave records every not-yet-final device of a wave as blocked.
func (d *decider) blockWave(wave int, r BlockReason, until time.Time) {
	for _, m := range d.v.Members {
		if m.Wave == wave && m.State == DevicePending {
			d.block(wave, "", r, until)
		}
	}
	d.wake(until)
}

// blockFrom blocks the pending devices of a wave and of every later wave:
// a halted wave holds back the ones after it.
func (d *decider) blockFrom(wave int, r BlockReason) {
	for i := wave; i < len(d.waves); i++ {
		d.blockWave(i, r, time.Time{})
	}
}

func (d *decider) blockAll(r BlockReason) {
	for _, m := range d.v.Members {
		if m.Wave >= 0 && (m.State == DevicePending || m.State == DeviceDeferred) {
			d.block(m.Wave, "", r, time.Time{})
		}
	}
}

// complete reports a campaign with every wave done and no device left to
// run or retry (deferred devices keep it going until its deadline).
func (d *decider) complete() bool {
	for _, w := range d.waves {
		if w.Status != WaveDone {
			return false
		}
	}
	deadline := d.v.Spec.Deadline != nil && !d.now.Before(d.v.Spec.Deadline.Time)
	for _, m := range d.v.Members {
		if m.State.InFlight() || (m.Wave >= 0 && m.State == DevicePending) {
			return false
		}
		if m.State == DeviceDeferred && !deadline {
			return false
		}
	}
	return len(d.plan.Dispatch) == 0
}

func (d *decider) finish() Plan {
	for _, k := range d.order {
		d.plan.Blocked = append(d.plan.Blocked, *d.blocked[k])
	}
	return d.plan
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
