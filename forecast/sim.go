package forecast

import (
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
)

// Input is what a forecast starts from.
type Input struct {
	// View is the campaign's controller view as the store has it now
	// (orchestrator.ReadView): its spec, status, waves, counts, deferred
	// devices and calendars. Pending devices are made from the counts;
	// with a Pending reader, each wave and organisation's are read
	// through it once for their real places in the dispatch order (which
	// organisations' devices come first decides who finishes first under
	// a total cap), else each replay draws an order of its own.
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
	// Running is when each organisation's runs still going began
	// (campaigns reads it from the transitions). Each running device's
	// finish is drawn beyond what it has run already, and the durations
	// are weighed towards the long runs a young campaign has not yet seen
	// finish. A running device without one is taken to be anywhere in
	// its run.
	Running map[string][]time.Time
	// Finished is when each organisation whose devices have all reached
	// an outcome got its last one (campaigns reads it from the
	// transitions). An organisation finished before Now and absent here
	// is taken to finish at Now.
	Finished map[string]time.Time
}

// device is one device of the replay: its cohort and its run state, in
// a few bytes and no pointer (a million of them, copied for every run,
// scanned by nothing).
type device struct {
	wave, org, site int32
	p               uint8 // its state and reason (setup.pairs)
	offline         bool  // found unreachable before
	queued          bool  // queued when the forecast began: its run has not started
	attempts        uint16
	order           int32 // its place in the dispatch order
	next            int64 // a deferred device's next attempt, Unix nanoseconds
}

// pair is a device state with its reason (and, for a failure, whether a
// person accepted it: campaign continue).
type pair struct {
	state    orchestrator.DeviceState
	reason   orchestrator.Reason
	accepted bool
}

// The pairs a replay moves devices to.
var (
	pendingPair   = pair{state: orchestrator.DevicePending}
	runningPair   = pair{state: orchestrator.DeviceRunning}
	succeededPair = pair{state: orchestrator.DeviceSucceeded, reason: orchestrator.Reason(playbooks.ReasonCompleted)}
	skippedPair   = pair{state: orchestrator.DeviceSkipped, reason: orchestrator.Reason(playbooks.ReasonAlreadyCompliant)}
	failedPair    = pair{state: orchestrator.DeviceFailed, reason: orchestrator.Reason(playbooks.ReasonCommandFailed)}
	// uncountedPair is a failure that does not count towards a halt (a
	// refused logon, an ineligible device).
	uncountedPair = pair{state: orchestrator.DeviceFailed, reason: orchestrator.Reason(playbooks.ReasonAuthFailed)}
	deferredPair  = pair{state: orchestrator.DeviceDeferred, reason: orchestrator.Reason(playbooks.ReasonUnreachable)}
)

// The numbers of the pairs a replay moves devices to: interned first, in
// this order (newSetup), so that a move looks nothing up.
const (
	pendingP uint8 = iota
	runningP
	succeededP
	skippedP
	failedP
	uncountedP
	deferredP
)

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
	pairs    []pair   // the states and reasons devices are in, by device.p
	pairOf   map[pair]uint8
	maxSites int32
	profiles []Profile // by organisation
	// lean is, by organisation, the factor on the durations it draws from
	// a profile it shares, towards its own few runs (Model.lean), and
	// leanNote says so.
	lean     []float64
	leanNote []string
	drawOf   []int // by organisation: which of draws below its profile is
	draws    []struct {
		p, prior Profile
	} // the distinct profiles, each drawn once per run
	step    time.Duration
	horizon time.Time
	// elapsed is how long each device running when the forecast begins
	// has run, by its place in initial, where it is known.
	elapsed map[int32]time.Duration
	// ordered are the waves and organisations whose pending devices have
	// their real dispatch order (readOrder).
	ordered map[[2]int32]bool
}

// orderPage is how many pending devices readOrder reads at a time.
const orderPage = 4096

// readOrder gives each wave and organisation's pending devices (side by
// side in initial, by site) their real places in the dispatch order, as
// r reads them: each place takes a device of its site. Devices the read
// does not place (the counts and the read a moment apart) follow the
// last place read.
func (s *setup) readOrder(r orchestrator.PendingReader, pending uint8) error {
	s.ordered = map[[2]int32]bool{}
	for start := 0; start < len(s.initial); {
		d, end := s.initial[start], start+1
		for end < len(s.initial) && s.initial[end].wave == d.wave && s.initial[end].org == d.org && s.initial[end].p == d.p {
			end++
		}
		if d.p == pending {
			s.order(r, s.initial[start:end])
			s.ordered[[2]int32{d.wave, d.org}] = true
		}
		start = end
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("forecast: the pending devices' order: %w", err)
	}
	return nil
}

