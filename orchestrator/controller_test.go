package orchestrator

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// members makes n devices per organisation, sites s1..s3, all pending in
// the spec's waves as Assign splits them.
func members(s *Spec, orgs map[string]int) []Member {
	var ds []*inventory.Device
	for _, org := range sortedKeys(orgs) {
		for i := range orgs[org] {
			ds = append(ds, &inventory.Device{Hostname: fmt.Sprintf("pc%03d.%s.nhs.uk", i, strings.ToLower(org)), Org: org,
				Site: fmt.Sprintf("s%d", i%3+1)})
		}
	}
	return Assign(s, ds)
}

func sortedKeys(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func view(s *Spec, ms []Member, status Status) View {
	waves := make([]WaveState, len(s.Waves))
	for i := range waves {
		waves[i].Status = WavePending
	}
	return View{Spec: s, Status: status, Waves: waves, Members: ms, Calendars: map[string]Calendar{}}
}

func count(p Plan, ms []Member, pred func(Member) bool) int {
	n := 0
	for _, h := range p.Dispatch {
		for _, m := range ms {
			if m.Hostname == h && pred(m) {
				n++
			}
		}
	}
	return n
}

func blocked(p Plan, r BlockReason) int {
	n := 0
	for _, b := range p.Blocked {
		if b.Reason == r {
			n += b.Devices
		}
	}
	return n
}

var t0 = utc("2027-01-12T20:00:00Z") // a Tuesday evening

func TestDecideCaps(t *testing.T) {
	s := spec(t, `
name: caps
playbook: discover
caps: {per_org: 5, per_site: 2, total: 8}
waves: [{name: all, max_concurrency: 7}]
`)
	ms := members(s, map[string]int{"RAA": 30, "RBB": 30})
	p := Decide(view(s, ms, StatusRunning), t0)
	if len(p.Dispatch) != 7 {
		t.Fatalf("dispatched %d, want 7 (the wave's max_concurrency)", len(p.Dispatch))
	}
	for _, org := range []string{"RAA", "RBB"} {
		if n := count(p, ms, func(m Member) bool { return m.Org == org }); n > 5 {
			t.Errorf("%s: %d dispatched, above per_org 5", org, n)
		}
		for _, site := range []string{"s1", "s2", "s3"} {
			if n := count(p, ms, func(m Member) bool { return m.Org == org && m.Site == site }); n > 2 {
				t.Errorf("%s/%s: %d dispatched, above per_site 2", org, site, n)
			}
		}
	}
	if blocked(p, BlockWaveCap) == 0 {
		t.Errorf("blocked = %+v, want the wave cap named", p.Blocked)
	}
	// With the wave cap lifted, the total cap of 8 binds.
	s.Waves[0].MaxConcurrency = 0
	if p := Decide(view(s, ms, StatusRunning), t0); len(p.Dispatch) != 8 || blocked(p, BlockTotalCap) == 0 {
		t.Errorf("dispatched %d, blocked %+v; want 8 and the total cap", len(p.Dispatch), p.Blocked)
	}
	// In-flight devices count against the caps.
	i := slices.IndexFunc(ms, func(m Member) bool { return m.Org == "RAA" })
	ms[i].State = DeviceRunning
	p = Decide(view(s, ms, StatusRunning), t0)
	if n := count(p, ms, func(m Member) bool { return m.Org == "RAA" }); n > 4 {
		t.Errorf("RAA: %d dispatched with one running, above per_org 5", n)
	}
}

func TestDecideWindows(t *testing.T) {
	s := spec(t, `
name: windows
playbook: discover
windows:
  default: {cron: "0 22 * * *", duration: 4h}
waves: [{name: all}]
`)
	ms := members(s, map[string]int{"RAA": 3, "KOL": 3})
	v := view(s, ms, StatusRunning)
	v.Calendars["RAA"], _ = s.Calendar("RAA", "Europe/London")
	v.Calendars["KOL"], _ = s.Calendar("KOL", "Asia/Kolkata")
	// 20:00 UTC: London's window (22:00) is closed, Kolkata's (16:30 UTC) open.
	p := Decide(v, t0)
	if got := count(p, ms, func(m Member) bool { return m.Org == "KOL" }); got != 3 || len(p.Dispatch) != 3 {
		t.Errorf("dispatched %v, want Kolkata's 3 only", p.Dispatch)
	}
	if blocked(p, BlockWindowClosed) != 3 || !p.WakeAt.Equal(utc("2027-01-12T22:00:00Z")) {
		t.Errorf("blocked %+v, wake %s; want London's 3 until 22:00 and a wake-up then", p.Blocked, p.WakeAt)
	}
	// 22:00 UTC: London's opens; Kolkata's closed at 20:30 UTC.
	if p := Decide(v, utc("2027-01-12T22:00:00Z")); count(p, ms, func(m Member) bool { return m.Org == "RAA" }) != 3 || len(p.Dispatch) != 3 {
		t.Errorf("at 22:00 dispatched %v, want London's 3", p.Dispatch)
	}
}

func TestDecideWaves(t *testing.T) {
	s := spec(t, `
name: waves
playbook: discover
waves:
  - {name: pilot, count: 2, soak: 24h}
  - {name: ring1, percent: 50, approval: manual, max_failure_percent: 25}
  - {name: rest}
`)
	ms := members(s, map[string]int{"RAA": 6, "RBB": 4})
	v := view(s, ms, StatusRunning)
	set := func(wave int, state DeviceState, reason Reason) {
		for i := range v.Members {
			if v.Members[i].Wave == wave {
				v.Members[i].State, v.Members[i].Reason = state, reason
			}
		}
	}
	apply := func(p Plan) {
		for _, c := range p.WaveChanges {
			v.Waves[c.Wave] = c.State
		}
	}
	sizes := map[int]int{}
	for _, m := range ms {
		sizes[m.Wave]++
	}
	if sizes[0] != 2 || sizes[1] != 4 || sizes[2] != 4 {
		t.Fatalf("wave sizes %v, want pilot 2, ring1 4 (50%% of 8), rest 4", sizes)
	}

	p := Decide(v, t0)
	apply(p)
	if len(p.Dispatch) != 2 || v.Waves[0].Status != WaveActive || v.Waves[1].Status != WavePending {
		t.Fatalf("start: dispatch %v, waves %+v", p.Dispatch, v.Waves)
	}
	set(0, DeviceSucceeded, "completed")
	p = Decide(v, t0.Add(time.Hour))
	apply(p)
	if v.Waves[0].Status != WaveDone || len(p.Dispatch) != 0 || blocked(p, BlockSoaking) != 4 || !p.WakeAt.Equal(t0.Add(25*time.Hour)) {
		t.Fatalf("after pilot: waves %+v, dispatch %v, blocked %+v, wake %s", v.Waves, p.Dispatch, p.Blocked, p.WakeAt)
	}
	p = Decide(v, t0.Add(25*time.Hour))
	apply(p)
	if v.Waves[1].Status != WaveAwaitingApproval || len(p.Dispatch) != 0 || blocked(p, BlockAwaitingApproval) != 4 {
		t.Fatalf("after soak: waves %+v, dispatch %v, blocked %+v", v.Waves, p.Dispatch, p.Blocked)
	}
	v.Waves[1].Approved = true
	p = Decide(v, t0.Add(26*time.Hour))
	apply(p)
	if v.Waves[1].Status != WaveActive || len(p.Dispatch) != 4 {
		t.Fatalf("approved: waves %+v, dispatch %v", v.Waves, p.Dispatch)
	}
	// One unreachable (deferred) and one ineligible never count; one real
	// failure of four is 25%, not above the threshold.
	ring := []int{}
	for i, m := range v.Members {
		if m.Wave == 1 {
			ring = append(ring, i)
		}
	}
	v.Members[ring[0]].State, v.Members[ring[0]].NextAttempt, v.Members[ring[0]].Changed = DeviceDeferred, t0.Add(30*time.Hour), t0.Add(26*time.Hour)
	v.Members[ring[1]].State, v.Members[ring[1]].Reason = DeviceFailed, "ineligible_edition"
	v.Members[ring[2]].State, v.Members[ring[2]].Reason = DeviceFailed, "compat_blocked:0xC1900208"
	v.Members[ring[3]].State = DeviceRunning
	p = Decide(v, t0.Add(27*time.Hour))
	apply(p)
	if v.Waves[1].Status != WaveActive || blocked(p, BlockDeferred) != 1 || !p.WakeAt.Equal(t0.Add(30*time.Hour)) {
		t.Fatalf("at 25%%: waves %+v, blocked %+v, wake %s", v.Waves, p.Blocked, p.WakeAt)
	}
	// A second real failure: 50% > 25%, the wave halts; the running device
	// is left to finish, nothing new starts, the next wave waits.
	v.Members[ring[3]].State, v.Members[ring[3]].Reason = DeviceFailed, "rolled_back:0xC1900101"
	p = Decide(v, t0.Add(28*time.Hour))
	apply(p)
	if v.Waves[1].Status != WaveHalted || !strings.Contains(v.Waves[1].Reason, "2 of 4 devices failed") || len(p.Dispatch) != 0 || v.Waves[2].Status != WavePending {
		t.Fatalf("halt: waves %+v, dispatch %v", v.Waves, p.Dispatch)
	}
	// The deferred device of a halted wave is not retried either.
	if p := Decide(v, t0.Add(31*time.Hour)); len(p.Dispatch) != 0 || blocked(p, BlockHalted) == 0 {
		t.Errorf("halted wave dispatched %v, blocked %+v", p.Dispatch, p.Blocked)
	}
}

func TestDecideDeferredAndStates(t *testing.T) {
	s := spec(t, `
name: deferred
playbook: discover
start: 2027-01-12T21:00:00Z
deadline: 2027-02-01T00:00:00Z
waves: [{name: all}]
`)
	ms := members(s, map[string]int{"RAA": 3})
	v := view(s, ms, StatusRunning)
	if p := Decide(v, t0); len(p.Dispatch) != 0 || !p.WakeAt.Equal(utc("2027-01-12T21:00:00Z")) || blocked(p, BlockNotStarted) != 3 {
		t.Errorf("before start: %+v", p)
	}
	if p := Decide(view(s, ms, StatusPaused), t0.Add(2*time.Hour)); len(p.Dispatch) != 0 || blocked(p, BlockPaused) != 3 {
		t.Errorf("paused: %+v", p)
	}
	if p := Decide(view(s, ms, StatusDraft), t0.Add(2*time.Hour)); len(p.Dispatch) != 0 {
		t.Errorf("draft: %+v", p)
	}
	now := t0.Add(2 * time.Hour)
	v.Waves[0] = WaveState{Status: WaveActive, Started: now}
	for i := range v.Members {
		v.Members[i].State = DeviceSucceeded
	}
	v.Members[0].State, v.Members[0].Changed, v.Members[0].NextAttempt = DeviceDeferred, now, now.Add(time.Hour)
	p := Decide(v, now)
	if len(p.Dispatch) != 0 || !p.WakeAt.Equal(now.Add(time.Hour)) || p.Done {
		t.Errorf("deferred, not due: %+v", p)
	}
	for _, c := range p.WaveChanges {
		v.Waves[c.Wave] = c.State
	}
	if v.Waves[0].Status != WaveDone {
		t.Errorf("the wave with only a deferred device left is %s, want done", v.Waves[0].Status)
	}
	// Seen again by the inventory: picked up at once, before its retry time.
	v.Members[0].LastSeen = now.Add(10 * time.Minute)
	if p := Decide(v, now.Add(11*time.Minute)); !slices.Equal(p.Dispatch, []string{v.Members[0].Hostname}) {
		t.Errorf("seen again: dispatch %v", p.Dispatch)
	}
	v.Members[0].LastSeen = time.Time{}
	if p := Decide(v, now.Add(time.Hour)); len(p.Dispatch) != 1 {
		t.Errorf("due: dispatch %v", p.Dispatch)
	}
	// After the deadline nothing new starts and the campaign is done.
	if p := Decide(v, utc("2027-02-01T00:00:00Z")); len(p.Dispatch) != 0 || !p.Done {
		t.Errorf("after the deadline: %+v", p)
	}
}

// TestDecideRunsACampaign drives Decide on a fake clock through a whole
// three-wave campaign with windows, caps, soak, failures and an offline
// device, completing each dispatched run 40 minutes later. It jumps from
// one wake-up or completion to the next, never polling, and checks that
// every device ends in one final state.
func TestDecideRunsACampaign(t *testing.T) {
	s := spec(t, `
name: sim
playbook: win10-feature-update
windows:
  default: {cron: "0 20 * * *", duration: 8h}
caps: {per_org: 10, per_site: 4}
waves:
  - {name: pilot, count: 10, soak: 12h}
  - {name: ring1, percent: 25, soak: 12h}
  - {name: rest}
`)
	orgs := map[string]int{"RAA": 80, "RBB": 40, "RCC": 7}
	v := view(s, members(s, orgs), StatusRunning)
	for org := range orgs {
		v.Calendars[org], _ = s.Calendar(org, "Europe/London")
	}
	now, finishes := t0, map[string]time.Time{}
	decisions := 0
	for step := 0; step < 10000; step++ {
		p := Decide(v, now)
		decisions++
		for _, c := range p.WaveChanges {
			v.Waves[c.Wave] = c.State
		}
		for _, h := range p.Dispatch {
			i := slices.IndexFunc(v.Members, func(m Member) bool { return m.Hostname == h })
			v.Members[i].State, v.Members[i].Changed = DeviceRunning, now
			finishes[h] = now.Add(40 * time.Minute)
		}
		if p.Done {
			break
		}
		// Jump to the next event: a run finishing or the controller's wake-up.
		next := p.WakeAt
		for _, at := range finishes {
			if next.IsZero() || at.Before(next) {
				next = at
			}
		}
		if next.IsZero() {
			t.Fatalf("stuck at %s: %+v", now, p.Blocked)
		}
		now = next
		for h, at := range finishes {
			if at.After(now) {
				continue
			}
			delete(finishes, h)
			i := slices.IndexFunc(v.Members, func(m Member) bool { return m.Hostname == h })
			m := &v.Members[i]
			m.Attempts++
			m.Changed = now
			switch {
			case strings.HasPrefix(m.Hostname, "pc013.") && m.Attempts < 3: // offline twice, then back
				m.State, m.NextAttempt = DeviceDeferred, now.Add(time.Duration(m.Attempts)*time.Hour)
			case m.Hostname == "pc005.raa.nhs.uk" || m.Hostname == "pc003.rbb.nhs.uk":
				m.State, m.Reason = DeviceFailed, "compat_blocked:0xC1900208"
			default:
				m.State, m.Reason = DeviceSucceeded, "completed"
			}
		}
	}
	states := map[DeviceState]int{}
	for _, m := range v.Members {
		states[m.State]++
		if !m.State.Final() {
			t.Errorf("%s ended %s", m.Hostname, m.State)
		}
	}
	if states[DeviceSucceeded] != 125 || states[DeviceFailed] != 2 {
		t.Errorf("final states %v, want 125 succeeded and the 2 compat blocks failed", states)
	}
	for i, w := range v.Waves {
		if w.Status != WaveDone {
			t.Errorf("wave %d is %s", i, w.Status)
		}
	}
	if decisions > 400 {
		t.Errorf("%d decisions: the controller polled instead of waking on events", decisions)
	}
	t.Logf("%d devices in %d decisions over %s of simulated time: %v", len(v.Members), decisions, now.Sub(t0), states)
}

// TestDecideHaltsAnOrganisation: one organisation's failures pass the
// threshold while the wave's do not: that organisation stops, in this wave
// and the next, and the others go on.
func TestDecideHaltsAnOrganisation(t *testing.T) {
	s := spec(t, `
name: orghalt
playbook: discover
waves:
  - {name: first, percent: 50, max_failure_percent: 30}
  - {name: second}
`)
	v := view(s, members(s, map[string]int{"RAA": 20, "RBB": 20}), StatusRunning)
	v.Waves[0].Status = WaveActive
	failed := 0
	for i := range v.Members {
		m := &v.Members[i]
		switch {
		case m.Wave != 0:
		case m.Org == "RAA" && failed < 4:
			m.State, m.Reason = DeviceFailed, "rolled_back:0xC1900101"
			failed++
		case m.Org == "RBB":
			m.State = DeviceSucceeded
		}
	}
	p := Decide(v, t0)
	for _, c := range p.WaveChanges {
		v.Waves[c.Wave] = c.State
	}
	if n := count(p, v.Members, func(m Member) bool { return m.Org == "RAA" }); n != 0 || blocked(p, BlockHalted) == 0 {
		t.Fatalf("RAA dispatched %d, blocked %+v; want RAA halted", n, p.Blocked)
	}
	if v.Waves[0].Status != WaveDone || v.Waves[1].Status != WaveActive {
		t.Fatalf("waves %+v: the first should be done but for RAA, the second started", v.Waves)
	}
	if n := count(p, v.Members, func(m Member) bool { return m.Org == "RBB" }); n == 0 || len(p.Dispatch) != n {
		t.Errorf("second wave dispatched %v, want RBB's only", p.Dispatch)
	}
	// RBB finishes the second wave: both waves are done but for RAA, which
	// waits for a person (campaign retry), and says so.
	for i := range v.Members {
		if m := &v.Members[i]; m.Wave == 1 && m.Org == "RBB" {
			m.State = DeviceSucceeded
		}
	}
	p = Decide(v, t0)
	for _, c := range p.WaveChanges {
		v.Waves[c.Wave] = c.State
	}
	if p.Done || len(p.Dispatch) != 0 || v.Waves[1].Status != WaveDone {
		t.Fatalf("after RBB: done %v, dispatched %v, waves %+v; want both waves done and RAA held", p.Done, p.Dispatch, v.Waves)
	}
	held := 0
	for _, b := range p.Blocked {
		if b.Reason == BlockHalted && b.Org == "RAA" {
			held += b.Devices
		}
	}
	if held != 16 || !p.NeedsPerson(v) {
		t.Errorf("blocked %+v (RAA held %d, want its 16 pending); needs a person %v, want true", p.Blocked, held, p.NeedsPerson(v))
	}
}

// TestDecideWindowThatNeverOpens: a stored campaign whose window never
// opens (cron finds no 30 February and says so with the zero time) holds
// its devices, never dispatches them all at once, and waits for a person.
func TestDecideWindowThatNeverOpens(t *testing.T) {
	s := spec(t, `
name: never
playbook: discover
windows:
  default: {cron: "0 0 30 2 *", duration: 8h}
waves: [{name: all}]
`)
	ms := members(s, map[string]int{"RAA": 4})
	v := view(s, ms, StatusRunning)
	v.Calendars["RAA"], _ = s.Calendar("RAA", "Europe/London")
	p := Decide(v, t0)
	for _, c := range p.WaveChanges {
		v.Waves[c.Wave] = c.State
	}
	if len(p.Dispatch) != 0 || blocked(p, BlockNoWindow) != 4 || !p.WakeAt.IsZero() {
		t.Fatalf("dispatched %v, blocked %+v, wake %s; want all 4 held with no window and no wake-up", p.Dispatch, p.Blocked, p.WakeAt)
	}
	if !p.NeedsPerson(v) {
		t.Error("needs a person = false, want true: only cancelling the campaign moves it on")
	}
}

// TestNeedsPerson: a campaign that nothing but a person can move on says
// so, and what waits, whether its halted wave still holds pending devices
// or every device in it failed; one that will move on by itself does not.
func TestNeedsPerson(t *testing.T) {
	one := spec(t, `
name: one
playbook: discover
waves: [{name: only, max_failure_percent: 10}]
`)
	two := spec(t, `
name: two
playbook: discover
waves:
  - {name: first, percent: 50, max_failure_percent: 10}
  - {name: last, approval: manual}
`)
	const (
		failed = "rolled_back:0xC1900101"
		why    = "20 of 20 devices failed, above max_failure_percent 10"
		halted = "wave only halted: " + why + " (ringmaster campaign continue one --wave only, or ringmaster campaign retry one --failed --wave only)"
	)
	fail := func(m *Member) { m.State, m.Reason = DeviceFailed, failed }
	tests := []struct {
		name  string
		spec  *Spec
		setup func(v *View) // from the first wave active and every device pending
		want  string        // what waits for a person; "" when nothing does
	}{
		{"the only wave: every device failed, halting now", one, func(v *View) {
			set(v, 0, fail)
		}, halted},
		{"the only wave: every device failed, halted before", one, func(v *View) {
			v.Waves[0] = WaveState{Status: WaveHalted, Reason: why}
			set(v, 0, fail)
		}, halted},
		{"the only wave: halted, holding a deferred device", one, func(v *View) {
			v.Waves[0] = WaveState{Status: WaveHalted, Reason: why}
			set(v, 0, fail)
			v.Members[0].State, v.Members[0].NextAttempt = DeviceDeferred, t0.Add(time.Hour)
		}, strings.Replace(halted, "20 of 20", "19 of 20", 1)}, // the count as it is now, not when it halted
		{"the only wave: halted, a device still running", one, func(v *View) {
			set(v, 0, fail)
			v.Members[0].State = DeviceRunning
		}, ""},
		{"a halted wave holds the next", two, func(v *View) {
			set(v, 0, fail)
		}, "wave first halted: 10 of 10 devices failed, above max_failure_percent 10 (ringmaster campaign continue two --wave first, or ringmaster campaign retry two --failed --wave first)"},
		{"a halted wave whose failures were accepted", two, func(v *View) {
			set(v, 0, fail)
			set(v, 0, func(m *Member) { m.Accepted = true })
		}, "wave last awaits approval (ringmaster campaign approve two last)"},
		{"an organisation held in a finished wave, with its reason", two, func(v *View) {
			v.Waves[0] = WaveState{Status: WaveDone, Completed: t0.Add(-time.Hour)}
			set(v, 0, func(m *Member) { m.State = DeviceSucceeded })
			v.Waves[1].Approved = true
			set(v, 1, func(m *Member) {
				if m.Org == "RAA" {
					m.State = DeviceSucceeded
				}
			})
			for i, n := 0, 0; i < len(v.Members) && n < 3; i++ {
				if m := &v.Members[i]; m.Wave == 0 && m.Org == "RBB" {
					fail(m)
					n++
				}
			}
		}, "organisation RBB halted in wave first: 3 of its 5 devices failed, above max_failure_percent 10 (ringmaster campaign continue two --wave first --org RBB)"},
		{"awaiting approval", two, func(v *View) {
			v.Waves[0] = WaveState{Status: WaveDone, Completed: t0.Add(-time.Hour)}
			set(v, 0, func(m *Member) { m.State = DeviceSucceeded })
		}, "wave last awaits approval (ringmaster campaign approve two last)"},
		{"a deferred device waits for its retry", one, func(v *View) {
			set(v, 0, func(m *Member) { m.State = DeviceSucceeded })
			v.Members[0].State, v.Members[0].NextAttempt, v.Members[0].Changed = DeviceDeferred, t0.Add(time.Hour), t0
		}, ""},
		{"work to dispatch", one, func(v *View) {}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := view(tt.spec, members(tt.spec, map[string]int{"RAA": 10, "RBB": 10}), StatusRunning)
			v.Waves[0].Status = WaveActive
			tt.setup(&v)
			p := Decide(v, t0)
			// As campaign show and run's live view ask: before the plan is applied.
			if got := p.PersonWait(v); got != tt.want {
				t.Errorf("waits for a person: %q, want %q", got, tt.want)
			}
			if got := p.NeedsPerson(v); got != (tt.want != "") {
				t.Errorf("needs a person = %v, want %v", got, tt.want != "")
			}
		})
	}
}

