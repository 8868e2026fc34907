package forecast

import (
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
)

// Input is what a forecast starts from.
type Input struct {
	// View is the campaign's controller view as the store has it now
	// (orchestrator.ReadView): its spec, status, waves, counts, deferred
	// devices and calendars. Its Pending reader is not used: pending
	// devices are drawn from the counts, in an order of their own.
	View orchestrator.View
	// Now is when the forecast starts.
	Now   time.Time
	Model Model
	// Runs is how many replays to make (default 20).
	Runs int
	// Seed makes the forecast reproducible.
	Seed uint64
	// Step is the finest time the replay decides at while devices finish
	// (default a fifteenth of the typical run, at least a minute): the
	// real controller decides at each finish, a replay every Step, so a
	// freed slot waits at most Step.
	Step time.Duration
	// Horizon is how far the replay looks (default a year from Now):
	// what is not finished by then is reported as not finishing.
	Horizon time.Duration
}

// device is one device of the replay: its cohort and its run state.
type device struct {
	wave, org, site int32
	state           orchestrator.DeviceState
	reason          orchestrator.Reason
	attempts        int
	next            time.Time // a deferred device's next attempt
	offline         bool      // found unreachable before
}

// setup is what every run of a forecast shares.
type setup struct {
	in       Input
	spec     *orchestrator.Spec
	orgs     []string
	orgIndex map[string]int32
	sites    [][]string // by organisation
	noSite   []int32    // each organisation's "" site: final and deferred devices are counted without their site
	initial  []device
	names    []string // each device's synthetic hostname: its index
	profiles []Profile
	step     time.Duration
	horizon  time.Time
}

// errNothing is a campaign with nothing left to forecast.
var errNothing = errors.New("the campaign has ended: there is nothing to forecast")

func newSetup(in Input) (*setup, error) {
	v := in.View
	if v.Spec == nil {
		return nil, errors.New("forecast: the view has no spec")
	}
	if v.Status == orchestrator.StatusDone || v.Status == orchestrator.StatusCancelled {
		return nil, errNothing
	}
	s := &setup{in: in, spec: v.Spec, orgIndex: map[string]int32{}}
	if s.in.Runs <= 0 {
		s.in.Runs = 20
	}
	if s.in.Horizon <= 0 {
		s.in.Horizon = 365 * 24 * time.Hour
	}
	s.horizon = in.Now.Add(s.in.Horizon)
	siteIndex := map[string]map[string]int32{}
	cohort := func(org, site string) (int32, int32) {
		o, ok := s.orgIndex[org]
		if !ok {
			o = int32(len(s.orgs))
			s.orgIndex[org] = o
			s.orgs = append(s.orgs, org)
			s.sites = append(s.sites, nil)
			siteIndex[org] = map[string]int32{}
		}
		si, ok := siteIndex[org][site]
		if !ok {
			si = int32(len(s.sites[o]))
			siteIndex[org][site] = si
			s.sites[o] = append(s.sites[o], site)
		}
		return o, si
	}
	// In a fixed order, whatever order the store read them in, so that a
	// seed gives one forecast.
	counts := slices.Clone(v.Counts)
	slices.SortFunc(counts, func(a, b orchestrator.Count) int {
		return cmp.Or(cmp.Compare(a.Wave, b.Wave), cmp.Compare(a.Org, b.Org), cmp.Compare(a.Site, b.Site),
			cmp.Compare(a.State, b.State), cmp.Compare(a.Reason, b.Reason))
	})
	deferred := slices.Clone(v.Deferred)
	slices.SortFunc(deferred, func(a, b orchestrator.Member) int { return cmp.Compare(a.Hostname, b.Hostname) })
	for _, c := range counts {
		if c.State == orchestrator.DeviceDeferred {
			continue // from View.Deferred, each with its next attempt
		}
		o, si := cohort(c.Org, c.Site)
		state := c.State
		if state == orchestrator.DeviceQueued {
			state = orchestrator.DeviceRunning
		}
		for range c.Devices {
			s.initial = append(s.initial, device{wave: int32(c.Wave), org: o, site: si, state: state, reason: c.Reason})
		}
	}
	for _, m := range deferred {
		o, si := cohort(m.Org, m.Site)
		s.initial = append(s.initial, device{wave: int32(m.Wave), org: o, site: si, state: orchestrator.DeviceDeferred,
			reason: m.Reason, attempts: m.Attempts, next: m.NextAttempt, offline: true})
	}
	for o := range s.orgs {
		_, si := cohort(s.orgs[o], "")
		s.noSite = append(s.noSite, si)
	}
	s.names = make([]string, len(s.initial))
	for i := range s.names {
		s.names[i] = strconv.Itoa(i)
	}
	var typical []time.Duration
	for _, org := range s.orgs {
		p := in.Model.For(org)
		s.profiles = append(s.profiles, p)
		typical = append(typical, median(p.Durations))
	}
	s.step = in.Step
	if s.step <= 0 {
		s.step = max(time.Minute, median(typical)/15)
	}
	return s, nil
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	c := append([]time.Duration(nil), d...)
	sortDurations(c)
	return c[len(c)/2]
}

