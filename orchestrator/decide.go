package orchestrator

import (
	"cmp"
	"container/heap"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// This file holds Decide: the controller's pass over a View. It works
// from the view's counts, walks the deferred devices, and reads pending
// devices organisation by organisation in dispatch order only while they
// may still be dispatched, so a pass over a national campaign costs what
// it dispatches, not what the campaign holds. It decides exactly as the
// first controller, which walked every member (reference_test.go).

// Decide computes the next plan from a view of state and the time. It is a
// pure function: the same view and time give the same plan. A view over a
// store may fail to read part way; check View.Err before applying the plan.
func Decide(v View, now time.Time) Plan {
	d := deciders.Get().(*decider)
	defer d.release()
	d.reset(v.counted(), now)
	return d.decide()
}

// deciders keeps deciders between passes with their maps cleared, not
// freed: a forecast decides thousands of times a replay and the scheduler
// at every tick, and a national campaign's tallies, made afresh at each
// pass, cost more to allocate and collect than to count.
var deciders = sync.Pool{New: func() any { return new(decider) }}

// reset readies d for a pass over v at now.
func (d *decider) reset(v View, now time.Time) {
	d.v, d.now, d.plan = v, now, Plan{}
	d.waves = append(d.waves[:0], v.Waves...)
	d.blocked = cleared(d.blocked, 0)
	d.t.count(v)
}

// release returns d to deciders, holding nothing of its view.
func (d *decider) release() {
	d.v, d.plan = View{}, Plan{}
	deciders.Put(d)
}

// cleared is m emptied, or made with room for n when nil.
func cleared[M ~map[K]V, K comparable, V any](m M, n int) M {
	if m == nil {
		return make(M, n)
	}
	clear(m)
	return m
}

// copied is dst (emptied, or made when nil) holding src.
func copied[M ~map[K]V, K comparable, V any](dst, src M) M {
	dst = cleared(dst, len(src))
	maps.Copy(dst, src)
	return dst
}

// WaveFailures counts wave i's failures against its threshold, as the
// view has them now.
func (v View) WaveFailures(i int) Failures { return tallyCounts(v.counted()).waveFailures(i) }

// HeldOrgs lists the organisations held by their own failures in a
// started wave (nothing more starts for them in the campaign until a
// person continues or retries), each with the wave and counts that hold
// it, by organisation code.
func (v View) HeldOrgs() []Failures {
	return tallyCounts(v.counted()).heldOrgs(v.Spec, v.Waves)
}

// DeviceCounts are the view's devices counted (Counts, or its Members
// counted when it has them).
func (v View) DeviceCounts() []Count { return v.counted().Counts }

// MinOrgFailures is how many counted failures an organisation needs in a
// wave before its own failure rate can halt it: one failure in a wave
// holding two of its devices is noise, not a trend.
const MinOrgFailures = 2

func (s WaveStatus) started() bool { return s == WaveActive || s == WaveDone || s == WaveHalted }

// counted is v with Counts, Deferred and Pending made from its Members
// when it has them.
func (v View) counted() View {
	if v.Members == nil {
		return v
	}
	type key struct {
		wave      int
		org, site string
		state     DeviceState
		reason    Reason
		accepted  bool
	}
	n := map[key]int{}
	pending := memberPending{}
	v.Deferred = nil
	for _, m := range v.Members {
		n[key{m.Wave, m.Org, m.Site, m.State, m.Reason, m.Accepted}]++
		switch m.State {
		case DeviceDeferred:
			v.Deferred = append(v.Deferred, m)
		case DevicePending:
			k := waveOrg{m.Wave, m.Org}
			pending[k] = append(pending[k], m)
		}
	}
	v.Counts = make([]Count, 0, len(n))
	for k, c := range n {
		v.Counts = append(v.Counts, Count{Wave: k.wave, Org: k.org, Site: k.site, State: k.state, Reason: k.reason, Accepted: k.accepted, Devices: c})
	}
	for _, ms := range pending {
		slices.SortFunc(ms, func(a, b Member) int { return a.Order - b.Order })
	}
	v.Pending = pending
	v.Members = nil
	return v
}

type waveOrg struct {
	wave int
	org  string
}

// memberPending reads pending devices from members held in memory.
type memberPending map[waveOrg][]Member

func (p memberPending) Pending(wave int, org string, after, limit int) []Member {
	ms := p[waveOrg{wave, org}]
	i := sort.Search(len(ms), func(i int) bool { return ms[i].Order > after })
	return ms[i:min(len(ms), i+limit)]
}

func (p memberPending) Heads(wave int, orgs []string, limit int) [][]Member {
	out := make([][]Member, len(orgs))
	for i, org := range orgs {
		out[i] = p.Pending(wave, org, -1, limit)
	}
	return out
}

func (memberPending) Err() error { return nil }

// tallies are a view's counts summed the ways the controller asks.
type tallies struct {
	waves    []waveTally
	inflight int // devices queued or running, in any wave
	// in flight by organisation, by organisation and site and by wave
	orgInflight  map[string]int
	siteInflight map[orgSite]int
	waveInflight map[int]int
}

// waveTally is one wave's counts.
type waveTally struct {
	devices, pending, inflight, deferred int
	failures                             Failures       // the whole wave's
	orgs                                 map[string]int // each organisation's failures: its index in fails
	fails                                []Failures
	orgPending                           map[string]int
	// sitePending is by organisation, then site; an organisation with
	// none pending may hold an empty map (kept from an earlier pass).
	sitePending map[string]map[string]int
}

// tallyCounts counts v afresh.
func tallyCounts(v View) *tallies {
	t := new(tallies)
	t.count(v)
	return t
}

// count makes t v's tallies, reusing the maps it has.
func (t *tallies) count(v View) {
	// Sized for the organisations (a calendar each) when first made: grown
	// from empty they rehash as they fill.
	orgs := len(v.Calendars)
	t.inflight = 0
	t.orgInflight, t.siteInflight, t.waveInflight = cleared(t.orgInflight, orgs), cleared(t.siteInflight, orgs), cleared(t.waveInflight, 0)
	t.waves = slices.Grow(t.waves[:0], len(v.Spec.Waves))[:len(v.Spec.Waves)]
	for i := range t.waves {
		w, s := &t.waves[i], &v.Spec.Waves[i]
		for _, sites := range w.sitePending {
			clear(sites)
		}
		*w = waveTally{failures: Failures{Wave: i, WaveName: s.Name, Limit: *s.MaxFailurePercent}, orgs: cleared(w.orgs, orgs),
			fails: w.fails[:0], orgPending: cleared(w.orgPending, orgs), sitePending: w.sitePending}
		if w.sitePending == nil {
			w.sitePending = make(map[string]map[string]int, orgs)
		}
	}
	// Counts come grouped by wave and organisation (a store's by its
	// index, a forecast's by its rows): the organisation's tallies are
	// looked up once a group, not once a row.
	var (
		w     *waveTally
		wave  = -1
		org   string
		f     *Failures
		sites map[string]int
	)
	orgIn, siteIn, waveIn := sums[string]{m: t.orgInflight}, sums[orgSite]{m: t.siteInflight}, sums[int]{m: t.waveInflight}
	defer func() { orgIn.flush(); siteIn.flush(); waveIn.flush() }()
	for _, c := range v.Counts {
		if c.State.InFlight() {
			t.inflight += c.Devices
			orgIn.add(c.Org, c.Devices)
			siteIn.add(orgSite{c.Org, c.Site}, c.Devices)
			waveIn.add(c.Wave, c.Devices)
		}
		if c.Wave < 0 || c.Wave >= len(t.waves) {
			continue
		}
		if c.Wave != wave || c.Org != org || f == nil {
			wave, org, w, sites = c.Wave, c.Org, &t.waves[c.Wave], nil
			i, ok := w.orgs[c.Org]
			if !ok {
				i = len(w.fails)
				w.fails = append(w.fails, Failures{Wave: c.Wave, WaveName: w.failures.WaveName, Org: c.Org, Limit: w.failures.Limit})
				w.orgs[c.Org] = i
			}
			f = &w.fails[i]
		}
		w.devices += c.Devices
		for _, f := range [...]*Failures{&w.failures, f} {
			f.Total += c.Devices
			if CountsAsFailure(c.State, c.Reason) {
				f.Failed += c.Devices
				if c.Accepted {
					f.Accepted += c.Devices
				}
			}
		}
		switch {
		case c.State == DevicePending:
			w.pending += c.Devices
			w.orgPending[c.Org] += c.Devices
			if sites == nil {
				if sites = w.sitePending[c.Org]; sites == nil {
					sites = map[string]int{}
					w.sitePending[c.Org] = sites
				}
			}
			sites[c.Site] += c.Devices
		case c.State.InFlight():
			w.inflight += c.Devices
		case c.State == DeviceDeferred:
			w.deferred += c.Devices
		}
	}
}

// sums adds to a map the runs of rows with one key as one addition
// (counts come grouped: a national view's in-flight rows would hash each
// key several times a pass).
type sums[K comparable] struct {
	m   map[K]int
	k   K
	n   int
	has bool
}

func (s *sums[K]) add(k K, n int) {
	if s.has && k == s.k {
		s.n += n
		return
	}
	s.flush()
	s.k, s.n, s.has = k, n, true
}

// flush adds the run summed so far.
func (s *sums[K]) flush() {
	if s.has {
		s.m[s.k] += s.n
	}
	s.has = false
}

func (t *tallies) waveFailures(i int) Failures { return t.waves[i].failures }

// heldOrgs are the organisations whose failures in some started wave (as
// waves has them) pass that wave's threshold, the first such wave holding
// each, by organisation code.
func (t *tallies) heldOrgs(s *Spec, waves []WaveState) []Failures {
	held := map[string]Failures{}
	for i := range waves {
		if i >= len(t.waves) || !waves[i].Status.started() {
			continue
		}
		w := &t.waves[i]
		for org, j := range w.orgs {
			if _, ok := held[org]; !ok && w.fails[j].Over() {
				held[org] = w.fails[j]
			}
		}
	}
	out := slices.Collect(maps.Values(held))
	slices.SortFunc(out, func(a, b Failures) int { return strings.Compare(a.Org, b.Org) })
	return out
}

type blockKey struct {
	wave   int
	org    string
	reason BlockReason
}

// sortBlocks lists blocks by wave, organisation and reason.
func sortBlocks(m map[blockKey]*Block) []Block {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b blockKey) int {
		return cmp.Or(cmp.Compare(a.wave, b.wave), strings.Compare(a.org, b.org), strings.Compare(string(a.reason), string(b.reason)))
	})
	out := make([]Block, 0, len(keys))
	for _, k := range keys {
		out = append(out, *m[k])
	}
	return out
}