// order arranges block, one wave and organisation's pending devices, in
// the order r reads them.
func (s *setup) order(r orchestrator.PendingReader, block []device) {
	d := block[0]
	org := s.orgs[d.org]
	sites := make([][]device, len(s.sites[d.org]))
	for _, dev := range block {
		sites[dev.site] = append(sites[dev.site], dev)
	}
	siteOf := make(map[string]int32, len(sites))
	for i, name := range s.sites[d.org] {
		siteOf[name] = int32(i)
	}
	out := block[:0:0]
	after, last := -1, int32(0)
	for len(out) < len(block) {
		page := r.Pending(int(d.wave), org, after, orderPage)
		for _, m := range page {
			if si, ok := siteOf[m.Site]; ok && len(sites[si]) > 0 {
				dev := sites[si][0]
				sites[si] = sites[si][1:]
				dev.order, last = int32(m.Order), int32(m.Order)
				out = append(out, dev)
			}
		}
		if len(page) < orderPage {
			break
		}
		after = page[len(page)-1].Order
	}
	for _, left := range sites {
		for _, dev := range left {
			last++
			dev.order = last
			out = append(out, dev)
		}
	}
	copy(block, out)
}

// unreachableAttempt is how long an attempt that finds its device
// unreachable takes (the connect timeout).
const unreachableAttempt = time.Minute

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
	s := &setup{in: in, spec: v.Spec, orgIndex: map[string]int32{}, pairOf: map[pair]uint8{}}
	for k, p := range []pair{pendingPair, runningPair, succeededPair, skippedPair, failedPair, uncountedPair, deferredPair} {
		if i, _ := s.intern(p); int(i) != k { // pendingP and the rest
			return nil, fmt.Errorf("forecast: state %s/%s numbered %d, not %d", p.state, p.reason, i, k)
		}
	}
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
	inWave := func(w int) bool { return w >= 0 && w < len(v.Spec.Waves) }
	for _, c := range counts {
		if c.State == orchestrator.DeviceDeferred || !inWave(c.Wave) {
			continue // deferred: from View.Deferred, each with its next attempt; no wave: never dispatched
		}
		o, si := cohort(c.Org, c.Site)
		state, queued := c.State, c.State == orchestrator.DeviceQueued
		if queued {
			state = orchestrator.DeviceRunning // dispatched: its whole run is ahead of it
		}
		p, err := s.intern(pair{state, c.Reason, c.Accepted})
		if err != nil {
			return nil, err
		}
		for range c.Devices {
			s.initial = append(s.initial, device{wave: int32(c.Wave), org: o, site: si, p: p, queued: queued})
		}
	}
	for _, m := range deferred {
		if !inWave(m.Wave) {
			continue
		}
		o, si := cohort(m.Org, m.Site)
		p, err := s.intern(pair{state: orchestrator.DeviceDeferred, reason: m.Reason})
		if err != nil {
			return nil, err
		}
		next := m.NextAttempt
		if m.LastSeen.After(m.Changed) && next.After(in.Now) {
			next = in.Now // seen on the network since it was deferred: the controller tries it at once
		}
		s.initial = append(s.initial, device{wave: int32(m.Wave), org: o, site: si, p: p,
			attempts: uint16(min(m.Attempts, math.MaxUint16)), order: int32(m.Order), next: next.UnixNano(), offline: true})
	}
	for o := range s.orgs {
		_, si := cohort(s.orgs[o], "")
		s.noSite = append(s.noSite, si)
		s.maxSites = max(s.maxSites, int32(len(s.sites[o])))
	}
	// Each wave and organisation's pending devices side by side: a run
	// shuffles them in place (the dispatch order), and reading them in
	// that order then goes through memory in order.
	pending := s.pairOf[pendingPair]
	rank := func(d device) int {
		if d.p == pending {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(s.initial, func(a, b device) int {
		return cmp.Or(cmp.Compare(a.wave, b.wave), cmp.Compare(a.org, b.org), cmp.Compare(rank(a), rank(b)))
	})
	if v.Pending != nil {
		if err := s.readOrder(v.Pending, pending); err != nil {
			return nil, err
		}
	}
	s.names = make([]string, len(s.initial))
	for i := range s.names {
		s.names[i] = strconv.Itoa(i)
	}
	s.since(pending)
	var typical []time.Duration
	keys := map[string]int{}
	for _, org := range s.orgs {
		p, key, prior := in.Model.resolve(org)
		k, ok := keys[key]
		if !ok {
			k = len(s.draws)
			keys[key] = k
			s.draws = append(s.draws, struct{ p, prior Profile }{p.censored(s.elapsedFor(key)), prior})
		}
		s.profiles, s.drawOf = append(s.profiles, p), append(s.drawOf, k)
		lean, note := in.Model.lean(org, key)
		s.lean, s.leanNote = append(s.lean, lean), append(s.leanNote, note)
		typical = append(typical, median(p.Durations))
	}
	s.step = in.Step
	if s.step <= 0 {
		s.step = max(time.Minute, median(typical)/15)
	}
	return s, nil
}

// since gives the devices running when the forecast begins (not queued)
// how long they have run, from Input.Running: in s.elapsed by their place
// in s.initial.
func (s *setup) since(pending uint8) {
	s.elapsed = map[int32]time.Duration{}
	left := map[int32][]time.Time{}
	for org, starts := range s.in.Running {
		if o, ok := s.orgIndex[org]; ok {
			left[o] = slices.SortedFunc(slices.Values(starts), func(a, b time.Time) int { return a.Compare(b) })
		}
	}
	for i, d := range s.initial {
		if d.p == pending || d.queued || s.pairs[d.p].state != orchestrator.DeviceRunning || len(left[d.org]) == 0 {
			continue
		}
		s.elapsed[int32(i)] = max(0, s.in.Now.Sub(left[d.org][0]))
		left[d.org] = left[d.org][1:]
	}
}

// elapsedFor is how long the runs still going have run, of the
// organisations whose runs the profile key is learned from.
func (s *setup) elapsedFor(key string) []time.Duration {
	org, own := strings.CutPrefix(key, "org:")
	if key != "campaign" && !own {
		return nil // stated defaults: learned from nothing
	}
	var out []time.Duration
	for o, starts := range s.in.Running {
		if key == "campaign" || o == org {
			for _, t := range starts {
				out = append(out, max(0, s.in.Now.Sub(t)))
			}
		}
	}
	return out
}

// intern gives a state and reason its number.
func (s *setup) intern(p pair) (uint8, error) {
	if i, ok := s.pairOf[p]; ok {
		return i, nil
	}
	if len(s.pairs) == math.MaxUint8 {
		return 0, fmt.Errorf("forecast: more than %d states and reasons in the campaign's counts", math.MaxUint8)
	}
	i := uint8(len(s.pairs))
	s.pairs, s.pairOf[p] = append(s.pairs, p), i
	return i, nil
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
	late       []int       // by organisation: devices not started, not finished or deferred at the deadline
	notDone    []int       // by organisation: devices not succeeded or skipped at the deadline
	waitPerson bool        // it ended waiting for a person (a halted wave)
	decisions  int
}

// event is a device run finishing (at in Unix nanoseconds: a heap of a
// million compares them often).
type event struct {
	at  int64
	dev int32
	out uint8 // the pair it ends in
}

// events is a min-heap of runs by when they finish, typed (a million
// pushes and pops through container/heap's interface calls cost a third
// of a replay).
type events []event

func (e *events) push(x event) {
	h := append(*e, x)
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if h[parent].at <= h[i].at {
			break
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
	*e = h
}

func (e *events) pop() event {
	h := *e
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		small, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && h[l].at < h[small].at {
			small = l
		}
		if r < len(h) && h[r].at < h[small].at {
			small = r
		}
		if small == i {
			break
		}
		h[i], h[small] = h[small], h[i]
		i = small
	}
	*e = h
	return top
}

// countRow is one row of the replay's counts and its devices.
type countRow struct {
	wave, org, site int32
	p               uint8
	n               int
}

// run is one replay.
type run struct {
	s          *setup
	rng        *rand.Rand
	devs       []device
	draws      []*draws            // by organisation; organisations of one profile share one
	rowOf      []int32             // by cohort and pair (see row): the row's index in rows, or -1
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
	calendars   map[string]orchestrator.Calendar
	deferredBuf []orchestrator.Member
	// arena holds the pending devices read in a decision: Decide keeps
	// none of them past it.
	arena []orchestrator.Member
	res   runResult
	// freed are, by organisation, when the runs the last decision applied
	// finished (Unix nanoseconds, in order): a device it dispatches in
	// its organisation starts when the slot was freed, as the controller,
	// deciding at each finish, starts it, not up to a Step later.
	freed [][]int64
	// taken is, by organisation, how many of freed are taken; touched
	// the organisations with freed slots, to clear after a decision.
	taken   []int
	touched []int32
	// cals are the organisations' calendars (windowed: not always open).
	cals     []orchestrator.Calendar
	windowed []bool
	// lastAt is when the latest run applied finished (Unix nanoseconds).
	lastAt int64
	// spans are, by organisation, the window it was dispatched in at the
	// decisions it last dispatched at.
	spans []span
}

// queue is a wave and organisation's pending devices in dispatch order.
type queue struct {
	devs  []int32
	order []int32 // each device's dispatch order, kept when the queue is compacted
	first int     // devs before it are no longer pending
	gone  int     // devs no longer pending, wherever they are
}

// compact drops the devices no longer pending, once they are many: a
// site at its cap holds pending devices at the front while those behind
// them start, and every read would step over those again. (Between
// decisions only: a device's order is its place in the queue.)
func (q *queue) compact(r *run) {
	if q.gone < 256 || q.gone < len(q.devs)/8 {
		return
	}
	pending := r.s.pairOf[pendingPair]
	keep, order := q.devs[:0], q.order[:0]
	for k, i := range q.devs {
		if r.devs[i].p == pending {
			keep, order = append(keep, i), append(order, q.order[k])
		}
	}
	q.devs, q.order, q.first, q.gone = keep, order, 0, 0
}

type deferredHeap struct {
	devs []int32
	r    *run
}

func (h deferredHeap) Len() int { return len(h.devs) }
func (h deferredHeap) Less(i, j int) bool {
	return h.r.devs[h.devs[i]].next < h.r.devs[h.devs[j]].next
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
		queues: map[[2]int32]*queue{}, remain: make([]int, len(s.orgs)),
		freed: make([][]int64, len(s.orgs)), taken: make([]int, len(s.orgs)), spans: make([]span, len(s.orgs)),
		cals: make([]orchestrator.Calendar, len(s.orgs)), windowed: make([]bool, len(s.orgs))}
	r.rowOf = make([]int32, len(s.spec.Waves)*len(s.orgs)*int(s.maxSites)*len(s.pairs))
	for i := range r.rowOf {
		r.rowOf[i] = -1
	}
	r.later.r = r
	r.calendars = make(map[string]orchestrator.Calendar, len(s.in.View.Calendars))
	for org, c := range s.in.View.Calendars {
		r.calendars[org] = c.Fresh() // its own memory: runs ask at their own times
	}
	for o, org := range s.orgs {
		if c, ok := r.calendars[org]; ok && !c.Always() {
			r.cals[o], r.windowed[o] = c, true
		}
	}
	drawn := make([]*draws, len(s.draws))
	for k, d := range s.draws {
		dr := d.p.draw(r.rng, d.prior)
		drawn[k] = &dr
	}
	for o := range s.orgs {
		r.draws = append(r.draws, drawn[s.drawOf[o]])
	}
	n := len(s.orgs)
	r.res = runResult{waves: make([]time.Time, len(s.spec.Waves)), orgs: make([]time.Time, n), failed: make([]int, n),
		unreach: make([]int, n), left: make([]int, n), halted: make([]bool, n), late: make([]int, n), notDone: make([]int, n)}
	// The real dispatch order is a hash: sites and devices mixed.
	pending := s.pairOf[pendingPair]
	for start := 0; start < len(r.devs); {
		d, end := r.devs[start], start+1
		for end < len(r.devs) && r.devs[end].wave == d.wave && r.devs[end].org == d.org && r.devs[end].p == d.p {
			end++
		}
		if d.p == pending && !s.ordered[[2]int32{d.wave, d.org}] {
			block := r.devs[start:end]
			r.rng.Shuffle(len(block), func(i, j int) { block[i], block[j] = block[j], block[i] })
		}
		start = end
	}
	for i := range r.devs {
		d := &r.devs[i]
		r.add(d, 1)
		if !r.state(d).Final() {
			r.remain[d.org]++
		}
		switch r.state(d) {
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
		case orchestrator.DeviceRunning:
			elapsed, ok := s.elapsed[int32(i)]
			switch {
			case d.queued:
				elapsed = 0 // dispatched: its whole run is ahead of it
			case !ok:
				elapsed = -1 // running since when is not known: anywhere in its run
			}
			r.finishLater(int32(i), s.in.Now, elapsed)
		}
	}
	// The real order is one hash order over the whole campaign, which
	// mixes organisations in proportion to their size: each device's
	// place is spread over its wave so (Decide merges organisations by
	// it), strictly increasing within its organisation.
	waveSize := make([]int, len(s.spec.Waves))
	for _, k := range r.queueOrder {
		waveSize[k[0]] += len(r.queues[k].devs)
	}
	for _, k := range r.queueOrder {
		q := r.queues[k]
		q.order = make([]int32, len(q.devs))
		if s.ordered[k] {
			for p, i := range q.devs {
				q.order[p] = r.devs[i].order
			}
			continue
		}
		n, total, prev := float64(len(q.devs)), float64(waveSize[k[0]]), int32(0)
		for p := range q.order {
			o := max(prev+1, int32((float64(p)+r.rng.Float64())/n*total)+1)
			q.order[p], prev = o, o
			r.devs[q.devs[p]].order = o
		}
	}
	return r
}