// runResult is one replay's outcome.
type runResult struct {
	finish     time.Time   // the campaign's; zero: not within the horizon, or it waits for a person
	waves      []time.Time // each wave's completion
	orgs       []time.Time // when each organisation's last device finished
	failed     []int       // by organisation, at the end
	unreach    []int       // deferred at the end
	left       []int       // never started (pending at the end)
	halted     []bool      // the organisation was held by its failures
	late       []int       // by organisation: devices not done at the deadline
	waitPerson bool        // it ended waiting for a person (a halted wave)
	decisions  int
}

// event is a device run finishing (at in Unix nanoseconds: a heap of a
// million compares them often).
type event struct {
	at  int64
	dev int32
	out orchestrator.DeviceState
}

type events []event

func (e events) Len() int           { return len(e) }
func (e events) Less(i, j int) bool { return e[i].at < e[j].at }
func (e events) Swap(i, j int)      { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)        { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

// countRow is one row of the replay's counts and its devices.
type countRow struct {
	key countKey
	n   int
}

// countKey is one row of the replay's counts.
type countKey struct {
	wave, org, site int32
	state           orchestrator.DeviceState
	reason          orchestrator.Reason
}

// run is one replay.
type run struct {
	s          *setup
	rng        *rand.Rand
	devs       []device
	draws      []draws
	counts     map[countKey]int    // index into rows
	rows       []countRow          // in a fixed order, so that a seed gives one forecast
	queues     map[[2]int32]*queue // pending devices by wave and organisation, in dispatch order
	queueOrder [][2]int32
	due        []int32      // deferred devices whose attempt is due
	later      deferredHeap // deferred devices not yet due
	running    events
	remain     []int // by organisation: devices not yet final
	// countBuf and deferredBuf are the view's, kept from one decision to
	// the next.
	countBuf    []orchestrator.Count
	deferredBuf []orchestrator.Member
	res         runResult
}

// queue is a wave and organisation's pending devices in dispatch order.
type queue struct {
	devs  []int32
	first int // devs before it are no longer pending
}

type deferredHeap struct {
	devs []int32
	r    *run
}

func (h deferredHeap) Len() int { return len(h.devs) }
func (h deferredHeap) Less(i, j int) bool {
	return h.r.devs[h.devs[i]].next.Before(h.r.devs[h.devs[j]].next)
}
func (h deferredHeap) Swap(i, j int) { h.devs[i], h.devs[j] = h.devs[j], h.devs[i] }
func (h *deferredHeap) Push(x any)   { h.devs = append(h.devs, x.(int32)) }
func (h *deferredHeap) Pop() any {
	x := h.devs[len(h.devs)-1]
	h.devs = h.devs[:len(h.devs)-1]
	return x
}

func (s *setup) newRun(seed uint64) *run {
	r := &run{s: s, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), devs: append([]device(nil), s.initial...),
		counts: map[countKey]int{}, queues: map[[2]int32]*queue{}, remain: make([]int, len(s.orgs))}
	r.later.r = r
	prior := s.in.Model.Default
	if len(prior.Durations) == 0 {
		prior = DefaultProfile()
	}
	for _, p := range s.profiles {
		r.draws = append(r.draws, p.draw(r.rng, prior))
	}
	n := len(s.orgs)
	r.res = runResult{waves: make([]time.Time, len(s.spec.Waves)), orgs: make([]time.Time, n), failed: make([]int, n),
		unreach: make([]int, n), left: make([]int, n), halted: make([]bool, n), late: make([]int, n)}
	for i := range r.devs {
		d := &r.devs[i]
		r.add(r.key(d), 1)
		if !d.state.Final() {
			r.remain[d.org]++
		}
		switch d.state {
		case orchestrator.DevicePending:
			k := [2]int32{d.wave, d.org}
			q := r.queues[k]
			if q == nil {
				q = &queue{}
				r.queues[k] = q
				r.queueOrder = append(r.queueOrder, k)
			}
			q.devs = append(q.devs, int32(i))
		case orchestrator.DeviceDeferred:
			heap.Push(&r.later, int32(i))
		case orchestrator.DeviceRunning: // already running: some of its run is behind it
			r.finishLater(int32(i), s.in.Now, r.rng.Float64())
		}
	}
	// The real dispatch order is a hash: sites and devices mixed. (In
	// the queues' order of creation, so that a seed gives one forecast.)
	for _, k := range r.queueOrder {
		q := r.queues[k]
		r.rng.Shuffle(len(q.devs), func(i, j int) { q.devs[i], q.devs[j] = q.devs[j], q.devs[i] })
	}
	return r
}

