package forecast_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/forecast"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC) // a Monday

const specText = `
name: sim
playbook: win10-feature-update
windows:
  default: {cron: "0 20 * * *", duration: 8h}
caps: {per_org: 10, per_site: 4}
waves:
  - {name: pilot, count: 10, soak: 12h}
  - {name: rest%s}
%s`

// estate is three organisations over two or three sites each, its pilot
// and the rest, as a view's counts and as members.
func estate(t *testing.T, approval, extra string) (orchestrator.View, []orchestrator.Member) {
	t.Helper()
	s, err := orchestrator.ParseSpec("sim.yaml", fmt.Appendf(nil, specText, approval, extra))
	if err != nil {
		t.Fatal(err)
	}
	var members []orchestrator.Member
	for _, o := range []struct {
		org         string
		pilot, rest int
		sites       int
	}{{"RAA", 5, 75, 3}, {"RBB", 3, 37, 2}, {"RCC", 2, 5, 2}} {
		for w, n := range []int{o.pilot, o.rest} {
			for i := range n {
				members = append(members, orchestrator.Member{Hostname: fmt.Sprintf("%s-%d-%d", o.org, w, i), Org: o.org,
					Site: fmt.Sprintf("S%d", i%o.sites), Wave: w, Order: i + 1, State: orchestrator.DevicePending})
			}
		}
	}
	v := orchestrator.View{Spec: s, Status: orchestrator.StatusRunning, Waves: make([]orchestrator.WaveState, len(s.Waves)),
		Calendars: map[string]orchestrator.Calendar{}}
	counts := map[orchestrator.Count]int{}
	for _, m := range members {
		counts[orchestrator.Count{Wave: m.Wave, Org: m.Org, Site: m.Site, State: m.State}]++
		if _, ok := v.Calendars[m.Org]; !ok {
			v.Calendars[m.Org], _ = s.Calendar(m.Org, "Europe/London")
		}
	}
	for c, n := range counts {
		c.Devices = n
		v.Counts = append(v.Counts, c)
	}
	return v, members
}

// replay is the controller run over members with every run taking d and
// succeeding: the reference a forecast without faults must match.
func replay(t *testing.T, v orchestrator.View, members []orchestrator.Member, d time.Duration) (time.Time, map[string]time.Time) {
	t.Helper()
	v.Members, v.Counts = slices.Clone(members), nil
	v.Waves = slices.Clone(v.Waves)
	now, finishes, orgDone := t0, map[string]time.Time{}, map[string]time.Time{}
	left := map[string]int{}
	for _, m := range members {
		left[m.Org]++
	}
	for range 100000 {
		p := orchestrator.Decide(v, now)
		for _, c := range p.WaveChanges {
			v.Waves[c.Wave] = c.State
		}
		for _, h := range p.Dispatch {
			i := slices.IndexFunc(v.Members, func(m orchestrator.Member) bool { return m.Hostname == h })
			v.Members[i].State = orchestrator.DeviceRunning
			finishes[h] = now.Add(d)
		}
		if p.Done {
			return now, orgDone
		}
		next := p.WakeAt
		for _, at := range finishes {
			if next.IsZero() || at.Before(next) {
				next = at
			}
		}
		if next.IsZero() {
			t.Fatalf("the reference replay is stuck at %s: %+v", now, p.Blocked)
		}
		now = next
		for h, at := range finishes {
			if at.After(now) {
				continue
			}
			delete(finishes, h)
			i := slices.IndexFunc(v.Members, func(m orchestrator.Member) bool { return m.Hostname == h })
			v.Members[i].State, v.Members[i].Reason = orchestrator.DeviceSucceeded, "completed"
			if left[v.Members[i].Org]--; left[v.Members[i].Org] == 0 {
				orgDone[v.Members[i].Org] = at
			}
		}
	}
	t.Fatal("the reference replay did not end")
	return time.Time{}, nil
}