func (r *run) state(d *device) orchestrator.DeviceState { return r.s.pairs[d.p].state }

// add changes the row of the counts d is in by n. The controller reads
// sites only of pending devices and those in flight (site caps): the
// others are counted by organisation, which keeps the view's rows, and
// each decision, fewer.
func (r *run) add(d *device, n int) {
	site := d.site
	if st := r.state(d); st != orchestrator.DevicePending && !st.InFlight() {
		site = r.s.noSite[d.org]
	}
	k := ((int(d.wave)*len(r.s.orgs)+int(d.org))*int(r.s.maxSites)+int(site))*len(r.s.pairs) + int(d.p)
	i := r.rowOf[k]
	if i < 0 {
		i = int32(len(r.rows))
		r.rowOf[k] = i
		r.rows = append(r.rows, countRow{wave: d.wave, org: d.org, site: site, p: d.p})
	}
	r.rows[i].n += n
}

// finishLater starts device i's run at now, drawing its outcome and
// duration. A run that has gone on for elapsed already (above zero)
// finishes after at least that much in all; one of unknown elapsed
// (below zero) anywhere in its run.
func (r *run) finishLater(i int32, now time.Time, elapsed time.Duration) {
	d := &r.devs[i]
	dr := r.draws[d.org]
	d.attempts++
	off := dr.off
	if d.offline {
		off = dr.reoff
	}
	if elapsed >= unreachableAttempt {
		off = 0 // it has gone on longer than an unreachable attempt does
	}
	took, out := time.Duration(0), succeededP
	if r.rng.Float64() < off {
		// An unreachable attempt ends at the connect timeout, not after a run.
		took, out = unreachableAttempt, deferredP
	} else {
		// The organisation's lean towards its own runs scales what is
		// drawn from the shared profile.
		lean := r.s.lean[d.org]
		after := time.Duration(float64(max(0, elapsed)) / lean)
		switch u := r.rng.Float64(); {
		case u < dr.skip:
			took, out = dr.skipDuration(r.rng, after), skippedP
		case u < dr.skip+dr.fail:
			took, out = dr.duration(r.rng, after), failedP
		case u < dr.skip+dr.fail+dr.uncounted:
			took, out = dr.duration(r.rng, after), uncountedP
		default:
			took = dr.duration(r.rng, after)
		}
		took = time.Duration(float64(took) * lean)
	}
	switch {
	case elapsed < 0:
		took = time.Duration(r.rng.Float64() * float64(took))
	case elapsed > 0:
		took = max(0, took-elapsed)
	}
	r.running.push(event{at: now.Add(took).UnixNano(), dev: i, out: out})
}