// key is the row of the counts d is in. The controller reads sites only
// of pending devices and those in flight (site caps): the others are
// counted by organisation, which keeps the view's rows, and each decision,
// fewer.
func (r *run) key(d *device) countKey {
	site := d.site
	if d.state != orchestrator.DevicePending && !d.state.InFlight() {
		site = r.s.noSite[d.org]
	}
	return countKey{d.wave, d.org, site, d.state, d.reason}
}

// add changes a row of the counts by n.
func (r *run) add(k countKey, n int) {
	i, ok := r.counts[k]
	if !ok {
		i = len(r.rows)
		r.counts[k] = i
		r.rows = append(r.rows, countRow{key: k})
	}
	r.rows[i].n += n
}

// finishLater starts device i's run at now, with the remaining fraction
// of its duration, drawing its outcome.
func (r *run) finishLater(i int32, now time.Time, remaining float64) {
	d := &r.devs[i]
	dr := &r.draws[d.org]
	d.attempts++
	off := dr.off
	if d.offline {
		off = dr.reoff
	}
	var e event
	switch {
	case r.rng.Float64() < off:
		// An unreachable attempt ends at the connect timeout, not after a run.
		e = event{at: now.Add(time.Duration(remaining * float64(time.Minute))).UnixNano(), dev: i, out: orchestrator.DeviceDeferred}
	case r.rng.Float64() < dr.fail:
		e = event{at: now.Add(time.Duration(remaining * float64(dr.duration(r.rng)))).UnixNano(), dev: i, out: orchestrator.DeviceFailed}
	default:
		e = event{at: now.Add(time.Duration(remaining * float64(dr.duration(r.rng)))).UnixNano(), dev: i, out: orchestrator.DeviceSucceeded}
	}
	heap.Push(&r.running, e)
}

func (r *run) move(i int32, to orchestrator.DeviceState, reason orchestrator.Reason) {
	d := &r.devs[i]
	r.add(r.key(d), -1)
	d.state, d.reason = to, reason
	r.add(r.key(d), 1)
}

func (r *run) member(i int32, order int) orchestrator.Member {
	d := &r.devs[i]
	return orchestrator.Member{Hostname: r.s.names[i], Org: r.s.orgs[d.org], Site: r.s.sites[d.org][d.site], Wave: int(d.wave),
		Order: order, State: d.state, Reason: d.reason, Attempts: d.attempts, NextAttempt: d.next}
}

// view is the controller's view of the replay now.
func (r *run) view(base orchestrator.View, waves []orchestrator.WaveState) orchestrator.View {
	v := orchestrator.View{Spec: r.s.spec, Status: orchestrator.StatusRunning, Waves: waves, Calendars: base.Calendars, Pending: r}
	v.Counts = r.countBuf[:0] // Decide keeps nothing of its view
	for _, row := range r.rows {
		if k := row.key; row.n > 0 {
			v.Counts = append(v.Counts, orchestrator.Count{Wave: int(k.wave), Org: r.s.orgs[k.org], Site: r.s.sites[k.org][k.site],
				State: k.state, Reason: k.reason, Devices: row.n})
		}
	}
	// The due deferred devices, and the next to come due (for the wake):
	// the rest change nothing in the plan.
	v.Deferred = r.deferredBuf[:0]
	for _, i := range r.due {
		v.Deferred = append(v.Deferred, r.member(i, 0))
	}
	if len(r.later.devs) > 0 {
		v.Deferred = append(v.Deferred, r.member(r.later.devs[0], 0))
	}
	r.countBuf, r.deferredBuf = v.Counts, v.Deferred
	return v
}

