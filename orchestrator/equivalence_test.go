package orchestrator

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
)

// TestDecideAsTheReference runs many random campaigns (waves with counts,
// shares, selectors, concurrency, thresholds, soaks and approvals; caps
// per organisation, site and in total; windows, deadlines and start
// times) through many passes each, moving their devices at random
// between passes as workers and people would (runs that succeed, fail for
// reasons that count or not, or defer; sightings of deferred devices;
// retries, accepted failures, approvals, pauses). At every pass Decide,
// which reads counts and pending devices a page at a time, must decide
// exactly as the reference, which walks every member.
func TestDecideAsTheReference(t *testing.T) {
	runs := 400
	if testing.Short() {
		runs = 60
	}
	passes := 0
	for seed := range uint64(runs) {
		passes += equivalenceRun(t, seed)
	}
	t.Logf("%d campaigns, %d passes decided alike", runs, passes)
}

func equivalenceRun(t *testing.T, seed uint64) int {
	rng := rand.New(rand.NewPCG(seed, 42))
	pick := func(n int) bool { return rng.IntN(n) == 0 }
	orgs := []string{"RAA", "RBB", "RCC", "RDD", "REE", "RFF"}[:rng.IntN(6)+1]
	var b strings.Builder
	fmt.Fprintf(&b, "name: c%d\nplaybook: p\n", seed)
	if pick(3) {
		fmt.Fprintf(&b, "caps: {per_org: %d, per_site: %d, total: %d}\n", rng.IntN(6), rng.IntN(4), rng.IntN(15))
	}
	if pick(4) {
		fmt.Fprintf(&b, "deadline: %s\n", t0.Add(time.Duration(rng.IntN(72)+6)*time.Hour).Format(time.RFC3339))
	}
	if pick(6) {
		fmt.Fprintf(&b, "start: %s\n", t0.Add(time.Duration(rng.IntN(6))*time.Hour).Format(time.RFC3339))
	}
	if pick(3) {
		b.WriteString("windows:\n  orgs:\n")
		for _, org := range orgs {
			if pick(2) {
				fmt.Fprintf(&b, "    %s: {cron: '0 %d * * *', duration: %dh}\n", org, rng.IntN(24), rng.IntN(8)+1)
			}
		}
		if pick(2) {
			fmt.Fprintf(&b, "  default: {cron: '0 %d * * 1-5', duration: 10h}\n", rng.IntN(24))
		}
	}
	b.WriteString("waves:\n")
	nwaves := rng.IntN(4) + 1
	for w := range nwaves {
		fmt.Fprintf(&b, "  - name: w%d\n", w)
		switch rng.IntN(4) {
		case 0:
			fmt.Fprintf(&b, "    count: %d\n", rng.IntN(30)+1)
		case 1:
			fmt.Fprintf(&b, "    percent: %d\n", rng.IntN(60)+5)
		}
		if pick(4) {
			fmt.Fprintf(&b, "    selector: 'org in (%s,%s)'\n", orgs[rng.IntN(len(orgs))], orgs[rng.IntN(len(orgs))])
		}
		if pick(2) {
			fmt.Fprintf(&b, "    max_concurrency: %d\n", rng.IntN(12)+1)
		}
		if pick(2) {
			fmt.Fprintf(&b, "    max_failure_percent: %d\n", rng.IntN(40))
		}
		if pick(3) {
			fmt.Fprintf(&b, "    soak: %dm\n", rng.IntN(180)+1)
		}
		if pick(5) {
			b.WriteString("    approval: manual\n")
		}
	}
	s, err := ParseSpec("c.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("seed %d: %v\n%s", seed, err, b.String())
	}
	var ds []*inventory.Device
	for i := range rng.IntN(150) + 1 {
		org := orgs[rng.IntN(len(orgs))]
		site := fmt.Sprintf("s%d", rng.IntN(3))
		if pick(8) {
			site = ""
		}
		ds = append(ds, &inventory.Device{Hostname: fmt.Sprintf("pc%04d.%s.nhs.uk", i, strings.ToLower(org)), Org: org, Site: site})
	}
	v := View{Spec: s, Status: StatusRunning, Waves: make([]WaveState, len(s.Waves)), Members: Assign(s, ds), Calendars: map[string]Calendar{}}
	for i := range v.Waves {
		v.Waves[i].Status = WavePending
	}
	for _, org := range orgs {
		cal, err := s.Calendar(org, "Europe/London")
		if err != nil {
			t.Fatal(err)
		}
		v.Calendars[org] = cal
	}
	reasons := []Reason{"rolled_back:0xC1900101", playbooks.ReasonUnreachable, "ineligible_edition", "insufficient_disk"}
	now := t0
	passes := 0
	for pass := range 60 {
		// Nodes come and go: now and then an organisation has none.
		v.Unserved = nil
		if pick(3) {
			v.Unserved = map[string]bool{orgs[rng.IntN(len(orgs))]: true}
		}
		// The live Decide reads its own copy of the members; the reference
		// walks them.
		live := v
		live.Members = slices.Clone(v.Members)
		got := Decide(live, now)
		want := referenceDecide(v, now)
		passes++
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d pass %d at %s: Decide and the reference differ\nspec:\n%s\nDecide:    %+v\nreference: %+v",
				seed, pass, now, b.String(), got, want)
		}
		// A plan held to MaxDispatch is the full plan's first devices,
		// and says whether there were more.
		if n := len(want.Dispatch); n > 0 {
			limited := v
			limited.Members, limited.MaxDispatch = slices.Clone(v.Members), 1+rng.IntN(n+1)
			lp := Decide(limited, now)
			wantMore := n > limited.MaxDispatch
			if !slices.Equal(lp.Dispatch, want.Dispatch[:min(n, limited.MaxDispatch)]) || lp.More != wantMore ||
				!reflect.DeepEqual(lp.WaveChanges, want.WaveChanges) || lp.Done != want.Done || (wantMore && !lp.WakeAt.Equal(now)) {
				t.Fatalf("seed %d pass %d at %s: at most %d of %d devices: plan %+v\nfull plan %+v",
					seed, pass, now, limited.MaxDispatch, n, lp, want)
			}
		}
		// Apply the plan as the store would, then move devices at random.
		for _, c := range want.WaveChanges {
			v.Waves[c.Wave] = c.State
		}
		for _, h := range want.Dispatch {
			i := slices.IndexFunc(v.Members, func(m Member) bool { return m.Hostname == h })
			v.Members[i].State, v.Members[i].Changed = DeviceQueued, now
		}
		if want.Done {
			v.Status = StatusDone
			break
		}
		for i := range v.Members {
			m := &v.Members[i]
			switch {
			case m.State == DeviceQueued && pick(2):
				m.State = DeviceRunning
			case m.State == DeviceRunning && pick(2):
				switch rng.IntN(5) {
				case 0, 1:
					m.State, m.Reason = DeviceSucceeded, "completed"
				case 2:
					m.State, m.Reason = DeviceFailed, reasons[rng.IntN(len(reasons))]
				case 3:
					m.State, m.Reason = DeviceSkipped, "already_compliant"
				default:
					m.State, m.Reason, m.NextAttempt = DeviceDeferred, playbooks.ReasonUnreachable, now.Add(time.Duration(rng.IntN(120))*time.Minute)
				}
				m.Changed = now
			case m.State == DeviceDeferred && pick(10):
				m.LastSeen = now
			case m.State == DeviceFailed && pick(25): // campaign retry
				m.State, m.Reason, m.Accepted = DevicePending, "", false
			}
		}
		switch rng.IntN(12) {
		case 0: // campaign continue: accept a wave's failures
			w := rng.IntN(len(v.Waves))
			for i := range v.Members {
				if m := &v.Members[i]; m.Wave == w && m.State == DeviceFailed {
					m.Accepted = true
				}
			}
			if v.Waves[w].Status == WaveHalted {
				v.Waves[w].Status, v.Waves[w].Reason = WaveActive, ""
			}
		case 1: // campaign approve
			for i := range v.Waves {
				if v.Waves[i].Status == WaveAwaitingApproval {
					v.Waves[i].Approved = true
				}
			}
		case 2:
			if v.Status == StatusRunning {
				v.Status = StatusPaused
			} else if v.Status == StatusPaused {
				v.Status = StatusRunning
			}
		}
		now = now.Add(time.Duration(rng.IntN(90)+1) * time.Minute)
	}
	return passes
}