// move puts device i in pair number p.
func (r *run) move(i int32, p uint8) {
	d := &r.devs[i]
	r.add(d, -1)
	d.p = p
	r.add(d, 1)
}

func (r *run) member(i int32, order int) orchestrator.Member {
	d := &r.devs[i]
	p := r.s.pairs[d.p]
	m := orchestrator.Member{Hostname: r.s.names[i], Org: r.s.orgs[d.org], Site: r.s.sites[d.org][d.site], Wave: int(d.wave),
		Order: order, State: p.state, Reason: p.reason, Attempts: int(d.attempts)}
	if d.next != 0 {
		m.NextAttempt = time.Unix(0, d.next).UTC()
	}
	return m
}

// view is the controller's view of the replay now.
func (r *run) view(base orchestrator.View, waves []orchestrator.WaveState) orchestrator.View {
	for _, q := range r.queues {
		q.compact(r)
	}
	v := orchestrator.View{Spec: r.s.spec, Status: orchestrator.StatusRunning, Waves: waves, Calendars: r.calendars, Pending: r,
		Unserved: base.Unserved}
	v.Counts = r.countBuf[:0] // Decide keeps nothing of its view
	r.arena = r.arena[:0]
	for _, row := range r.rows {
		if row.n > 0 {
			p := r.s.pairs[row.p]
			v.Counts = append(v.Counts, orchestrator.Count{Wave: int(row.wave), Org: r.s.orgs[row.org], Site: r.s.sites[row.org][row.site],
				State: p.state, Reason: p.reason, Accepted: p.accepted, Devices: row.n})
		}
	}
	// The due deferred devices, and the next to come due (for the wake):
	// the rest change nothing in the plan.
	v.Deferred = r.deferredBuf[:0]
	for _, i := range r.due {
		v.Deferred = append(v.Deferred, r.member(i, int(r.devs[i].order)))
	}
	if len(r.later.devs) > 0 { // in its place in dispatch order, as the rest
		i := r.later.devs[0]
		m := r.member(i, int(r.devs[i].order))
		at, _ := slices.BinarySearchFunc(v.Deferred, m.Order, func(d orchestrator.Member, order int) int { return d.Order - order })
		v.Deferred = slices.Insert(v.Deferred, at, m)
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
	pending := r.s.pairOf[pendingPair]
	for q.first < len(q.devs) && r.devs[q.devs[q.first]].p != pending {
		q.first++
	}
	start := q.first
	if after > 0 {
		start = max(start, sort.Search(len(q.order), func(p int) bool { return int(q.order[p]) > after }))
	}
	from := len(r.arena)
	for p := start; p < len(q.devs) && len(r.arena)-from < limit; p++ {
		if i := q.devs[p]; r.devs[i].p == pending {
			r.arena = append(r.arena, r.member(i, int(q.order[p])))
		}
	}
	return r.arena[from:len(r.arena):len(r.arena)]
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
			if at, ok := s.in.Finished[s.orgs[o]]; ok && at.Before(s.in.Now) {
				r.res.orgs[o] = at
			}
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
		approved := false
		for i, at := range approvals {
			if !at.After(now) {
				waves[i].Approved = true
				delete(approvals, i)
				approved = true
			}
		}
		// What this decision finds done was done when the last run it
		// applied finished (the controller decides at each finish), not
		// when the replay got round to deciding.
		doneAt := now
		if r.lastAt != 0 && r.lastAt > lastDecide.UnixNano() {
			doneAt = time.Unix(0, r.lastAt).UTC()
		}
		plan := orchestrator.Decide(r.view(base, waves), now)
		r.res.decisions++
		prevDecide := lastDecide
		lastDecide = now
		for _, c := range plan.WaveChanges {
			waves[c.Wave] = c.State
			switch c.State.Status {
			case orchestrator.WaveDone:
				r.res.waves[c.Wave] = doneAt
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
		// Backdating a start to its freed slot holds while nothing else
		// changed at this decision: no wave began or ended, no approval.
		backdate := len(plan.WaveChanges) == 0 && !approved
		for _, h := range plan.Dispatch {
			i, err := strconv.Atoi(h)
			if err != nil || i < 0 || i >= len(r.devs) {
				panic(fmt.Sprintf("forecast: the controller dispatched %q, which the replay never offered", h))
			}
			d := &r.devs[i]
			if r.state(d) == orchestrator.DevicePending {
				r.queues[[2]int32{d.wave, d.org}].gone++
			}
			start := now
			if backdate {
				start = r.slot(d, now, prevDecide)
			}
			r.move(int32(i), runningP)
			r.finishLater(int32(i), start, 0)
		}
		for _, o := range r.touched {
			r.freed[o], r.taken[o] = r.freed[o][:0], 0
		}
		r.touched = r.touched[:0]
		if len(plan.Dispatch) > 0 {
			r.due = r.dueNow(now) // those dispatched are no longer deferred
		}
		if plan.Done {
			r.res.finish = doneAt
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
			if at := time.Unix(0, r.devs[r.later.devs[0]].next).UTC(); next.IsZero() || at.Before(next) {
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
		switch st := r.state(d); {
		case st == orchestrator.DeviceFailed:
			r.res.failed[d.org]++
		case st == orchestrator.DeviceDeferred:
			r.res.unreach[d.org]++
		case st == orchestrator.DevicePending || st.InFlight():
			r.res.left[d.org]++
		}
	}
	return r.res
}

// snapshot records, by organisation, the devices not done (succeeded or
// skipped) at the deadline, and of those the ones late: not started, not
// finished or waiting to be tried again, which the schedule (a window, a
// cap) decides, unlike a failure.
func (r *run) snapshot() {
	for i := range r.devs {
		d := &r.devs[i]
		switch st := r.state(d); {
		case st == orchestrator.DeviceSucceeded || st == orchestrator.DeviceSkipped:
		case st == orchestrator.DeviceFailed:
			r.res.notDone[d.org]++
		default:
			r.res.notDone[d.org]++
			r.res.late[d.org]++
		}
	}
}

// finishDue applies the runs that finished by now and moves the deferred
// devices that came due.
func (r *run) finishDue(now time.Time) {
	until := now.UnixNano()
	for len(r.running) > 0 && r.running[0].at <= until {
		e := r.running.pop()
		at := time.Unix(0, e.at).UTC()
		d := &r.devs[e.dev]
		if len(r.freed[d.org]) == 0 {
			r.touched = append(r.touched, d.org)
		}
		r.freed[d.org] = append(r.freed[d.org], e.at)
		r.lastAt = e.at
		if e.out == deferredP {
			_, next := r.s.spec.AfterRun(playbooks.Outcome{Status: playbooks.StatusFailed, Reason: playbooks.ReasonUnreachable}, int(d.attempts), at)
			r.move(e.dev, deferredP)
			d.next, d.offline = next.UnixNano(), true
			heap.Push(&r.later, e.dev)
			continue
		}
		r.move(e.dev, e.out)
		if r.remain[d.org]--; r.remain[d.org] == 0 {
			r.res.orgs[d.org] = at
		}
	}
	r.due = r.dueNow(now)
}

// slot is when device d, dispatched at now, starts: the earliest slot its
// organisation freed since the last decision (lastDecide) not yet taken,
// if its window has been open since that decision, else now; a retry
// starts now. (Whether the window was open then is known without asking
// the calendar of a past time, which would cost it its memory: the same
// window was open at the last decision it dispatched at and is now,
// closing at the same time.)
func (r *run) slot(d *device, now, lastDecide time.Time) time.Time {
	o := d.org
	if r.taken[o] >= len(r.freed[o]) || d.next != 0 {
		return now
	}
	if r.windowed[o] {
		sp := &r.spans[o]
		if !sp.at.Equal(now) { // its first dispatch at this decision
			_, closes := r.cals[o].Open(now)
			sp.prevAt, sp.prevCloses, sp.at, sp.closes = sp.at, sp.closes, now, closes
		}
		if !sp.prevAt.Equal(lastDecide) || !sp.prevCloses.Equal(sp.closes) {
			return now
		}
	}
	at := r.freed[o][r.taken[o]]
	r.taken[o]++
	return time.Unix(0, at).UTC()
}

// span is the window an organisation's devices were dispatched in, at a
// decision (when it closes), and at the one before that it dispatched at.
type span struct {
	at, closes         time.Time
	prevAt, prevCloses time.Time
}

// dueNow moves the deferred devices due by now from later to due and
// returns every due device still deferred, in dispatch order.
func (r *run) dueNow(now time.Time) []int32 {
	until := now.UnixNano()
	n := len(r.due)
	for len(r.later.devs) > 0 && r.devs[r.later.devs[0]].next <= until {
		r.due = append(r.due, heap.Pop(&r.later).(int32))
	}
	if len(r.due) > n {
		slices.SortFunc(r.due, func(a, b int32) int { return cmp.Compare(r.devs[a].order, r.devs[b].order) })
	}
	out := r.due[:0]
	for _, i := range r.due {
		if r.state(&r.devs[i]) == orchestrator.DeviceDeferred {
			out = append(out, i)
		}
	}
	return out
}

func (s *setup) approvalDelay() time.Duration { return max(0, s.in.Model.ApprovalDelay) }