// Pending implements orchestrator.PendingReader over the replay's queues.
func (r *run) Pending(wave int, org string, after, limit int) []orchestrator.Member {
	o, ok := r.s.orgIndex[org]
	if !ok {
		return nil
	}
	q := r.queues[[2]int32{int32(wave), o}]
	if q == nil {
		return nil
	}
	for q.first < len(q.devs) && r.devs[q.devs[q.first]].state != orchestrator.DevicePending {
		q.first++
	}
	var out []orchestrator.Member
	for p := max(q.first, after); p < len(q.devs) && len(out) < limit; p++ {
		if i := q.devs[p]; r.devs[i].state == orchestrator.DevicePending {
			out = append(out, r.member(i, p+1))
		}
	}
	return out
}

// Heads implements orchestrator.PendingReader.
func (r *run) Heads(wave int, orgs []string, limit int) [][]orchestrator.Member {
	out := make([][]orchestrator.Member, len(orgs))
	for i, org := range orgs {
		out[i] = r.Pending(wave, org, 0, limit)
	}
	return out
}

// Err implements orchestrator.PendingReader: the replay's reads cannot fail.
func (r *run) Err() error { return nil }

// replay runs the controller on a virtual clock until the campaign is
// done, waits for a person, or passes the horizon.
func (r *run) replay() runResult {
	s := r.s
	base := s.in.View
	waves := append([]orchestrator.WaveState(nil), base.Waves...)
	if len(waves) < len(s.spec.Waves) {
		waves = append(waves, make([]orchestrator.WaveState, len(s.spec.Waves)-len(waves))...)
	}
	for i, w := range waves {
		if w.Status == orchestrator.WaveDone {
			r.res.waves[i] = w.Completed
		}
	}
	for o, n := range r.remain {
		if n == 0 {
			r.res.orgs[o] = s.in.Now
		}
	}
	approvals := map[int]time.Time{}
	for i, w := range waves {
		if w.Status == orchestrator.WaveAwaitingApproval && !w.Approved {
			approvals[i] = s.in.Now.Add(s.approvalDelay()) // waiting already: assumed approved the delay from now
		}
	}
	now, lastDecide := s.in.Now, time.Time{}
	var deadline time.Time
	if s.spec.Deadline != nil {
		deadline = s.spec.Deadline.Time
	}
	snapped := false
	for now.Before(s.horizon) {
		if !deadline.IsZero() && !snapped && !now.Before(deadline) {
			r.finishDue(deadline)
			r.snapshot()
			snapped = true
		}
		r.finishDue(now)
		for i, at := range approvals {
			if !at.After(now) {
				waves[i].Approved = true
				delete(approvals, i)
			}
		}
		plan := orchestrator.Decide(r.view(base, waves), now)
		r.res.decisions++
		lastDecide = now
		for _, c := range plan.WaveChanges {
			waves[c.Wave] = c.State
			switch c.State.Status {
			case orchestrator.WaveDone:
				r.res.waves[c.Wave] = now
			case orchestrator.WaveAwaitingApproval:
				if _, ok := approvals[c.Wave]; !ok && !c.State.Approved {
					approvals[c.Wave] = now.Add(s.approvalDelay())
				}
			}
		}
		for _, b := range plan.Blocked {
			if b.Reason == orchestrator.BlockHalted {
				if b.Org == "" {
					r.res.waitPerson = true
				} else {
					r.res.halted[s.orgIndex[b.Org]] = true
				}
			}
		}
		for _, h := range plan.Dispatch {
			i, err := strconv.Atoi(h)
			if err != nil || i < 0 || i >= len(r.devs) {
				panic(fmt.Sprintf("forecast: the controller dispatched %q, which the replay never offered", h))
			}
			r.move(int32(i), orchestrator.DeviceRunning, "")
			r.finishLater(int32(i), now, 1)
		}
		if len(plan.Dispatch) > 0 {
			r.due = r.dueNow(now) // those dispatched are no longer deferred
		}
		if plan.Done {
			r.res.finish = now
			break
		}
		next := plan.WakeAt
		for _, at := range approvals {
			if next.IsZero() || at.Before(next) {
				next = at
			}
		}
		if len(r.running) > 0 {
			if at := time.Unix(0, r.running[0].at).UTC(); next.IsZero() || at.Before(next) {
				next = at
			}
		}
		if len(r.later.devs) > 0 {
			if at := r.devs[r.later.devs[0]].next; next.IsZero() || at.Before(next) {
				next = at
			}
		}
		// Decide at most every Step: runs finishing and deferred devices
		// coming due are taken together, each at most Step late.
		if floor := lastDecide.Add(s.step); !next.IsZero() && next.Before(floor) {
			next = floor
		}
		if next.IsZero() || !next.After(now) {
			if len(r.running) == 0 && (next.IsZero() || len(plan.Dispatch) == 0) {
				if deadline.IsZero() || now.Before(deadline) {
					r.res.waitPerson = true // nothing runs and nothing will: a person must act
				}
				break
			}
			next = now.Add(s.step)
		}
		if !deadline.IsZero() && !now.Before(deadline) && len(r.running) == 0 {
			break // nothing new starts after the deadline
		}
		now = next
	}
	if !deadline.IsZero() && !snapped {
		r.snapshot()
	}
	for i := range r.devs {
		d := &r.devs[i]
		switch {
		case d.state == orchestrator.DeviceFailed:
			r.res.failed[d.org]++
		case d.state == orchestrator.DeviceDeferred:
			r.res.unreach[d.org]++
		case d.state == orchestrator.DevicePending || d.state.InFlight():
			r.res.left[d.org]++
		}
	}
	return r.res
}