// gate says why no device of org may start now (its organisation halted,
// the deadline, no live node serves it, its window), or "".
func (d *decider) gate(org string, halted map[string]bool, deadline bool) (BlockReason, time.Time) {
	cals, now := d.v.Calendars, d.now
	if halted[org] {
		return BlockHalted, time.Time{}
	}
	if deadline {
		return BlockDeadline, time.Time{}
	}
	if d.v.Unserved[org] {
		return BlockNoNode, time.Time{}
	}
	cal, ok := cals[org]
	if !ok {
		return "", time.Time{}
	}
	if open, _ := cal.Open(now); open {
		return "", time.Time{}
	}
	next, ok := cal.NextOpen(now)
	if !ok {
		return BlockNoWindow, time.Time{}
	}
	return BlockWindowClosed, next
}

type decider struct {
	v       View
	now     time.Time
	waves   []WaveState
	t       tallies
	plan    Plan
	blocked map[blockKey]*Block
	// dispatch's maps, kept between passes
	perOrg                 map[string]int
	perSite                map[orgSite]int
	perWave                map[int]int
	candidates, dispatched map[group]int
	byOrg                  map[string]*stream
}

// block records n devices of a wave (of org, or "" for the wave's own
// reason) waiting for r until until (zero if unknown).
func (d *decider) block(wave int, org string, r BlockReason, until time.Time, n int) {
	if n <= 0 {
		return
	}
	k := blockKey{wave, org, r}
	b := d.blocked[k]
	if b == nil {
		b = &Block{Wave: d.v.Spec.Waves[wave].Name, Org: org, Reason: r, Until: until}
		d.blocked[k] = b
	}
	b.Devices += n
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

// haltedOrgs are the organisations held by their own failures: nothing
// more starts for them in this campaign until a person continues or
// retries.
func (d *decider) haltedOrgs() map[string]bool {
	halted := map[string]bool{}
	for _, f := range d.t.heldOrgs(d.v.Spec, d.waves) {
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
		wt := &d.t.waves[i]
		if wt.failures.Over() {
			d.change(i, WaveState{Status: WaveHalted, Started: ws.Started, Approved: ws.Approved,
				Reason: wt.failures.String()}, "halted")
			d.blockFrom(i, BlockHalted)
			break
		}
		// Done when nothing is left to start or finish, but for the devices
		// of organisations halted by their own failures.
		pending := wt.pending
		for org := range halted {
			pending -= wt.orgPending[org]
		}
		if pending == 0 && wt.inflight == 0 {
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

// group is where a device is for the caps: its wave, organisation and
// site.
type group struct {
	wave      int
	org, site string
}

// dispatch picks the devices to start: pending ones of the active wave and
// deferred ones due again, in dispatch order, within windows and caps.
// Each organisation whose gate is open is read as a stream of pending
// devices, merged with the deferred devices due; a stream stops as soon
// as none of its devices left could start. What a cap holds back is told
// under the cap that is full when the pass ends.
func (d *decider) dispatch(active int, halted map[string]bool, deadline bool) {
	spec := d.v.Spec
	d.perOrg, d.perSite, d.perWave = copied(d.perOrg, d.t.orgInflight), copied(d.perSite, d.t.siteInflight), copied(d.perWave, d.t.waveInflight)
	perOrg, perSite, perWave := d.perOrg, d.perSite, d.perWave
	total := d.t.inflight
	d.candidates = cleared(d.candidates, 0)
	candidates := d.candidates // gated through, by group
	for i := range d.waves {
		if i != active && d.waves[i].Status == WaveDone {
			for org, n := range d.t.waves[i].orgPending {
				if halted[org] { // left behind in a finished wave by its organisation's halt
					d.block(i, org, BlockHalted, time.Time{}, n)
				}
			}
		}
	}
	deferred := d.v.Deferred // in dispatch order (sorted here when not)
	if byOrder := func(a, b Member) int { return a.Order - b.Order }; !slices.IsSortedFunc(deferred, byOrder) {
		deferred = slices.SortedFunc(slices.Values(deferred), byOrder)
	}
	due := &stream{deferred: true}
	for _, m := range deferred {
		if m.Wave < 0 || m.Wave >= len(d.waves) {
			continue
		}
		switch d.waves[m.Wave].Status {
		case WaveActive, WaveDone:
		case WaveHalted:
			d.block(m.Wave, m.Org, BlockHalted, time.Time{}, 1)
			continue
		default:
			continue
		}
		if d.now.Before(m.NextAttempt) && !m.LastSeen.After(m.Changed) {
			d.block(m.Wave, m.Org, BlockDeferred, m.NextAttempt, 1)
			continue
		}
		if why, until := d.gate(m.Org, halted, deadline); why != "" {
			d.block(m.Wave, m.Org, why, until, 1)
			continue
		}
		due.buf = append(due.buf, m)
		candidates[group{m.Wave, m.Org, m.Site}]++
	}
	var h streams
	if len(due.buf) > 0 {
		h = append(h, due)
	}
	d.byOrg = cleared(d.byOrg, 0)
	byOrg := d.byOrg
	// open are the organisations of the active wave that may start a
	// device; full says that nothing more of a wave in an organisation
	// can start in this pass.
	var open []*stream
	full := func(wave int, org string) bool {
		w := &spec.Waves[wave]
		return (w.MaxConcurrency > 0 && perWave[wave] >= w.MaxConcurrency) || (spec.Caps.Total > 0 && total >= spec.Caps.Total) ||
			(spec.Caps.PerOrg > 0 && perOrg[org] >= spec.Caps.PerOrg)
	}
	if active >= 0 {
		wt := &d.t.waves[active]
		for _, org := range slices.Sorted(maps.Keys(wt.orgPending)) {
			n := wt.orgPending[org]
			if n == 0 {
				continue
			}
			if why, until := d.gate(org, halted, deadline); why != "" {
				d.block(active, org, why, until, n)
				continue
			}
			s := &stream{wave: active, org: org, left: n, after: -1, remaining: maps.Clone(wt.sitePending[org])}
			for site, k := range s.remaining {
				candidates[group{active, org, site}] += k
				if !d.siteFull(perSite, org, site) {
					s.open += k
				}
			}
			// An organisation that can start nothing is not read at all: a
			// pass while a wave is at its cap reads no device.
			if s.open > 0 && !full(active, org) {
				open = append(open, s)
			}
		}
		// The first page of every organisation that may start a device,
		// in one read.
		orgs := make([]string, len(open))
		for i, s := range open {
			orgs[i] = s.org
		}
		var heads [][]Member
		if len(open) > 0 && d.v.Pending != nil {
			heads = d.v.Pending.Heads(active, orgs, headPage(len(open), d.v.MaxDispatch))
		}
		for i, s := range open {
			if i < len(heads) && s.take(heads[i]) {
				h = append(h, s)
				byOrg[s.org] = s
			}
		}
	}
	heap.Init(&h)
	d.dispatched = cleared(d.dispatched, 0)
	dispatched := d.dispatched
merge:
	for len(h) > 0 && (spec.Caps.Total == 0 || total < spec.Caps.Total) {
		s := h[0]
		m := s.buf[s.next]
		s.next++
		site := orgSite{m.Org, m.Site}
		inSite := perSite[site] // read once a device: the national replay's hottest lookup
		if !s.deferred {
			s.left--
			s.remaining[m.Site]--
			if !d.siteCapped(m.Site, inSite) {
				s.open--
			}
		}
		w := &spec.Waves[m.Wave]
		stop := false // the stream can start nothing more
		switch {
		case w.MaxConcurrency > 0 && perWave[m.Wave] >= w.MaxConcurrency, spec.Caps.PerOrg > 0 && perOrg[m.Org] >= spec.Caps.PerOrg:
			stop = !s.deferred
		case d.siteCapped(m.Site, inSite):
		case d.v.MaxDispatch > 0 && len(d.plan.Dispatch) >= d.v.MaxDispatch:
			d.plan.More, d.plan.WakeAt = true, d.now
			break merge
		default:
			d.plan.Dispatch = append(d.plan.Dispatch, m.Hostname)
			dispatched[group{m.Wave, m.Org, m.Site}]++
			perOrg[m.Org]++
			inSite++
			perSite[site] = inSite
			perWave[m.Wave]++
			total++
			if o := byOrg[m.Org]; o != nil && d.siteCapped(m.Site, inSite) {
				o.open -= o.remaining[m.Site] // its devices left at this site cannot start now
			}
		}
		if stop || (!s.deferred && s.open <= 0) || !s.fill(d.v.Pending) {
			heap.Pop(&h)
			continue
		}
		heap.Fix(&h, 0)
	}
	for _, g := range slices.SortedFunc(maps.Keys(candidates), func(a, b group) int {
		return cmp.Or(cmp.Compare(a.wave, b.wave), strings.Compare(a.org, b.org), strings.Compare(a.site, b.site))
	}) {
		n := candidates[g] - dispatched[g]
		w := &spec.Waves[g.wave]
		switch {
		case w.MaxConcurrency > 0 && perWave[g.wave] >= w.MaxConcurrency:
			d.block(g.wave, "", BlockWaveCap, time.Time{}, n)
		case spec.Caps.Total > 0 && total >= spec.Caps.Total:
			d.block(g.wave, "", BlockTotalCap, time.Time{}, n)
		case spec.Caps.PerOrg > 0 && perOrg[g.org] >= spec.Caps.PerOrg:
			d.block(g.wave, g.org, BlockOrgCap, time.Time{}, n)
		case d.siteFull(perSite, g.org, g.site):
			d.block(g.wave, g.org, BlockSiteCap, time.Time{}, n)
		}
	}
}

// siteFull reports a site at its cap (a device with no site has none).
func (d *decider) siteFull(perSite map[orgSite]int, org, site string) bool {
	return d.siteCapped(site, perSite[orgSite{org, site}])
}

// siteCapped reports a site with n devices in flight at its cap.
func (d *decider) siteCapped(site string, n int) bool {
	c := d.v.Spec.Caps.PerSite
	return c > 0 && site != "" && n >= c
}

// orgSite is a site of an organisation (site names are an
// organisation's own), keying the in-flight tallies.
type orgSite struct{ org, site string }

// stream is the candidates of one organisation in the active wave, read a
// page at a time, or (deferred) the deferred devices due again.
type stream struct {
	deferred bool
	wave     int
	org      string
	buf      []Member
	next     int
	after    int // dispatch order of the last device read
	left     int // pending devices not yet read... or taken
	page     int
	// remaining counts the devices not yet taken by site; open those of
	// them at sites not at their cap (the stream stops at 0).
	remaining map[string]int
	open      int
}

// fill makes sure the stream has a device to take, reading the next page
// when it has taken its last; false when it has none left.
func (s *stream) fill(r PendingReader) bool {
	if s.next < len(s.buf) {
		return true
	}
	if s.deferred || s.left <= 0 || r == nil {
		return false
	}
	s.page = min(max(2*s.page, firstPage), maxPage, s.left)
	return s.take(r.Pending(s.wave, s.org, s.after, s.page))
}

// take makes page the stream's devices to take next; false when it is
// empty.
func (s *stream) take(page []Member) bool {
	s.page = max(s.page, len(page))
	s.buf, s.next = page, 0
	if len(page) == 0 {
		return false
	}
	s.after = page[len(page)-1].Order
	return true
}

// headPage is the first page read of each of open organisations: a few
// more than each would take if a plan of at most limit devices (0: no
// limit) shared them evenly, and no more than firstPage.
func headPage(open, limit int) int {
	if limit <= 0 {
		return firstPage
	}
	return min(firstPage, max(2, 2*limit/open+1))
}

// The pages a stream reads: small first (most organisations have room for
// a few devices), doubling while it keeps taking them.
const (
	firstPage = 16
	maxPage   = 4096
)

// streams is a heap of streams by the dispatch order of their next device.
type streams []*stream

func (h streams) Len() int           { return len(h) }
func (h streams) Less(i, j int) bool { return h[i].buf[h[i].next].Order < h[j].buf[h[j].next].Order }
func (h streams) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *streams) Push(x any)        { *h = append(*h, x.(*stream)) }
func (h *streams) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// blockWave records the pending devices of a wave as blocked.
func (d *decider) blockWave(wave int, r BlockReason, until time.Time) {
	d.block(wave, "", r, until, d.t.waves[wave].pending)
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
	for i := range d.t.waves {
		d.block(i, "", r, time.Time{}, d.t.waves[i].pending+d.t.waves[i].deferred)
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
	if d.t.inflight > 0 {
		return false
	}
	for _, w := range d.t.waves {
		if w.pending > 0 || (w.deferred > 0 && !deadline) {
			return false
		}
	}
	return len(d.plan.Dispatch) == 0
}

func (d *decider) finish() Plan {
	d.plan.Blocked = sortBlocks(d.blocked)
	return d.plan
}