// countingReader counts the pending devices a pass reads.
type countingReader struct {
	PendingReader
	pages, devices int
}

func (r *countingReader) Pending(wave int, org string, after, limit int) []Member {
	ms := r.PendingReader.Pending(wave, org, after, limit)
	r.pages++
	r.devices += len(ms)
	return ms
}

// TestDecideReadsWhatItMayDispatch: a pass reads pending devices only of
// organisations that may start one, a small page first; at the wave's cap
// it reads none.
func TestDecideReadsWhatItMayDispatch(t *testing.T) {
	s := spec(t, `
name: reads
playbook: discover
waves: [{name: all, max_concurrency: 20}]
`)
	orgs := map[string]int{}
	for i := range 30 {
		orgs[fmt.Sprintf("R%02d", i)] = 200
	}
	v := view(s, members(s, orgs), StatusRunning)
	v.Waves[0].Status = WaveActive
	for i := range 17 {
		v.Members[i].State = DeviceRunning
	}
	for _, tc := range []struct {
		running, dispatch, maxPages int
	}{
		{20, 0, 0},  // at the cap: nothing read
		{17, 3, 30}, // three to start: the first page of each organisation at most
	} {
		for i := range v.Members {
			v.Members[i].State = DevicePending
			if i < tc.running {
				v.Members[i].State = DeviceRunning
			}
		}
		cv := v.counted()
		r := &countingReader{PendingReader: cv.Pending}
		cv.Pending = r
		p := Decide(cv, t0)
		if len(p.Dispatch) != tc.dispatch || r.pages > tc.maxPages || r.devices > tc.maxPages*firstPage {
			t.Errorf("%d running: dispatched %d reading %d pages, %d devices; want %d dispatched from at most %d pages",
				tc.running, len(p.Dispatch), r.pages, r.devices, tc.dispatch, tc.maxPages)
		}
	}
}