// set changes every member of a wave.
func set(v *View, wave int, f func(*Member)) {
	for i := range v.Members {
		if v.Members[i].Wave == wave {
			f(&v.Members[i])
		}
	}
}

// TestDecideAcceptedFailures: failures a person accepted (campaign
// continue) do not halt the wave again; new ones beyond the threshold do,
// and the halt says the counts with the accepted ones.
func TestDecideAcceptedFailures(t *testing.T) {
	s := spec(t, `
name: acc
playbook: discover
waves: [{name: only, max_failure_percent: 10}]
`)
	tests := []struct {
		name     string
		accepted int // of the first failures
		failed   int // devices failed, of 20
		halt     string
	}{
		{"accepted failures do not halt", 5, 5, ""},
		{"new failures within the threshold do not halt", 5, 7, ""},
		{"new failures beyond the threshold halt", 5, 8, "8 of 20 devices failed (5 accepted by campaign continue), above max_failure_percent 10"},
		{"nothing accepted", 0, 3, "3 of 20 devices failed, above max_failure_percent 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := view(s, members(s, map[string]int{"RAA": 10, "RBB": 10}), StatusRunning)
			v.Waves[0].Status = WaveActive
			for i := range tt.failed {
				v.Members[i].State, v.Members[i].Reason, v.Members[i].Accepted = DeviceFailed, "rolled_back:0xC1900101", i < tt.accepted
			}
			p := Decide(v, t0)
			var got string
			for _, c := range p.WaveChanges {
				if c.State.Status == WaveHalted {
					got = c.State.Reason
				}
			}
			if got != tt.halt {
				t.Fatalf("halt %q, want %q", got, tt.halt)
			}
			if tt.halt == "" && len(p.Dispatch) == 0 {
				t.Fatal("nothing dispatched after the failures were accepted")
			}
		})
	}
}

