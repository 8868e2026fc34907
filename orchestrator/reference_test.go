package orchestrator

import (
	"slices"
	"strings"
	"time"
)

// referenceDecide is the controller as first written: it walks every
// member of the campaign in dispatch order, one at a time. Decide, which
// reads counts and fetches only the devices it may dispatch, must decide
// exactly as it does (TestDecideAsTheReference). Two things were settled
// when Decide was rewritten, here as there: a device held back by a cap
// is told under the cap that is full at the end of the pass (the one a
// person would lift now), and blocks are listed in wave, organisation and
// reason order.
func referenceDecide(v View, now time.Time) Plan {
	d := refDecider{v: v, now: now, waves: slices.Clone(v.Waves), blocked: map[blockKey]*Block{}}
	return d.decide()
}

type refDecider struct {
	v       View
	now     time.Time
	waves   []WaveState
	plan    Plan
	blocked map[blockKey]*Block
}

// gate is as Decide's: halted, deadline, no node, window.
func (d *refDecider) gate(org string, halted map[string]bool, deadline bool) (BlockReason, time.Time) {
	switch {
	case halted[org]:
		return BlockHalted, time.Time{}
	case deadline:
		return BlockDeadline, time.Time{}
	case d.v.Unserved[org]:
		return BlockNoNode, time.Time{}
	}
	cal, ok := d.v.Calendars[org]
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

func (d *refDecider) block(wave int, org string, r BlockReason, until time.Time) {
	k := blockKey{wave, org, r}
	b := d.blocked[k]
	if b == nil {
		b = &Block{Wave: d.v.Spec.Waves[wave].Name, Org: org, Reason: r, Until: until}
		d.blocked[k] = b
	}
	b.Devices++
	if !until.IsZero() && (b.Until.IsZero() || until.Before(b.Until)) {
		b.Until = until
	}
	d.wake(until)
}

func (d *refDecider) wake(t time.Time) {
	if !t.IsZero() && t.After(d.now) && (d.plan.WakeAt.IsZero() || t.Before(d.plan.WakeAt)) {
		d.plan.WakeAt = t
	}
}

func (d *refDecider) change(i int, s WaveState, reason string) {
	d.waves[i] = s
	d.plan.WaveChanges = append(d.plan.WaveChanges, WaveChange{Wave: i, State: s, Reason: reason})
}

// tally is a wave's device counts.
type tally struct {
	pending, inflight int
	failures          Failures
}

func (d *refDecider) tally(wave int, halted map[string]bool) tally {
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

func (d *refDecider) haltedOrgs() map[string]bool {
	halted := map[string]bool{}
	for _, f := range refHeldOrgs(d.v.Spec, d.waves, d.v.Members) {
		halted[f.Org] = true
	}
	return halted
}

func (f *Failures) count(m Member) {
	f.Total++
	if CountsAsFailure(m.State, m.Reason) {
		f.Failed++
		if m.Accepted {
			f.Accepted++
		}
	}
}

// refHeldOrgs are the organisations whose failures in some started wave
// pass that wave's threshold (the first such wave holds each), counted
// member by member.
func refHeldOrgs(s *Spec, waves []WaveState, members []Member) []Failures {
	byWave := map[int]map[string]*Failures{}
	for _, m := range members {
		if m.Wave < 0 || m.Wave >= len(waves) || !waves[m.Wave].Status.started() {
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

func (d *refDecider) decide() Plan {
	spec := d.v.Spec
	switch d.v.Status {
	case StatusRunning:
	case StatusPaused:
		d.blockAll(BlockPaused)
		return d.finish()
	default:
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
		t := d.tally(i, halted)
		if t.failures.Over() {
			d.change(i, WaveState{Status: WaveHalted, Started: ws.Started, Approved: ws.Approved,
				Reason: t.failures.String()}, "halted")
			d.blockFrom(i, BlockHalted)
			break
		}
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

func (d *refDecider) dispatch(active int, halted map[string]bool, deadline bool) {
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
	var held []Member // candidates a cap held back
	for _, m := range members {
		var candidate bool
		switch {
		case m.Wave < 0:
		case m.State == DevicePending && m.Wave != active && halted[m.Org] && d.waves[m.Wave].Status == WaveDone:
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
		if why, until := d.gate(m.Org, halted, deadline); why != "" {
			d.block(m.Wave, m.Org, why, until)
			continue
		}
		w := &spec.Waves[m.Wave]
		site := m.Org + "/" + m.Site
		if (w.MaxConcurrency > 0 && perWave[m.Wave] >= w.MaxConcurrency) || (spec.Caps.Total > 0 && total >= spec.Caps.Total) ||
			(spec.Caps.PerOrg > 0 && perOrg[m.Org] >= spec.Caps.PerOrg) || (spec.Caps.PerSite > 0 && m.Site != "" && perSite[site] >= spec.Caps.PerSite) {
			held = append(held, m)
			continue
		}
		d.plan.Dispatch = append(d.plan.Dispatch, m.Hostname)
		perOrg[m.Org]++
		perSite[site]++
		perWave[m.Wave]++
		total++
	}
	for _, m := range held {
		w := &spec.Waves[m.Wave]
		switch {
		case w.MaxConcurrency > 0 && perWave[m.Wave] >= w.MaxConcurrency:
			d.block(m.Wave, "", BlockWaveCap, time.Time{})
		case spec.Caps.Total > 0 && total >= spec.Caps.Total:
			d.block(m.Wave, "", BlockTotalCap, time.Time{})
		case spec.Caps.PerOrg > 0 && perOrg[m.Org] >= spec.Caps.PerOrg:
			d.block(m.Wave, m.Org, BlockOrgCap, time.Time{})
		default:
			d.block(m.Wave, m.Org, BlockSiteCap, time.Time{})
		}
	}
}

func (d *refDecider) blockWave(wave int, r BlockReason, until time.Time) {
	for _, m := range d.v.Members {
		if m.Wave == wave && m.State == DevicePending {
			d.block(wave, "", r, until)
		}
	}
	d.wake(until)
}

func (d *refDecider) blockFrom(wave int, r BlockReason) {
	for i := wave; i < len(d.waves); i++ {
		d.blockWave(i, r, time.Time{})
	}
}

func (d *refDecider) blockAll(r BlockReason) {
	for _, m := range d.v.Members {
		if m.Wave >= 0 && (m.State == DevicePending || m.State == DeviceDeferred) {
			d.block(m.Wave, "", r, time.Time{})
		}
	}
}

func (d *refDecider) complete() bool {
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

func (d *refDecider) finish() Plan {
	d.plan.Blocked = sortBlocks(d.blocked)
	return d.plan
}