// certain is a model with no doubt in it: every run takes d and succeeds.
func certain(d time.Duration) forecast.Model {
	sure := forecast.Rate{Events: 0, Trials: 1 << 30}
	p := forecast.Profile{Durations: []time.Duration{d}, Failure: sure, Offline: sure, Reoffline: sure, Source: "test"}
	return forecast.Model{Campaign: p, Default: p, MinRuns: 1}
}

func near(a, b time.Time, within time.Duration) bool { return a.Sub(b).Abs() <= within }

// Without faults, the forecast is the controller's own replay, to within
// its decision step: the cohorts, synthetic queues and batched decisions
// change nothing the controller decides.
func TestForecastIsTheControllersReplay(t *testing.T) {
	v, members := estate(t, "", "")
	want, wantOrgs := replay(t, v, members, 40*time.Minute)
	f, err := forecast.Run(context.Background(), forecast.Input{View: v, Now: t0, Model: certain(40 * time.Minute), Runs: 4, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !near(f.Finish.P50, want, 10*time.Minute) || !near(f.Finish.P10, f.Finish.P90, 10*time.Minute) {
		t.Errorf("campaign finish %+v, the controller's replay finishes at %s", f.Finish, want)
	}
	for _, o := range f.Orgs {
		if !near(o.Finish.P50, wantOrgs[o.Org], 10*time.Minute) || o.Failed != 0 || o.Unreachable != 0 || o.NotReached != 0 {
			t.Errorf("%s: %+v; the replay finishes it at %s", o.Org, o, wantOrgs[o.Org])
		}
	}
	if len(f.Waves) != 2 || f.Waves[0].Finish.P50.IsZero() || !f.Waves[0].Finish.P50.Before(f.Waves[1].Finish.P50) {
		t.Errorf("waves %+v", f.Waves)
	}
}

// A coarse step costs no time: a device dispatched at a decision starts
// when its organisation's slot was freed, as the controller, deciding at
// each finish, starts it. Two slots (a cap of two) finishing 20 minutes
// apart, runs of 40 minutes and a decision every 25: ten more runs take
// the controller until 240 minutes from now.
func TestForecastStepCostsNoTime(t *testing.T) {
	s, err := orchestrator.ParseSpec("q.yaml", []byte("name: q\nplaybook: discover\ncaps: {per_org: 2}\nwaves: [{name: all}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	v := orchestrator.View{Spec: s, Status: orchestrator.StatusRunning, Waves: []orchestrator.WaveState{{Status: orchestrator.WaveActive, Started: t0.Add(-time.Hour)}},
		Counts: []orchestrator.Count{
			{Wave: 0, Org: "RAA", Site: "S", State: orchestrator.DeviceRunning, Devices: 1},
			{Wave: 0, Org: "RAA", Site: "S", State: orchestrator.DeviceQueued, Devices: 1},
			{Wave: 0, Org: "RAA", Site: "S", State: orchestrator.DevicePending, Devices: 10}}}
	f, err := forecast.Run(context.Background(), forecast.Input{View: v, Now: t0, Model: certain(40 * time.Minute), Runs: 2, Step: 25 * time.Minute,
		Running: map[string][]time.Time{"RAA": {t0.Add(-20 * time.Minute)}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(240 * time.Minute); !near(f.Finish.P50, want, 2*time.Minute) {
		t.Errorf("deciding every 25 minutes, the campaign finishes %s; the controller, at %s", f.Finish.P50, want)
	}
}

// A wave that needs approval waits the assumed delay for a person.
func TestForecastWaitsForApproval(t *testing.T) {
	v, _ := estate(t, "", "")
	auto, err := forecast.Run(context.Background(), forecast.Input{View: v, Now: t0, Model: certain(40 * time.Minute), Runs: 2, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	v, _ = estate(t, ", approval: manual", "")
	m := certain(40 * time.Minute)
	m.ApprovalDelay = 72 * time.Hour
	manual, err := forecast.Run(context.Background(), forecast.Input{View: v, Now: t0, Model: m, Runs: 2, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Three days later the rest starts in the same nightly window.
	if d := manual.Finish.P50.Sub(auto.Finish.P50); d < 48*time.Hour || d > 96*time.Hour {
		t.Errorf("approval after 72 h moved the finish by %s (auto %s, manual %s)", d, auto.Finish.P50, manual.Finish.P50)
	}
}

// With failures and unreachable devices drawn, runs differ: the spread is
// ordered, devices are left failed and unreachable, and the same seed
// gives the same forecast.
func TestForecastSpread(t *testing.T) {
	v, _ := estate(t, "", "defer: {backoff: 1h, max_backoff: 8h}\n")
	var durations []time.Duration
	for m := 20; m <= 100; m += 10 {
		durations = append(durations, time.Duration(m)*time.Minute)
	}
	p := forecast.Profile{Durations: durations, Failure: forecast.Rate{Events: 3, Trials: 100}, Offline: forecast.Rate{Events: 10, Trials: 100},
		Reoffline: forecast.Rate{Events: 60, Trials: 100}}
	in := forecast.Input{View: v, Now: t0, Model: forecast.Model{Campaign: p, MinRuns: 1}, Runs: 30, Seed: 7}
	f, err := forecast.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(in.View.Counts) // as another store might read them
	again, _ := forecast.Run(context.Background(), in)
	if f.Finish != again.Finish {
		t.Errorf("the same seed gave %+v then %+v", f.Finish, again.Finish)
	}
	var failed float64
	for _, o := range f.Orgs {
		if o.Finish.P10.After(o.Finish.P50) || !o.Finish.P90.IsZero() && o.Finish.P50.After(o.Finish.P90) {
			t.Errorf("%s: quantiles out of order %+v", o.Org, o.Finish)
		}
		failed += o.Failed
	}
	if failed < 1 || failed > 12 {
		t.Errorf("%.1f devices expected failed of 127 at 3%%", failed)
	}
	// A run that does not finish is one where two of a small
	// organisation's devices failed and held it: a person must act.
	if f.Finish.P10.After(f.Finish.P50) || !f.Finish.P90.IsZero() && f.Finish.P50.After(f.Finish.P90) || f.Finish.Unfinished != f.WaitsForPerson {
		t.Errorf("campaign finish %+v, waiting for a person in %.2f of runs", f.Finish, f.WaitsForPerson)
	}
	halted := 0.0
	for _, o := range f.Orgs {
		halted += o.Halted
	}
	if f.WaitsForPerson > 0 && halted == 0 {
		t.Errorf("runs wait for a person with no organisation halted")
	}

}

// A deadline too close leaves devices not reached, and says who misses it.
func TestForecastDeadline(t *testing.T) {
	v, _ := estate(t, "", fmt.Sprintf("deadline: %s\n", t0.Add(36*time.Hour).Format(time.RFC3339)))
	f, err := forecast.Run(context.Background(), forecast.Input{View: v, Now: t0, Model: certain(40 * time.Minute), Runs: 2, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	misses := 0
	for _, o := range f.Orgs {
		if o.MissesDeadline {
			misses++
			if o.NotDoneByDeadline < 1 {
				t.Errorf("%s misses the deadline with every device done: %+v", o.Org, o)
			}
		}
	}
	if misses == 0 || f.Finish.Unfinished != 1 {
		t.Errorf("no organisation misses a deadline two nights away: %+v", f)
	}
}

// Devices no wave took (wave -1, as a campaign's assignment leaves them)
// are never dispatched and never counted; failures a person accepted
// (campaign continue) do not halt the replay as they do not halt the
// controller.
func TestForecastOddCounts(t *testing.T) {
	v, _ := estate(t, "", "")
	v.Counts = append(v.Counts,
		orchestrator.Count{Wave: -1, Org: "RAA", Site: "S0", State: orchestrator.DevicePending, Devices: 50},
		orchestrator.Count{Wave: 0, Org: "RCC", Site: "S0", State: orchestrator.DeviceFailed, Reason: "command_failed", Accepted: true, Devices: 5})
	v.Deferred = append(v.Deferred, orchestrator.Member{Hostname: "lost", Org: "RBB", Wave: 7, State: orchestrator.DeviceDeferred})
	f, err := forecast.Run(context.Background(), forecast.Input{View: v, Now: t0, Model: certain(40 * time.Minute), Runs: 2, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range f.Orgs {
		if o.Halted > 0 || o.Finish.Unfinished > 0 {
			t.Errorf("%s: %+v: accepted failures halted it", o.Org, o)
		}
		if o.Org == "RAA" && o.Devices != 80 {
			t.Errorf("RAA has %d devices in the forecast, want its 80 in waves", o.Devices)
		}
	}
}

// A device queued when the forecast begins has its whole run ahead of it
// (one running has some of it behind it); a deferred device seen on the
// network since it was deferred is tried at once, as the controller does,
// not at its next attempt.
func TestForecastStartingState(t *testing.T) {
	s := oneWave(t)
	v := orchestrator.View{Spec: s, Status: orchestrator.StatusRunning, Waves: []orchestrator.WaveState{{Status: orchestrator.WaveActive, Started: t0}},
		Counts: []orchestrator.Count{{Wave: 0, Org: "RQQ", Site: "S", State: orchestrator.DeviceQueued, Devices: 3}},
		Deferred: []orchestrator.Member{{Hostname: "back", Org: "RDD", Wave: 0, State: orchestrator.DeviceDeferred, Reason: "unreachable",
			Attempts: 1, Changed: t0.Add(-time.Hour), LastSeen: t0.Add(-time.Minute), NextAttempt: t0.Add(11 * time.Hour)}}}
	f, err := forecast.Run(context.Background(), forecast.Input{View: v, Now: t0, Model: certain(40 * time.Minute), Runs: 3, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range f.Orgs {
		if !near(o.Finish.P50, t0.Add(40*time.Minute), 2*time.Minute) || !near(o.Finish.P10, o.Finish.P90, time.Minute) {
			t.Errorf("%s finishes %+v, want 40 minutes from now in every run", o.Org, o.Finish)
		}
	}
}

// An organisation whose devices all have their outcome finished when its
// last one did, not when the forecast is made; one without a recorded
// finish is taken to finish now.
func TestForecastOrgAlreadyFinished(t *testing.T) {
	s := oneWave(t)
	v := orchestrator.View{Spec: s, Status: orchestrator.StatusRunning, Waves: []orchestrator.WaveState{{Status: orchestrator.WaveActive, Started: t0.Add(-5 * time.Hour)}},
		Counts: []orchestrator.Count{
			{Wave: 0, Org: "RDN", Site: "S", State: orchestrator.DeviceSucceeded, Devices: 4},
			{Wave: 0, Org: "RNO", Site: "S", State: orchestrator.DeviceSucceeded, Devices: 2},
			{Wave: 0, Org: "RGO", Site: "S", State: orchestrator.DevicePending, Devices: 2}}}
	done := t0.Add(-3 * time.Hour)
	f, err := forecast.Run(context.Background(), forecast.Input{View: v, Now: t0, Model: certain(40 * time.Minute), Runs: 3, Step: time.Minute,
		Finished: map[string]time.Time{"RDN": done, "RGO": t0.Add(-4 * time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{"RDN": done, "RNO": t0, "RGO": t0.Add(40 * time.Minute)}
	for _, o := range f.Orgs {
		if !near(o.Finish.P50, want[o.Org], 2*time.Minute) || !near(o.Finish.P10, o.Finish.P90, time.Minute) {
			t.Errorf("%s finishes %+v, want %s in every run", o.Org, o.Finish, want[o.Org])
		}
	}
}

// A device running when the forecast begins finishes what is left of a
// run drawn longer than it has gone on; one whose start is not known,
// anywhere in its run.
func TestForecastRunningDevices(t *testing.T) {
	s := oneWave(t)
	v := orchestrator.View{Spec: s, Status: orchestrator.StatusRunning, Waves: []orchestrator.WaveState{{Status: orchestrator.WaveActive, Started: t0.Add(-time.Hour)}},
		Counts: []orchestrator.Count{
			{Wave: 0, Org: "RAA", Site: "S", State: orchestrator.DeviceRunning, Devices: 1},
			{Wave: 0, Org: "RBB", Site: "S", State: orchestrator.DeviceRunning, Devices: 1}}}
	in := forecast.Input{View: v, Now: t0, Model: certain(40 * time.Minute), Runs: 20, Step: time.Minute,
		Running: map[string][]time.Time{"RAA": {t0.Add(-30 * time.Minute)}, "RBB": {t0.Add(-39 * time.Minute)}}}
	f, err := forecast.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{"RAA": t0.Add(10 * time.Minute), "RBB": t0.Add(time.Minute)}
	for _, o := range f.Orgs {
		if !near(o.Finish.P10, want[o.Org], time.Minute) || !near(o.Finish.P90, want[o.Org], time.Minute) {
			t.Errorf("%s finishes %+v, want %s in every run", o.Org, o.Finish, want[o.Org])
		}
	}
	in.Running = nil
	if f, err = forecast.Run(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	for _, o := range f.Orgs {
		if o.Finish.P10.After(t0.Add(10*time.Minute)) || o.Finish.P90.Before(t0.Add(20*time.Minute)) || o.Finish.P90.After(t0.Add(41*time.Minute)) {
			t.Errorf("%s, running since an unknown time: finishes %+v, want spread over one run", o.Org, o.Finish)
		}
	}
}

// The runs still going weigh the durations: a young campaign whose
// finished runs took ten minutes, with one run an hour in, draws long
// runs too.
func TestForecastCensoredRuns(t *testing.T) {
	s := oneWave(t)
	v := orchestrator.View{Spec: s, Status: orchestrator.StatusRunning, Waves: []orchestrator.WaveState{{Status: orchestrator.WaveActive, Started: t0.Add(-2 * time.Hour)}},
		Counts: []orchestrator.Count{
			{Wave: 0, Org: "RAA", Site: "S", State: orchestrator.DeviceRunning, Devices: 1},
			{Wave: 0, Org: "RAA", Site: "S", State: orchestrator.DevicePending, Devices: 4}}}
	in := forecast.Input{View: v, Now: t0, Model: certain(10 * time.Minute), Runs: 40, Step: time.Minute}
	for _, c := range []struct {
		running map[string][]time.Time
		atLeast time.Duration // the P90 finish from now
	}{
		{nil, 0},
		{map[string][]time.Time{"RAA": {t0.Add(-time.Hour)}}, 55 * time.Minute},
	} {
		in.Running = c.running
		f, err := forecast.Run(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if p90 := f.Orgs[0].Finish.P90; p90.Before(t0.Add(c.atLeast)) || (c.atLeast == 0 && p90.After(t0.Add(12*time.Minute))) {
			t.Errorf("running %v: P90 %s, want at least %s from now (and about ten minutes without)", c.running, p90, c.atLeast)
		}
	}
}

// oneWave is a campaign of one wave and nothing else: no window, cap or
// soak.
func oneWave(t *testing.T) *orchestrator.Spec {
	t.Helper()
	s, err := orchestrator.ParseSpec("q.yaml", []byte("name: q\nplaybook: discover\nwaves: [{name: all}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// An organisation with too few runs for its own profile leans towards
// them: ten runs of two hours against a campaign's of one weigh half, so
// its runs take an hour and a half; one without runs of its own, the
// campaign's hour.
func TestForecastLeansTowardsOwnRuns(t *testing.T) {
	s := oneWave(t)
	v := orchestrator.View{Spec: s, Status: orchestrator.StatusRunning, Waves: []orchestrator.WaveState{{Status: orchestrator.WaveActive, Started: t0}},
		Counts: []orchestrator.Count{
			{Wave: 0, Org: "RSS", Site: "S", State: orchestrator.DevicePending, Devices: 1},
			{Wave: 0, Org: "RNN", Site: "S", State: orchestrator.DevicePending, Devices: 1}}}
	m := certain(time.Hour)
	m.MinRuns = 30
	m.Campaign.Durations = slices.Repeat([]time.Duration{time.Hour}, 40)
	m.Campaign.Failure = forecast.Rate{Events: 0, Trials: 1 << 30}
	m.Orgs = map[string]forecast.Profile{"RSS": {Durations: slices.Repeat([]time.Duration{2 * time.Hour}, 10), Failure: forecast.Rate{Trials: 10}}}
	f, err := forecast.Run(context.Background(), forecast.Input{View: v, Now: t0, Model: m, Runs: 3, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{"RSS": 90 * time.Minute, "RNN": time.Hour}
	for _, o := range f.Orgs {
		if !near(o.Finish.P50, t0.Add(want[o.Org]), time.Minute) {
			t.Errorf("%s finishes %s, want %s from now (%s)", o.Org, o.Finish.P50, want[o.Org], o.LearnedFrom)
		}
	}
}

// pendingList reads pending devices from a list in dispatch order, as a
// store's reader does.
type pendingList []orchestrator.Member

func (l pendingList) Pending(wave int, org string, after, limit int) []orchestrator.Member {
	var out []orchestrator.Member
	for _, m := range l {
		if m.Wave == wave && m.Org == org && m.Order > after && len(out) < limit {
			out = append(out, m)
		}
	}
	return out
}

func (l pendingList) Heads(wave int, orgs []string, limit int) [][]orchestrator.Member {
	out := make([][]orchestrator.Member, len(orgs))
	for i, org := range orgs {
		out[i] = l.Pending(wave, org, -1, limit)
	}
	return out
}

func (pendingList) Err() error { return nil }

// With a reader of the pending devices, the replay dispatches them in
// their real order: under a total cap of two, the organisation whose ten
// devices all come first finishes in five hours and the other in ten;
// with an order of its own, each replay mixes them and both finish late.
func TestForecastReadsDispatchOrder(t *testing.T) {
	s, err := orchestrator.ParseSpec("q.yaml", []byte("name: q\nplaybook: discover\ncaps: {total: 2}\nwaves: [{name: all}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var pending pendingList
	for i := range 20 {
		org := []string{"RFF", "RLL"}[i/10]
		pending = append(pending, orchestrator.Member{Hostname: fmt.Sprintf("pc%02d", i), Org: org, Site: "S", Order: i + 1, State: orchestrator.DevicePending})
	}
	v := orchestrator.View{Spec: s, Status: orchestrator.StatusRunning, Waves: []orchestrator.WaveState{{Status: orchestrator.WaveActive, Started: t0}},
		Counts: []orchestrator.Count{
			{Wave: 0, Org: "RLL", Site: "S", State: orchestrator.DevicePending, Devices: 10},
			{Wave: 0, Org: "RFF", Site: "S", State: orchestrator.DevicePending, Devices: 10}}}
	finish := func(v orchestrator.View) map[string]time.Time {
		t.Helper()
		f, err := forecast.Run(context.Background(), forecast.Input{View: v, Now: t0, Model: certain(time.Hour), Runs: 4, Step: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]time.Time{}
		for _, o := range f.Orgs {
			out[o.Org] = o.Finish.P50
		}
		return out
	}
	drawn := finish(v)
	v.Pending = pending
	real := finish(v)
	for org, want := range map[string]time.Duration{"RFF": 5 * time.Hour, "RLL": 10 * time.Hour} {
		if !near(real[org], t0.Add(want), 2*time.Minute) {
			t.Errorf("in the real order %s finishes %s, want %s from now", org, real[org], want)
		}
	}
	if !drawn["RFF"].After(t0.Add(6 * time.Hour)) {
		t.Errorf("in an order of its own RFF finishes %s: the test does not tell the orders apart", drawn["RFF"])
	}
}