// TestAmend: campaign set's changes are applied to the stored file, the
// rest kept, and checked as a new file is, each problem naming the change
// that caused it.
func TestAmend(t *testing.T) {
	const src = `name: c
playbook: discover
# the pilot first
waves:
  - {name: pilot, count: 2}
  - name: rest
    approval: manual
`
	c := func(f Field, key, value string) Change {
		return Change{Field: f, Key: key, Value: value, Source: fmt.Sprintf("--%s %s=%s", f, key, value)}
	}
	tests := []struct {
		name    string
		changes []Change
		check   func(*Spec) bool
		errs    []string // each problem, in order
	}{
		{"a threshold", []Change{c(FieldMaxFailurePercent, "rest", "20")},
			func(s *Spec) bool { return *s.Waves[1].MaxFailurePercent == 20 && *s.Waves[0].MaxFailurePercent == 10 }, nil},
		{"caps, concurrency, deadline and windows",
			[]Change{c(FieldCapPerOrg, "", "5"), c(FieldMaxConcurrency, "pilot", "3"), c(FieldDeadline, "", "2026-12-24T18:00:00Z"),
				c(FieldWindow, "default", "0 19 * * 1-5 for 8h"), c(FieldWindow, "RXX", "0 22 * * * for 4h in Europe/Paris")},
			func(s *Spec) bool {
				return s.Caps.PerOrg == 5 && s.Waves[0].MaxConcurrency == 3 && s.Deadline.Year() == 2026 &&
					s.Windows.Default.Cron == "0 19 * * 1-5" && s.Windows.Orgs["RXX"].TimeZone == "Europe/Paris"
			}, nil},
		{"every problem with its change",
			[]Change{c(FieldMaxFailurePercent, "rest", "300"), c(FieldMaxFailurePercent, "nope", "5"), c(FieldCapTotal, "", "-1"),
				c(FieldWindow, "default", "0 19 * * 1-5"), c(FieldDeadline, "", "soon"), c(FieldMaxConcurrency, "pilot", "x")}, nil,
			[]string{
				`--max_failure_percent nope=5: no wave "nope" (waves: pilot, rest)`,
				`--window default=0 19 * * 1-5: "0 19 * * 1-5": want "CRON for DURATION", e.g. "0 19 * * 1-5 for 8h", optionally "in Europe/London"`,
				`--max_concurrency pilot=x: "x" is not a whole number`,
				`--max_failure_percent rest=300: wave rest: max_failure_percent must be between 0 and 100`,
				`--caps.total =-1: caps must not be negative`,
				`--deadline =soon: "soon" is not a time such as 2026-12-01T08:00:00Z`,
			}},
		{"problems ParseSpec finds, with their change",
			[]Change{c(FieldMaxFailurePercent, "rest", "300"), c(FieldCapTotal, "", "-1"), c(FieldDeadline, "", "soon")}, nil,
			[]string{
				`--max_failure_percent rest=300: wave rest: max_failure_percent must be between 0 and 100`,
				`--caps.total =-1: caps must not be negative`,
				`--deadline =soon: "soon" is not a time such as 2026-12-01T08:00:00Z`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, s, err := Amend("c.yaml", []byte(src), tt.changes)
			if tt.errs != nil {
				var ce *ChangeError
				if !errors.As(err, &ce) || !errors.Is(err, errkind.Invalid) {
					t.Fatalf("err %v, want a *ChangeError wrapping errkind.Invalid", err)
				}
				var got []string
				for _, p := range ce.Problems {
					got = append(got, p.Source+": "+p.Msg)
				}
				slices.Sort(got)
				want := slices.Sorted(slices.Values(tt.errs))
				if !slices.Equal(got, want) {
					t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				return
			}
			if err != nil || !tt.check(s) {
				t.Fatalf("amended %+v, %v:\n%s", s, err, out)
			}
			if !strings.Contains(string(out), "# the pilot first") || len(s.Waves) != 2 || s.Waves[1].Approval != ApprovalManual {
				t.Fatalf("the rest of the file was not kept:\n%s", out)
			}
		})
	}
}