// snapshot records, by organisation, the devices not done (succeeded or
// skipped) at the deadline.
func (r *run) snapshot() {
	for i := range r.devs {
		if d := &r.devs[i]; d.state != orchestrator.DeviceSucceeded && d.state != orchestrator.DeviceSkipped {
			r.res.late[d.org]++
		}
	}
}

// finishDue applies the runs that finished by now and moves the deferred
// devices that came due.
func (r *run) finishDue(now time.Time) {
	until := now.UnixNano()
	for len(r.running) > 0 && r.running[0].at <= until {
		e := heap.Pop(&r.running).(event)
		at := time.Unix(0, e.at).UTC()
		d := &r.devs[e.dev]
		switch e.out {
		case orchestrator.DeviceDeferred:
			state, next := r.s.spec.AfterRun(playbooks.Outcome{Status: playbooks.StatusFailed, Reason: playbooks.ReasonUnreachable}, d.attempts, at)
			r.move(e.dev, state, orchestrator.Reason(playbooks.ReasonUnreachable))
			d.next, d.offline = next, true
			heap.Push(&r.later, e.dev)
			continue
		case orchestrator.DeviceFailed:
			r.move(e.dev, orchestrator.DeviceFailed, orchestrator.Reason(playbooks.ReasonCommandFailed))
		default:
			r.move(e.dev, orchestrator.DeviceSucceeded, orchestrator.Reason(playbooks.ReasonCompleted))
		}
		if r.remain[d.org]--; r.remain[d.org] == 0 {
			r.res.orgs[d.org] = at
		}
	}
	r.due = r.dueNow(now)
}

// dueNow moves the deferred devices due by now from later to due and
// returns every due device still deferred.
func (r *run) dueNow(now time.Time) []int32 {
	for len(r.later.devs) > 0 && !r.devs[r.later.devs[0]].next.After(now) {
		r.due = append(r.due, heap.Pop(&r.later).(int32))
	}
	out := r.due[:0]
	for _, i := range r.due {
		if r.devs[i].state == orchestrator.DeviceDeferred {
			out = append(out, i)
		}
	}
	return out
}

func (s *setup) approvalDelay() time.Duration {
	if s.in.Model.ApprovalDelay > 0 {
		return s.in.Model.ApprovalDelay
	}
	return 24 * time.Hour
}
