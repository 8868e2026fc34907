package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// Campaigns runs the campaign store's conformance suite.
func Campaigns(t *testing.T, open Open) {
	t.Run("CreateAndRead", func(t *testing.T) { campaignCreateAndRead(t, open) })
	t.Run("CreateIsAtomic", func(t *testing.T) { campaignCreateIsAtomic(t, open) })
	t.Run("StatusMachine", func(t *testing.T) { campaignStatusMachine(t, open) })
	t.Run("ApplyAndDue", func(t *testing.T) { campaignApplyAndDue(t, open) })
	t.Run("Approve", func(t *testing.T) { campaignApprove(t, open) })
	t.Run("RetryReopensWaves", func(t *testing.T) { campaignRetryReopensWaves(t, open) })
	t.Run("DeviceMachine", func(t *testing.T) { campaignDeviceMachine(t, open) })
	t.Run("Devices", func(t *testing.T) { campaignDevices(t, open) })
	t.Run("Continue", func(t *testing.T) { campaignContinue(t, open) })
	t.Run("Amend", func(t *testing.T) { campaignAmend(t, open) })
	t.Run("MoveDevices", func(t *testing.T) { campaignMoveDevices(t, open) })
	t.Run("CountsAndView", func(t *testing.T) { campaignCountsAndView(t, open) })
	t.Run("TransitionsAfter", func(t *testing.T) { campaignTransitionsAfter(t, open) })
	t.Run("Forecasts", func(t *testing.T) { campaignForecasts(t, open) })
}

// A campaign's latest forecast is kept as given, a newer one replaces
// it, an older one does not, and one for no campaign is refused.
func campaignForecasts(t *testing.T, open Open) {
	clock := NewClock(time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC))
	s := open(t, clock.Now).Campaigns
	newCampaign(t, s, "fc", 4)
	if _, _, err := s.LatestForecast(ctx, "fc"); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("no forecast yet: %v, want NotFound", err)
	}
	made := clock.Now().Add(time.Hour)
	doc := []byte(`{"runs":20,"orgs":[{"org":"RXX","learned_from":"this campaign (3 runs)"}]}`)
	if err := s.PutForecast(ctx, "fc", made, doc); err != nil {
		t.Fatal(err)
	}
	at, got, err := s.LatestForecast(ctx, "fc")
	if err != nil || !at.Equal(made) || string(got) != string(doc) {
		t.Fatalf("read back %s %s %v; want %s %s", at, got, err, made, doc)
	}
	if err := s.PutForecast(ctx, "fc", made.Add(-time.Minute), []byte(`{"runs":1}`)); err != nil {
		t.Fatal(err)
	}
	if at, got, _ = s.LatestForecast(ctx, "fc"); !at.Equal(made) || string(got) != string(doc) {
		t.Errorf("an older forecast replaced the newer: %s %s", at, got)
	}
	newer := []byte(`{"runs":40}`)
	if err := s.PutForecast(ctx, "fc", made.Add(time.Minute), newer); err != nil {
		t.Fatal(err)
	}
	if at, got, _ = s.LatestForecast(ctx, "fc"); !at.Equal(made.Add(time.Minute)) || string(got) != string(newer) {
		t.Errorf("a newer forecast was not kept: %s %s", at, got)
	}
	if err := s.PutForecast(ctx, "nope", made, doc); !errors.Is(err, errkind.NotFound) {
		t.Errorf("a forecast of no campaign: %v, want NotFound", err)
	}
}

var (
	ctx   = context.Background()
	waves = []string{"pilot", "rest"}
	// approval is a person's approval, as recorded.
	approval = orchestrator.Event{Actor: "alice", Action: "approve"}
)

// newCampaign creates a campaign of n devices, the first half in wave 0,
// in organisations RXX and RYY.
func newCampaign(t *testing.T, s CampaignStore, name string, n int) []orchestrator.Member {
	t.Helper()
	ms := make([]orchestrator.Member, n)
	for i := range ms {
		org := []string{"RXX", "RYY"}[i%2]
		ms[i] = orchestrator.Member{Hostname: fmt.Sprintf("d%02d.%s.nhs.uk", i, org), Org: org, Site: fmt.Sprintf("s%d", i%3),
			Wave: i * 2 / n, Order: i}
	}
	c := orchestrator.Campaign{Name: name, SpecFile: name + ".yaml", Spec: "name: " + name, PlaybookFile: "builtin:win10-22h2", Playbook: "name: p"}
	if err := s.Create(ctx, c, waves, slices.Values(ms)); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return ms
}

func campaignCreateAndRead(t *testing.T, open Open) {
	clock := NewClock(start)
	s := open(t, clock.Now).Campaigns
	ms := newCampaign(t, s, "c1", 6)
	c, err := s.Campaign(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	want := orchestrator.Campaign{Name: "c1", SpecFile: "c1.yaml", Spec: "name: c1", PlaybookFile: "builtin:win10-22h2", Playbook: "name: p",
		Status: orchestrator.StatusDraft, Seq: c.Seq, CreatedAt: start, UpdatedAt: start}
	if c != want {
		t.Errorf("campaign = %+v\nwant %+v", c, want)
	}
	names, states, err := s.Waves(ctx, "c1")
	if err != nil || !slices.Equal(names, waves) || len(states) != 2 || states[0].Status != orchestrator.WavePending || states[1].Status != orchestrator.WavePending {
		t.Errorf("waves = %v %+v %v, want %v pending", names, states, err, waves)
	}
	got, err := s.Members(ctx, "c1")
	if err != nil || len(got) != len(ms) {
		t.Fatalf("members = %d %v, want %d", len(got), err, len(ms))
	}
	for i, m := range got {
		w := ms[i]
		if m.Hostname != w.Hostname || m.Org != w.Org || m.Site != w.Site || m.Wave != w.Wave || m.Order != w.Order ||
			m.State != orchestrator.DevicePending || m.Generation != 0 || m.Attempts != 0 || !m.Changed.Equal(start) {
			t.Errorf("member %d = %+v, want %+v pending since %s", i, m, w, start)
		}
	}
	d, err := s.Device(ctx, "c1", ms[3].Hostname)
	if err != nil || d.Hostname != ms[3].Hostname || d.Wave != 1 {
		t.Errorf("device = %+v %v", d, err)
	}
	counts, err := s.StateCounts(ctx, "c1")
	wantCounts := []orchestrator.StateCount{{Wave: 0, State: orchestrator.DevicePending, Devices: 3}, {Wave: 1, State: orchestrator.DevicePending, Devices: 3}}
	if err != nil || !slices.Equal(counts, wantCounts) {
		t.Errorf("state counts = %+v %v, want %+v", counts, err, wantCounts)
	}

	for _, tc := range []struct {
		what string
		err  error
	}{
		{"campaign", second(s.Campaign(ctx, "nope"))},
		{"device of a missing campaign", second(s.Device(ctx, "nope", ms[0].Hostname))},
		{"missing device", second(s.Device(ctx, "c1", "nope.rxx.nhs.uk"))},
		{"status of a missing campaign", second(s.ChangeStatus(ctx, "nope", orchestrator.ActionStart))},
		{"approve in a missing campaign", s.Approve(ctx, "nope", "pilot", approval)},
		{"begin a missing device", second(s.Begin(ctx, "c1", "nope.rxx.nhs.uk", 1, start, time.Minute))},
		{"redispatch a missing device", second(s.Redispatch(ctx, "c1", "nope.rxx.nhs.uk", 1, "test", nil))},
	} {
		if !errors.Is(tc.err, errkind.NotFound) {
			t.Errorf("%s: %v, want an error wrapping errkind.NotFound", tc.what, tc.err)
		}
	}
	if err := s.Create(ctx, orchestrator.Campaign{Name: "c1"}, waves, nil); !errors.Is(err, errkind.Exists) {
		t.Errorf("create c1 again: %v, want an error wrapping errkind.Exists", err)
	}

	// Campaigns lists oldest first, whatever the names.
	clock.Advance(time.Minute)
	newCampaign(t, s, "a-later", 2)
	clock.Advance(time.Minute)
	newCampaign(t, s, "b-latest", 2)
	all, err := s.Campaigns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, c := range all {
		order = append(order, c.Name)
	}
	if !slices.Equal(order, []string{"c1", "a-later", "b-latest"}) {
		t.Errorf("campaigns in order %v, want oldest first", order)
	}
}

// campaignCreateIsAtomic: a create that fails part way (a member named
// twice) leaves nothing behind, and the name stays free.
func campaignCreateIsAtomic(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Campaigns
	// Many members, the second of a hostname far from the first: a store
	// that writes in batches must still undo every one.
	var ms []orchestrator.Member
	for i := range 1000 {
		ms = append(ms, orchestrator.Member{Hostname: fmt.Sprintf("d%04d.rxx.nhs.uk", i), Org: "RXX", Order: i})
	}
	ms[900].Hostname = ms[3].Hostname
	if err := s.Create(ctx, orchestrator.Campaign{Name: "dup"}, waves, slices.Values(ms)); err == nil {
		t.Fatal("create with a member named twice: no error")
	}
	if _, err := s.Campaign(ctx, "dup"); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("after a failed create the campaign reads %v, want errkind.NotFound", err)
	}
	if all, err := s.Campaigns(ctx); err != nil || len(all) != 0 {
		t.Fatalf("after a failed create: %d campaigns %v", len(all), err)
	}
	newCampaign(t, s, "dup", 2)

	// A campaign of any size reads back whole, in dispatch order.
	big := newCampaign(t, s, "big", 1001)
	got, err := s.Members(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(big) {
		t.Fatalf("created %d members, read back %d", len(big), len(got))
	}
	for i, d := range got {
		if m := big[i]; d.Hostname != m.Hostname || d.Org != m.Org || d.Site != m.Site || d.Wave != m.Wave || d.Order != m.Order ||
			d.State != orchestrator.DevicePending {
			t.Fatalf("member %d reads back %+v, created %+v (pending)", i, d.Member, m)
		}
	}
}

// campaignStatusMachine drives a campaign into every status and applies
// every action there: the store must allow exactly what the domain's
// status machine allows, ending where it says, and refuse the rest with
// ErrState, changing nothing.
func campaignStatusMachine(t *testing.T, open Open) {
	paths := map[orchestrator.Status][]orchestrator.Action{
		orchestrator.StatusDraft:     nil,
		orchestrator.StatusRunning:   {orchestrator.ActionStart},
		orchestrator.StatusPaused:    {orchestrator.ActionStart, orchestrator.ActionPause},
		orchestrator.StatusCancelled: {orchestrator.ActionCancel},
		orchestrator.StatusDone:      {orchestrator.ActionStart, orchestrator.ActionComplete},
	}
	for _, from := range orchestrator.Statuses {
		for _, change := range orchestrator.StatusChanges() {
			a := change.Action
			if a == orchestrator.ActionComplete || a == orchestrator.ActionRetry || a == orchestrator.ActionInclude {
				continue // not a person's status command: Apply's Done, Retry and include, tested with them
			}
			t.Run(fmt.Sprintf("%s/%s", from, a), func(t *testing.T) {
				s := open(t, NewClock(start).Now).Campaigns
				newCampaign(t, s, "c", 2)
				for _, step := range paths[from] {
					if step == orchestrator.ActionComplete {
						c, _ := s.Campaign(ctx, "c")
						if _, err := s.Apply(ctx, "c", c.Seq, orchestrator.Plan{Done: true}, start, "test", nil); err != nil {
							t.Fatal(err)
						}
						continue
					}
					if _, err := s.ChangeStatus(ctx, "c", step); err != nil {
						t.Fatalf("%s on the way to %s: %v", step, from, err)
					}
				}
				if c, _ := s.Campaign(ctx, "c"); c.Status != from {
					t.Fatalf("set up %s, got %s", from, c.Status)
				}
				want, wantErr := from.Apply(a)
				got, err := s.ChangeStatus(ctx, "c", a)
				if wantErr != nil {
					if !errors.Is(err, orchestrator.ErrState) {
						t.Fatalf("%s a %s campaign: %v, want ErrState", a, from, err)
					}
					if c, _ := s.Campaign(ctx, "c"); c.Status != from {
						t.Fatalf("a refused %s moved the campaign to %s", a, c.Status)
					}
					return
				}
				if err != nil || got != want {
					t.Fatalf("%s a %s campaign: %s %v, want %s", a, from, got, err, want)
				}
				if c, _ := s.Campaign(ctx, "c"); c.Status != want {
					t.Fatalf("stored status %s, want %s", c.Status, want)
				}
			})
		}
	}
}

// campaignApplyAndDue: what makes a campaign due, a plan's effects, a
// decision on a stale view, and an enqueue failure rolling a plan back.
func campaignApplyAndDue(t *testing.T, open Open) {
	clock := NewClock(start)
	s := open(t, clock.Now).Campaigns
	ms := newCampaign(t, s, "c", 4)
	due := func(now, wall time.Time) []string {
		t.Helper()
		d, err := s.Due(ctx, now, wall)
		if err != nil {
			t.Fatalf("due: %v", err)
		}
		return d
	}
	if d := due(start, start); len(d) != 0 {
		t.Fatalf("a draft is due: %v", d)
	}
	if _, err := s.ChangeStatus(ctx, "c", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	if d := due(start, start); !slices.Equal(d, []string{"c"}) {
		t.Fatalf("due after start = %v, want [c]", d)
	}
	c, _ := s.Campaign(ctx, "c")
	var enqueued []orchestrator.Dispatch
	plan := orchestrator.Plan{
		Dispatch:    []string{ms[0].Hostname, ms[0].Hostname, ms[1].Hostname},
		WakeAt:      start.Add(time.Hour),
		WaveChanges: []orchestrator.WaveChange{{Wave: 0, State: orchestrator.WaveState{Status: orchestrator.WaveActive, Started: start}}},
	}
	ds, err := s.Apply(ctx, "c", c.Seq, plan, start, "controller", func(_ context.Context, tx orchestrator.Tx, ds []orchestrator.Dispatch) error {
		if tx == nil {
			return errors.New("enqueue called without the store's transaction")
		}
		enqueued = slices.Clone(ds)
		return nil
	})
	wantDs := []orchestrator.Dispatch{{Campaign: "c", Hostname: ms[0].Hostname, Org: ms[0].Org, Generation: 1}, {Campaign: "c", Hostname: ms[1].Hostname, Org: ms[1].Org, Generation: 1}}
	if err != nil || !slices.Equal(ds, wantDs) || !slices.Equal(enqueued, wantDs) {
		t.Fatalf("apply = %+v %v (enqueued %+v), want each device dispatched once: %+v", ds, err, enqueued, wantDs)
	}
	_, st, _ := s.Waves(ctx, "c")
	if st[0].Status != orchestrator.WaveActive || !st[0].Started.Equal(start) || st[1].Status != orchestrator.WavePending {
		t.Fatalf("waves after apply = %+v", st)
	}
	if c2, _ := s.Campaign(ctx, "c"); !c2.WakeAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("wake at %s, want %s", c2.WakeAt, start.Add(time.Hour))
	}
	if d := due(start, start); len(d) != 0 {
		t.Fatalf("due right after a decision = %v, want none until the wake-up", d)
	}
	if d := due(start.Add(time.Hour), start); !slices.Equal(d, []string{"c"}) {
		t.Fatalf("due at the wake-up = %v", d)
	}

	// A change after the view was read (here a pause and resume) keeps the
	// campaign due after a decision on the older view.
	c, _ = s.Campaign(ctx, "c")
	if _, err := s.ChangeStatus(ctx, "c", orchestrator.ActionPause); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangeStatus(ctx, "c", orchestrator.ActionResume); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, "c", c.Seq, orchestrator.Plan{WakeAt: start.Add(time.Hour)}, start, "controller", nil); err != nil {
		t.Fatal(err)
	}
	if d := due(start, start); !slices.Equal(d, []string{"c"}) {
		t.Fatalf("due after a decision on a stale view = %v, want [c] again", d)
	}
	// A done plan on a stale view does not complete the campaign.
	if _, err := s.Apply(ctx, "c", c.Seq, orchestrator.Plan{Done: true}, start, "controller", nil); err != nil {
		t.Fatal(err)
	}
	if c2, _ := s.Campaign(ctx, "c"); c2.Status != orchestrator.StatusRunning {
		t.Fatalf("a done plan on a stale view left the campaign %s, want running", c2.Status)
	}

	// An enqueue that fails rolls the whole plan back: no device queued,
	// no wave changed, no wake-up moved, the campaign still due.
	c, _ = s.Campaign(ctx, "c")
	boom := errors.New("boom")
	_, err = s.Apply(ctx, "c", c.Seq, orchestrator.Plan{Dispatch: []string{ms[2].Hostname}, WakeAt: start.Add(9 * time.Hour),
		WaveChanges: []orchestrator.WaveChange{{Wave: 1, State: orchestrator.WaveState{Status: orchestrator.WaveActive, Started: start}}}},
		start, "controller", func(context.Context, orchestrator.Tx, []orchestrator.Dispatch) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("apply with a failing enqueue: %v, want boom", err)
	}
	if d, _ := s.Device(ctx, "c", ms[2].Hostname); d.State != orchestrator.DevicePending || d.Generation != 0 {
		t.Fatalf("after a failed apply the device is %s generation %d, want pending 0", d.State, d.Generation)
	}
	if _, st, _ := s.Waves(ctx, "c"); st[1].Status != orchestrator.WavePending {
		t.Fatalf("after a failed apply wave 1 is %s", st[1].Status)
	}
	if tr, _ := s.Transitions(ctx, "c", ms[2].Hostname); len(tr) != 0 {
		t.Fatalf("after a failed apply the device has transitions %+v", tr)
	}
	if d := due(start, start); !slices.Equal(d, []string{"c"}) {
		t.Fatalf("due after a failed apply = %v, want [c]", d)
	}

	// A done plan on the current view completes the campaign, which is
	// then never due.
	c, _ = s.Campaign(ctx, "c")
	if _, err := s.Apply(ctx, "c", c.Seq, orchestrator.Plan{Done: true}, start, "controller", nil); err != nil {
		t.Fatal(err)
	}
	if c2, _ := s.Campaign(ctx, "c"); c2.Status != orchestrator.StatusDone {
		t.Fatalf("after a done plan the campaign is %s", c2.Status)
	}
	if d := due(start.Add(24*time.Hour), start.Add(24*time.Hour)); len(d) != 0 {
		t.Fatalf("a done campaign is due: %v", d)
	}
}

func campaignApprove(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Campaigns
	newCampaign(t, s, "c", 2)
	if _, err := s.ChangeStatus(ctx, "c", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Campaign(ctx, "c")
	if _, err := s.Apply(ctx, "c", c.Seq, orchestrator.Plan{WakeAt: start.Add(time.Hour)}, start, "controller", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Approve(ctx, "c", "rest", approval); err != nil {
		t.Fatal(err)
	}
	_, st, _ := s.Waves(ctx, "c")
	if st[0].Approved || !st[1].Approved {
		t.Fatalf("approved %v %v, want only rest", st[0].Approved, st[1].Approved)
	}
	if d, _ := s.Due(ctx, start, start); !slices.Equal(d, []string{"c"}) {
		t.Fatalf("due after an approval = %v, want [c]: the controller must look again", d)
	}
	if err := s.Approve(ctx, "c", "nope", approval); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("approve a missing wave: %v, want errkind.NotFound", err)
	}
}

// campaignRetryReopensWaves: retry --failed makes failed devices (of one
// reason, or all) pending, reopens the halted or done waves they are in,
// leaves others alone, and runs a done campaign again.
func campaignRetryReopensWaves(t *testing.T, open Open) {
	clock := NewClock(start)
	s := open(t, clock.Now).Campaigns
	ms := newCampaign(t, s, "c", 4)
	if _, err := s.ChangeStatus(ctx, "c", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Campaign(ctx, "c")
	hosts := []string{ms[0].Hostname, ms[1].Hostname, ms[2].Hostname}
	if _, err := s.Apply(ctx, "c", c.Seq, orchestrator.Plan{Dispatch: hosts}, start, "controller", nil); err != nil {
		t.Fatal(err)
	}
	reasons := []orchestrator.Reason{"rolled_back:0xC1900101", "insufficient_disk", "rolled_back:0xC1900101"}
	for i, h := range hosts {
		if _, err := s.Begin(ctx, "c", h, 1, start, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.Heartbeat(ctx, "c", h, 1, start.Add(time.Minute), "upgrade", []byte(`{"Next":2}`)); err != nil {
			t.Fatal(err)
		}
		if err := s.Finish(ctx, "c", h, 1, orchestrator.DeviceFailed, reasons[i], "failed", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	c, _ = s.Campaign(ctx, "c")
	halted := orchestrator.WaveState{Status: orchestrator.WaveHalted, Started: start, Reason: "2 of 2 failed"}
	if _, err := s.Apply(ctx, "c", c.Seq, orchestrator.Plan{WaveChanges: []orchestrator.WaveChange{
		{Wave: 0, State: halted}, {Wave: 1, State: orchestrator.WaveState{Status: orchestrator.WaveAwaitingApproval}}}}, start, "controller", nil); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Retry(ctx, "c", orchestrator.DeviceFilter{Reason: "no_such_reason"}); err != nil || n != 0 {
		t.Fatalf("retry of a reason no device has: %d %v", n, err)
	}
	if _, st, _ := s.Waves(ctx, "c"); st[0].Status != orchestrator.WaveHalted {
		t.Fatalf("a retry that reopened nothing changed wave 0 to %s", st[0].Status)
	}
	clock.Advance(time.Minute)
	n, err := s.Retry(ctx, "c", orchestrator.DeviceFilter{Reason: "rolled_back:0xC1900101"})
	if err != nil || n != 2 {
		t.Fatalf("retry rolled_back = %d %v, want 2", n, err)
	}
	for i, h := range hosts {
		d, _ := s.Device(ctx, "c", h)
		wantState := orchestrator.DevicePending
		if i == 1 {
			wantState = orchestrator.DeviceFailed
		}
		if d.State != wantState {
			t.Errorf("%s after retry is %s, want %s", h, d.State, wantState)
		}
		if wantState == orchestrator.DevicePending && (d.Reason != "" || d.Checkpoint != nil || !d.Changed.Equal(clock.Now())) {
			t.Errorf("%s after retry = %+v, want no reason, no checkpoint, changed now", h, d)
		}
	}
	_, st, _ := s.Waves(ctx, "c")
	if st[0].Status != orchestrator.WaveActive || st[0].Reason != "" {
		t.Errorf("halted wave 0 after retry = %+v, want active with no reason", st[0])
	}
	if st[1].Status != orchestrator.WaveAwaitingApproval {
		t.Errorf("wave 1, awaiting approval, after retry = %s: retry reopens halted or done waves only", st[1].Status)
	}

	// A done campaign runs again when a retry reopens a device.
	c, _ = s.Campaign(ctx, "c")
	if _, err := s.Apply(ctx, "c", c.Seq, orchestrator.Plan{Done: true}, start, "controller", nil); err != nil {
		t.Fatal(err)
	}
	if c, _ = s.Campaign(ctx, "c"); c.Status != orchestrator.StatusDone {
		t.Fatalf("campaign %s, want done", c.Status)
	}
	if n, err := s.Retry(ctx, "c", orchestrator.DeviceFilter{}); err != nil || n != 1 {
		t.Fatalf("retry every failure = %d %v, want 1", n, err)
	}
	if c, _ = s.Campaign(ctx, "c"); c.Status != orchestrator.StatusRunning {
		t.Fatalf("a done campaign after a retry is %s, want running", c.Status)
	}
}

// model is what a device's record must be, kept by the domain's device
// machine alone.
type model struct {
	state      orchestrator.DeviceState
	gen        int
	attempts   int
	lease      time.Time // zero when not running
	checkpoint []byte
	reason     orchestrator.Reason
	runID      string // "" until a worker begins; cleared by retry
	retiredRun string // the run id a retry cleared: the next run is a new one
	moves      int    // transitions recorded
}

// campaignDeviceMachine runs random sequences of the scheduler's calls
// (dispatch, begin, heartbeat, finish, orphans, redispatch, retry) against
// the store and against a model built from orchestrator.DeviceMoves, and
// compares every device after every call: state, generation, attempts,
// reason, checkpoint, lease, run id, transitions and errors.
func campaignDeviceMachine(t *testing.T, open Open) {
	const seeds, steps, devices = 8, 400, 4
	for seed := uint64(1); seed <= seeds; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			clock := NewClock(start)
			s := open(t, clock.Now).Campaigns
			ms := newCampaign(t, s, "c", devices)
			if _, err := s.ChangeStatus(ctx, "c", orchestrator.ActionStart); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(seed, 99))
			m := map[string]*model{}
			orgOf := map[string]string{}
			for _, x := range ms {
				m[x.Hostname] = &model{state: orchestrator.DevicePending}
				orgOf[x.Hostname] = x.Org
			}
			wall := start
			const lease = 2 * time.Minute
			var log []string
			fail := func(format string, args ...any) {
				t.Helper()
				t.Fatalf("seed %d after %d calls, the last %v: %s", seed, len(log), log[max(0, len(log)-12):], fmt.Sprintf(format, args...))
			}
			for step := 0; step < steps; step++ {
				clock.Advance(time.Second)
				wall = wall.Add(time.Duration(r.IntN(90)) * time.Second)
				h := ms[r.IntN(len(ms))].Hostname
				d := m[h]
				// A job's generation: mostly the current one, sometimes stale.
				gen := d.gen
				if r.IntN(5) == 0 {
					gen = max(0, d.gen-1)
				}
				switch op := r.IntN(9); op {
				case 0: // dispatch
					log = append(log, "dispatch "+h)
					c, _ := s.Campaign(ctx, "c")
					ds, err := s.Apply(ctx, "c", c.Seq, orchestrator.Plan{Dispatch: []string{h}}, clock.Now(), "controller", nil)
					if err != nil {
						fail("apply: %v", err)
					}
					if orchestrator.EventDispatch.Allows(d.state, orchestrator.DeviceQueued) {
						d.state, d.gen, d.lease, d.reason = orchestrator.DeviceQueued, d.gen+1, time.Time{}, ""
						d.moves++
						if len(ds) != 1 || ds[0].Generation != d.gen || ds[0].Org != orgOf[h] {
							fail("dispatch returned %+v, want generation %d of organisation %s", ds, d.gen, orgOf[h])
						}
					} else if len(ds) != 0 {
						fail("dispatch of a %s device took: %+v", d.state, ds)
					}
				case 1: // begin
					log = append(log, fmt.Sprintf("begin %s g%d", h, gen))
					run, err := s.Begin(ctx, "c", h, gen, wall, lease)
					switch {
					case gen != d.gen:
						if !errors.Is(err, orchestrator.ErrStale) {
							fail("begin with generation %d of %d: %v, want ErrStale", gen, d.gen, err)
						}
					case d.state == orchestrator.DeviceRunning && d.lease.After(wall):
						if !errors.Is(err, orchestrator.ErrState) {
							fail("begin while leased: %v, want ErrState", err)
						}
					case !orchestrator.EventBegin.Allows(d.state, orchestrator.DeviceRunning):
						if !errors.Is(err, orchestrator.ErrStale) {
							fail("begin a %s device: %v, want ErrStale", d.state, err)
						}
					default:
						if err != nil {
							fail("begin: %v", err)
						}
						d.attempts++
						if run.Attempt != d.attempts || !slices.Equal(run.Checkpoint, d.checkpoint) || run.RunID == "" {
							fail("begin = %+v, want attempt %d checkpoint %q", run, d.attempts, d.checkpoint)
						}
						if d.runID != "" && run.RunID != d.runID {
							fail("run id %q changed to %q without a retry", d.runID, run.RunID)
						}
						if d.runID == "" && run.RunID == d.retiredRun {
							fail("run id %q kept after a retry, want a new run", run.RunID)
						}
						d.state, d.lease, d.runID = orchestrator.DeviceRunning, wall.Add(lease), run.RunID
						d.moves++
					}
				case 2: // heartbeat
					cp := []byte(fmt.Sprintf(`{"Next":%d}`, step))
					if r.IntN(3) == 0 {
						cp = nil
					}
					log = append(log, fmt.Sprintf("heartbeat %s g%d", h, gen))
					err := s.Heartbeat(ctx, "c", h, gen, wall.Add(lease), "step", cp)
					if gen == d.gen && d.state == orchestrator.DeviceRunning {
						if err != nil {
							fail("heartbeat: %v", err)
						}
						d.lease = wall.Add(lease)
						if cp != nil {
							d.checkpoint = cp
						}
					} else if !errors.Is(err, orchestrator.ErrStale) {
						fail("heartbeat of a %s device (generation %d of %d): %v, want ErrStale", d.state, gen, d.gen, err)
					}
				case 3: // finish
					to := []orchestrator.DeviceState{orchestrator.DeviceSucceeded, orchestrator.DeviceFailed, orchestrator.DeviceSkipped,
						orchestrator.DeviceDeferred}[r.IntN(4)]
					reason := orchestrator.Reason([]string{"completed", "rolled_back:0xC1900101", "already_compliant", "unreachable"}[r.IntN(4)])
					log = append(log, fmt.Sprintf("finish %s g%d %s", h, gen, to))
					err := s.Finish(ctx, "c", h, gen, to, reason, "message", wall.Add(time.Hour))
					if gen == d.gen && orchestrator.EventFinish.Allows(d.state, to) {
						if err != nil {
							fail("finish: %v", err)
						}
						d.state, d.reason, d.lease = to, reason, time.Time{}
						if to != orchestrator.DeviceDeferred {
							d.checkpoint = nil
						}
						d.moves++
					} else if !errors.Is(err, orchestrator.ErrStale) {
						fail("finish a %s device as %s (generation %d of %d): %v, want ErrStale", d.state, to, gen, d.gen, err)
					}
				case 4: // orphans
					log = append(log, "orphans")
					ds, err := s.Orphans(ctx, "c", wall, nil)
					if err != nil {
						fail("orphans: %v", err)
					}
					var want []orchestrator.Dispatch
					for host, x := range m {
						if x.state == orchestrator.DeviceRunning && x.lease.Before(wall) {
							x.state, x.gen, x.lease = orchestrator.DeviceQueued, x.gen+1, time.Time{}
							x.moves++
							want = append(want, orchestrator.Dispatch{Campaign: "c", Hostname: host, Org: orgOf[host], Generation: x.gen})
						}
					}
					byHost := func(a, b orchestrator.Dispatch) int { return cmpString(a.Hostname, b.Hostname) }
					slices.SortFunc(ds, byHost)
					slices.SortFunc(want, byHost)
					if !slices.Equal(ds, want) {
						fail("orphans = %+v, want %+v", ds, want)
					}
				case 5: // redispatch
					log = append(log, fmt.Sprintf("redispatch %s g%d", h, gen))
					var enqueued []orchestrator.Dispatch
					moved, err := s.Redispatch(ctx, "c", h, gen, "test", func(_ context.Context, _ orchestrator.Tx, ds []orchestrator.Dispatch) error {
						enqueued = append(enqueued, ds...)
						return nil
					})
					if err != nil {
						fail("redispatch: %v", err)
					}
					want := d.state == orchestrator.DeviceQueued && gen == d.gen
					if moved != want {
						fail("redispatch of a %s device (generation %d of %d) = %v, want %v", d.state, gen, d.gen, moved, want)
					}
					if want {
						d.gen++
						d.moves++
						if w := (orchestrator.Dispatch{Campaign: "c", Hostname: h, Org: orgOf[h], Generation: d.gen}); !slices.Equal(enqueued, []orchestrator.Dispatch{w}) {
							fail("redispatch enqueued %+v, want %+v", enqueued, w)
						}
					}
				case 6: // retry
					log = append(log, "retry")
					n, err := s.Retry(ctx, "c", orchestrator.DeviceFilter{})
					if err != nil {
						fail("retry: %v", err)
					}
					want := 0
					for _, x := range m {
						if x.state == orchestrator.DeviceFailed {
							x.state, x.reason, x.checkpoint, x.runID, x.retiredRun = orchestrator.DevicePending, "", nil, "", x.runID
							x.moves++
							want++
						}
					}
					if n != want {
						fail("retry reopened %d, want %d", n, want)
					}
				case 7, 8: // a person excludes or includes the device
					e := []orchestrator.DeviceEvent{orchestrator.EventExclude, orchestrator.EventInclude}[op-7]
					rule, _ := orchestrator.MoveFor(e)
					log = append(log, fmt.Sprintf("%s %s", e, h))
					ch, err := s.MoveDevices(ctx, "c", e, []string{h}, orchestrator.Event{Actor: "alice", Action: string(e)})
					if err != nil {
						fail("%s: %v", e, err)
					}
					if rule.Moves(d.state, d.reason) {
						if !slices.Equal(ch.Moved, []string{h}) || len(ch.Unmoved) != 0 {
							fail("%s of a %s device (%s) = %+v, want it moved", e, d.state, d.reason, ch)
						}
						d.state, d.reason, d.checkpoint, d.lease = rule.To[0], rule.Reason, nil, time.Time{}
						d.runID, d.retiredRun = "", d.runID
						d.moves++
					} else if len(ch.Moved) != 0 || len(ch.Unmoved) != 1 || ch.Unmoved[0].State != d.state {
						fail("%s of a %s device (%s) = %+v, want it left as it is", e, d.state, d.reason, ch)
					}
				}
				for host, x := range m {
					got, err := s.Device(ctx, "c", host)
					if err != nil {
						fail("device %s: %v", host, err)
					}
					if got.State != x.state || got.Generation != x.gen || got.Attempts != x.attempts || got.Reason != x.reason ||
						!slices.Equal(got.Checkpoint, x.checkpoint) || !got.LeaseUntil.Equal(x.lease) {
						fail("%s = state %s gen %d attempts %d reason %q checkpoint %q lease %s\nwant state %s gen %d attempts %d reason %q checkpoint %q lease %s",
							host, got.State, got.Generation, got.Attempts, got.Reason, got.Checkpoint, got.LeaseUntil,
							x.state, x.gen, x.attempts, x.reason, x.checkpoint, x.lease)
					}
				}
			}
			// Every move was recorded, each continuing from where the last
			// one left the device, and the counts agree with the members.
			counts := map[orchestrator.DeviceState]int{}
			for host, x := range m {
				tr, err := s.Transitions(ctx, "c", host)
				if err != nil || len(tr) != x.moves {
					t.Fatalf("seed %d: %s has %d transitions %v, want %d", seed, host, len(tr), err, x.moves)
				}
				from := orchestrator.DevicePending
				for i, x := range tr {
					if x.From != from || x.Hostname != host || x.Cause == "" || x.At.IsZero() {
						t.Fatalf("seed %d: %s transition %d = %+v, want from %s", seed, host, i, x, from)
					}
					from = x.To
				}
				if from != x.state {
					t.Fatalf("seed %d: %s transitions end at %s, device is %s", seed, host, from, x.state)
				}
				counts[x.state]++
			}
			sc, err := s.StateCounts(ctx, "c")
			if err != nil {
				t.Fatal(err)
			}
			got := map[orchestrator.DeviceState]int{}
			for _, c := range sc {
				got[c.State] += c.Devices
			}
			if fmt.Sprint(sortedCounts(got)) != fmt.Sprint(sortedCounts(counts)) {
				t.Fatalf("seed %d: state counts %v, want %v", seed, got, counts)
			}
		})
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sortedCounts(m map[orchestrator.DeviceState]int) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(out)
	return out
}

// finishAs dispatches, begins and finishes the named devices in state to
// with reason, generation 1 (they must be pending).
func finishAs(t *testing.T, s CampaignStore, name string, hosts []string, to orchestrator.DeviceState, reason orchestrator.Reason) {
	t.Helper()
	c, err := s.Campaign(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, name, c.Seq, orchestrator.Plan{Dispatch: hosts}, start, "controller", nil); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		d, _ := s.Device(ctx, name, h)
		if _, err := s.Begin(ctx, name, h, d.Generation, start, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.Finish(ctx, name, h, d.Generation, to, reason, "", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
}

// campaignDevices: every filter and page size gives, page after page,
// exactly the members the filter selects, in dispatch order.
func campaignDevices(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Campaigns
	ms := newCampaign(t, s, "c", 12)
	if _, err := s.ChangeStatus(ctx, "c", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	finishAs(t, s, "c", []string{ms[0].Hostname, ms[1].Hostname, ms[3].Hostname}, orchestrator.DeviceFailed, "insufficient_disk")
	finishAs(t, s, "c", []string{ms[2].Hostname}, orchestrator.DeviceFailed, "rolled_back:0xC1900101")
	finishAs(t, s, "c", []string{ms[4].Hostname, ms[7].Hostname}, orchestrator.DeviceSucceeded, "completed")
	all, err := s.Members(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []orchestrator.DeviceFilter{
		{},
		{State: orchestrator.DeviceFailed},
		{State: orchestrator.DeviceFailed, Reason: "insufficient_disk"},
		{Wave: "pilot", Org: "RXX"},
		{Wave: "rest", State: orchestrator.DevicePending},
		{Org: "RYY", State: orchestrator.DeviceSucceeded},
		{Wave: "nope"},
		{State: orchestrator.DeviceRunning},
	} {
		var want []string
		for _, m := range all {
			if (f.Wave == "" || waves[m.Wave] == f.Wave) && (f.Org == "" || m.Org == f.Org) && (f.State == "" || m.State == f.State) &&
				(f.Reason == "" || m.Reason == f.Reason) {
				want = append(want, m.Hostname)
			}
		}
		for _, limit := range []int{1, 2, 5, 100} {
			var got []string
			after := -1
			for pages := 0; ; pages++ {
				page, err := s.Devices(ctx, "c", f, after, limit)
				if err != nil {
					t.Fatalf("%+v: %v", f, err)
				}
				if len(page) > limit || pages > len(all) {
					t.Fatalf("%+v limit %d: a page of %d", f, limit, len(page))
				}
				for _, d := range page {
					got = append(got, d.Hostname)
				}
				if len(page) < limit {
					break
				}
				after = page[len(page)-1].Order
			}
			if !slices.Equal(got, want) {
				t.Errorf("devices %+v in pages of %d = %v, want %v", f, limit, got, want)
			}
		}
	}
	if orgs, err := s.Orgs(ctx, "c"); err != nil || !slices.Equal(orgs, []string{"RXX", "RYY"}) {
		t.Errorf("orgs = %v %v", orgs, err)
	}
}

// campaignContinue: continue accepts a wave's failures (or one
// organisation's), makes a halted wave active, records who and why, and
// refuses a wave with nothing to continue; a retry clears acceptance.
func campaignContinue(t *testing.T, open Open) {
	clock := NewClock(start)
	s := open(t, clock.Now).Campaigns
	ms := newCampaign(t, s, "c", 8) // pilot: d00..d03
	who := orchestrator.Event{Actor: "alice", Action: "continue", Reason: "known disk issue"}
	if _, err := s.Continue(ctx, "c", "pilot", "", who); !errors.Is(err, orchestrator.ErrState) {
		t.Fatalf("continue a draft: %v, want ErrState", err)
	}
	if _, err := s.ChangeStatus(ctx, "c", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Continue(ctx, "c", "pilot", "", who); !errors.Is(err, orchestrator.ErrState) {
		t.Fatalf("continue a pending wave: %v, want ErrState", err)
	}
	if _, err := s.Continue(ctx, "c", "nope", "", who); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("continue a missing wave: %v, want NotFound", err)
	}
	if _, err := s.Continue(ctx, "nope", "pilot", "", who); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("continue a missing campaign: %v, want NotFound", err)
	}
	finishAs(t, s, "c", []string{ms[0].Hostname, ms[1].Hostname, ms[2].Hostname}, orchestrator.DeviceFailed, "insufficient_disk")
	c, _ := s.Campaign(ctx, "c")
	halted := orchestrator.WaveState{Status: orchestrator.WaveHalted, Started: start, Reason: "3 of 4 devices failed"}
	if _, err := s.Apply(ctx, "c", c.Seq, orchestrator.Plan{WakeAt: start.Add(time.Hour),
		WaveChanges: []orchestrator.WaveChange{{Wave: 0, State: halted}}}, start, "controller", nil); err != nil {
		t.Fatal(err)
	}
	// One organisation first: only its failures are accepted; the wave
	// goes on (the controller halts it again if the rest still pass).
	n, err := s.Continue(ctx, "c", "pilot", "RYY", who)
	if err != nil || n != 1 {
		t.Fatalf("continue RYY = %d %v, want 1", n, err)
	}
	if _, st, _ := s.Waves(ctx, "c"); st[0].Status != orchestrator.WaveActive || st[0].Reason != "" {
		t.Fatalf("wave after continue = %+v, want active", st[0])
	}
	if d, _ := s.Due(ctx, start, start); !slices.Equal(d, []string{"c"}) {
		t.Fatalf("due after continue = %v, want [c]", d)
	}
	if _, err := s.Continue(ctx, "c", "pilot", "RYY", who); !errors.Is(err, orchestrator.ErrState) {
		t.Fatalf("continue with nothing left to accept: %v, want ErrState", err)
	}
	if n, err := s.Continue(ctx, "c", "pilot", "", who); err != nil || n != 2 {
		t.Fatalf("continue the wave = %d %v, want 2", n, err)
	}
	for i, want := range []bool{true, true, true, false} {
		if d, _ := s.Device(ctx, "c", ms[i].Hostname); d.Accepted != want {
			t.Errorf("%s accepted = %v, want %v", ms[i].Hostname, d.Accepted, want)
		}
	}
	evs, err := s.Events(ctx, "c")
	if err != nil || len(evs) != 2 || evs[0].Actor != "alice" || evs[0].Action != "continue" || evs[0].Wave != "pilot" || evs[0].Org != "RYY" ||
		evs[0].Reason != "known disk issue" || evs[0].Detail != "accepted 1 failures" || !evs[0].At.Equal(start) || evs[1].Org != "" {
		t.Fatalf("events = %+v %v", evs, err)
	}
	if n, err := s.Retry(ctx, "c", orchestrator.DeviceFilter{Org: "RXX"}); err != nil || n != 2 {
		t.Fatalf("retry RXX = %d %v, want 2", n, err)
	}
	if d, _ := s.Device(ctx, "c", ms[0].Hostname); d.Accepted || d.State != orchestrator.DevicePending {
		t.Errorf("after a retry %s = %s accepted %v, want pending, not accepted", d.Hostname, d.State, d.Accepted)
	}
	if d, _ := s.Device(ctx, "c", ms[1].Hostname); !d.Accepted || d.State != orchestrator.DeviceFailed {
		t.Errorf("retry RXX touched %s (RYY): %s accepted %v", d.Hostname, d.State, d.Accepted)
	}
}

// campaignAmend: set replaces the spec of a campaign not over, only if it
// is still the one the change was made on, recording the decision.
func campaignAmend(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Campaigns
	newCampaign(t, s, "c", 2)
	ev := orchestrator.Event{Actor: "bob", Action: "set", Detail: "--max-failure-percent rest=20"}
	if err := s.Amend(ctx, "c", "name: c", "name: c\n# amended", ev); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Campaign(ctx, "c"); c.Spec != "name: c\n# amended" {
		t.Fatalf("spec after amend = %q", c.Spec)
	}
	if err := s.Amend(ctx, "c", "name: c", "name: c\n# again", ev); !errors.Is(err, orchestrator.ErrState) {
		t.Fatalf("amend from a spec changed meanwhile: %v, want ErrState", err)
	}
	if err := s.Amend(ctx, "nope", "", "", ev); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("amend a missing campaign: %v, want NotFound", err)
	}
	if _, err := s.ChangeStatus(ctx, "c", orchestrator.ActionCancel); err != nil {
		t.Fatal(err)
	}
	if err := s.Amend(ctx, "c", "name: c\n# amended", "name: c", ev); !errors.Is(err, orchestrator.ErrState) {
		t.Fatalf("amend a cancelled campaign: %v, want ErrState", err)
	}
	if evs, err := s.Events(ctx, "c"); err != nil || len(evs) != 1 || evs[0] != (orchestrator.Event{ID: evs[0].ID, Campaign: "c", At: start,
		Actor: "bob", Action: "set", Detail: "--max-failure-percent rest=20"}) {
		t.Fatalf("events = %+v %v", evs, err)
	}
}

// campaignMoveDevices: exclude and include report what they left and
// what the campaign does not hold; include reopens a done wave and
// campaign; the transitions name who and why.
func campaignMoveDevices(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Campaigns
	ms := newCampaign(t, s, "c", 4)
	if _, err := s.ChangeStatus(ctx, "c", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	finishAs(t, s, "c", []string{ms[0].Hostname}, orchestrator.DeviceSucceeded, "completed")
	ev := orchestrator.Event{Actor: "carol", Action: "exclude", Reason: "decommissioned"}
	ch, err := s.MoveDevices(ctx, "c", orchestrator.EventExclude, []string{ms[0].Hostname, ms[1].Hostname, "nope.rxx.nhs.uk"}, ev)
	if err != nil || !slices.Equal(ch.Moved, []string{ms[1].Hostname}) || len(ch.Unmoved) != 1 || ch.Unmoved[0].State != orchestrator.DeviceSucceeded ||
		!slices.Equal(ch.Missing, []string{"nope.rxx.nhs.uk"}) {
		t.Fatalf("exclude = %+v %v", ch, err)
	}
	if d, _ := s.Device(ctx, "c", ms[1].Hostname); d.State != orchestrator.DeviceSkipped || d.Reason != orchestrator.ReasonExcluded {
		t.Fatalf("excluded device = %s (%s)", d.State, d.Reason)
	}
	tr, _ := s.Transitions(ctx, "c", ms[1].Hostname)
	if len(tr) != 1 || tr[0].Cause != "carol (exclude): decommissioned" || tr[0].Reason != orchestrator.ReasonExcluded {
		t.Fatalf("transitions = %+v", tr)
	}
	// Wave 0 done, the campaign done: include reopens both.
	c, _ := s.Campaign(ctx, "c")
	if _, err := s.Apply(ctx, "c", c.Seq, orchestrator.Plan{Done: true, WaveChanges: []orchestrator.WaveChange{
		{Wave: 0, State: orchestrator.WaveState{Status: orchestrator.WaveDone, Completed: start}}}}, start, "controller", nil); err != nil {
		t.Fatal(err)
	}
	ch, err = s.MoveDevices(ctx, "c", orchestrator.EventInclude, []string{ms[1].Hostname, ms[0].Hostname}, orchestrator.Event{Actor: "carol", Action: "include"})
	if err != nil || !slices.Equal(ch.Moved, []string{ms[1].Hostname}) || len(ch.Unmoved) != 1 {
		t.Fatalf("include = %+v %v", ch, err)
	}
	if _, st, _ := s.Waves(ctx, "c"); st[0].Status != orchestrator.WaveActive {
		t.Fatalf("wave after include = %s, want active", st[0].Status)
	}
	if c, _ := s.Campaign(ctx, "c"); c.Status != orchestrator.StatusRunning {
		t.Fatalf("campaign after include = %s, want running", c.Status)
	}
	if evs, _ := s.Events(ctx, "c"); len(evs) != 2 || evs[0].Detail != "1 devices: "+ms[1].Hostname || evs[1].Action != "include" {
		t.Fatalf("events = %+v", evs)
	}
	if _, err := s.MoveDevices(ctx, "nope", orchestrator.EventExclude, nil, ev); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("exclude in a missing campaign: %v", err)
	}
	if _, err := s.MoveDevices(ctx, "c", orchestrator.EventFinish, nil, ev); !errors.Is(err, orchestrator.ErrState) {
		t.Fatalf("a move that is not a person's: %v, want ErrState", err)
	}
}

// campaignTransitionsAfter: a campaign's transitions carry their ids,
// ascending, and their devices' organisations; read a page at a time
// after the last id seen, in every page size and for every filter of
// organisations (all, one, two, none), they are exactly the campaign's
// transitions the filter selects, each once, in id order, whatever
// another campaign records between them. An unknown campaign is
// NotFound, a limit under 1 Invalid.
func campaignTransitionsAfter(t *testing.T, open Open) {
	clock := NewClock(start)
	s := open(t, clock.Now).Campaigns
	orgs := []string{"RXX", "RYY", "RZZ"}
	var ms []orchestrator.Member
	for i := range 9 {
		org := orgs[i%3]
		ms = append(ms, orchestrator.Member{Hostname: fmt.Sprintf("d%02d.%s.nhs.uk", i, strings.ToLower(org)), Org: org, Site: "s",
			Wave: i * 2 / 9, Order: i})
	}
	c := orchestrator.Campaign{Name: "c", SpecFile: "c.yaml", Spec: "name: c", PlaybookFile: "builtin:win10-22h2", Playbook: "name: p"}
	if err := s.Create(ctx, c, waves, slices.Values(ms)); err != nil {
		t.Fatal(err)
	}
	other := newCampaign(t, s, "other", 4)
	if page, err := s.TransitionsAfter(ctx, "c", 0, nil, 10); err != nil || len(page) != 0 {
		t.Fatalf("transitions of a new campaign = %+v %v, want none", page, err)
	}
	for _, name := range []string{"c", "other"} {
		if _, err := s.ChangeStatus(ctx, name, orchestrator.ActionStart); err != nil {
			t.Fatal(err)
		}
	}
	// Moves of both campaigns in turn, so that c's ids have gaps.
	finishAs(t, s, "c", []string{ms[0].Hostname, ms[1].Hostname, ms[5].Hostname}, orchestrator.DeviceFailed, "insufficient_disk")
	finishAs(t, s, "other", []string{other[0].Hostname}, orchestrator.DeviceSucceeded, "completed")
	clock.Advance(time.Minute)
	finishAs(t, s, "c", []string{ms[2].Hostname, ms[3].Hostname}, orchestrator.DeviceSucceeded, "completed")
	finishAs(t, s, "other", []string{other[1].Hostname}, orchestrator.DeviceFailed, "insufficient_disk")
	if n, err := s.Retry(ctx, "c", orchestrator.DeviceFilter{Org: "RYY"}); err != nil || n != 1 {
		t.Fatalf("retry RYY = %d %v, want 1", n, err)
	}
	if _, err := s.MoveDevices(ctx, "c", orchestrator.EventExclude, []string{ms[8].Hostname}, orchestrator.Event{Actor: "carol", Action: "exclude"}); err != nil {
		t.Fatal(err)
	}

	all, err := s.Transitions(ctx, "c", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := 5*3 + 1 + 1; len(all) != want {
		t.Fatalf("%d transitions, want %d", len(all), want)
	}
	org := map[string]string{}
	for _, m := range ms {
		org[m.Hostname] = m.Org
	}
	for i, tr := range all {
		if tr.ID <= 0 || i > 0 && tr.ID <= all[i-1].ID {
			t.Fatalf("transition %d has id %d after %d: want ids ascending", i, tr.ID, all[max(0, i-1)].ID)
		}
		if tr.Campaign != "c" || tr.Org != org[tr.Hostname] {
			t.Errorf("transition %d = %+v, want campaign c, organisation %q", i, tr, org[tr.Hostname])
		}
	}
	mine, err := s.Transitions(ctx, "c", ms[1].Hostname)
	if err != nil || len(mine) != 4 {
		t.Fatalf("transitions of %s = %+v %v, want 4", ms[1].Hostname, mine, err)
	}
	for i, tr := range mine {
		if i > 0 && tr.ID <= mine[i-1].ID || tr.Org != "RYY" || !slices.Contains(all, tr) {
			t.Errorf("transition %d of %s = %+v, want ids ascending, organisation RYY, one of the campaign's", i, ms[1].Hostname, tr)
		}
	}

	for _, filter := range [][]string{nil, {"RYY"}, {"RZZ", "RXX"}, {"RXX", "RNONE"}, {}} {
		var want []orchestrator.Transition
		for _, tr := range all {
			if filter == nil || slices.Contains(filter, tr.Org) {
				want = append(want, tr)
			}
		}
		for _, limit := range []int{1, 2, 5, 100} {
			var got []orchestrator.Transition
			after := int64(0)
			for pages := 0; ; pages++ {
				page, err := s.TransitionsAfter(ctx, "c", after, filter, limit)
				if err != nil {
					t.Fatalf("orgs %q after %d: %v", filter, after, err)
				}
				if len(page) > limit || pages > len(all) {
					t.Fatalf("orgs %q limit %d: a page of %d", filter, limit, len(page))
				}
				for _, tr := range page {
					if tr.ID <= after {
						t.Fatalf("orgs %q after %d: id %d", filter, after, tr.ID)
					}
					after = tr.ID
				}
				got = append(got, page...)
				if len(page) < limit {
					break
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("orgs %q in pages of %d:\n got %+v\nwant %+v", filter, limit, got, want)
			}
		}
	}
	// From the middle, and from past the end.
	mid := all[len(all)/2].ID
	if page, err := s.TransitionsAfter(ctx, "c", mid, nil, 100); err != nil || !reflect.DeepEqual(page, all[len(all)/2+1:]) {
		t.Errorf("after %d = %+v %v, want %+v", mid, page, err, all[len(all)/2+1:])
	}
	if page, err := s.TransitionsAfter(ctx, "c", all[len(all)-1].ID, nil, 100); err != nil || len(page) != 0 {
		t.Errorf("after the last = %+v %v, want none", page, err)
	}

	for _, tc := range []struct {
		what string
		err  error
		kind error
	}{
		{"a missing campaign", second(s.TransitionsAfter(ctx, "nope", 0, nil, 10)), errkind.NotFound},
		{"a missing campaign, no organisation", second(s.TransitionsAfter(ctx, "nope", 0, []string{}, 10)), errkind.NotFound},
		{"a limit of 0", second(s.TransitionsAfter(ctx, "c", 0, nil, 0)), errkind.Invalid},
		{"a limit of -1", second(s.TransitionsAfter(ctx, "c", 0, nil, -1)), errkind.Invalid},
	} {
		if !errors.Is(tc.err, tc.kind) {
			t.Errorf("%s: %v, want an error wrapping %v", tc.what, tc.err, tc.kind)
		}
	}
}

// noInventory is an inventory of no time zones that has seen no device.
type noInventory struct{}

func (noInventory) TimeZones(context.Context) (map[string]string, error) {
	return map[string]string{}, nil
}
func (noInventory) LastSeen(context.Context, []string) (map[string]time.Time, error) {
	return map[string]time.Time{}, nil
}

// campaignCountsAndView moves the devices of a campaign of several
// organisations and sites through every kind of write (dispatch, begin,
// finish in each state, orphans, retry, continue, exclude, include), and
// after each round checks what the controller reads instead of the
// members: the counts equal the members counted, the pending devices
// read a page at a time are the members pending, and the controller
// decides on the store's view exactly as on the members themselves.
func campaignCountsAndView(t *testing.T, open Open) {
	clock := NewClock(start)
	s := open(t, clock.Now).Campaigns
	const spec = `name: v
playbook: p
caps: {per_org: 9, per_site: 4, total: 25}
waves: [{name: pilot, max_concurrency: 12, max_failure_percent: 60}, {name: rest, max_failure_percent: 60}]
`
	var ms []orchestrator.Member
	for i := range 240 {
		org := []string{"RXX", "RYY", "RZZ"}[i%3]
		site := []string{"a", "b", "c", ""}[i*7%4]
		ms = append(ms, orchestrator.Member{Hostname: fmt.Sprintf("d%03d.%s.nhs.uk", i, strings.ToLower(org)), Org: org, Site: site,
			Wave: min(1, i/60), Order: i})
	}
	c := orchestrator.Campaign{Name: "v", SpecFile: "v.yaml", Spec: spec, PlaybookFile: "p.yaml", Playbook: "name: p"}
	if err := s.Create(ctx, c, waves, slices.Values(ms)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangeStatus(ctx, "v", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 5))
	reasons := []orchestrator.Reason{"rolled_back:0xC1900101", "unreachable", "ineligible_edition", "completed"}
	for round := range 90 {
		clock.Advance(time.Minute)
		now := clock.Now()
		c, err := s.Campaign(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		all, err := s.Members(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		// The counts are the members counted.
		want := map[orchestrator.Count]int{}
		for _, m := range all {
			want[orchestrator.Count{Wave: m.Wave, Org: m.Org, Site: m.Site, State: m.State, Reason: m.Reason, Accepted: m.Accepted}]++
		}
		counts, err := s.Counts(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		got := map[orchestrator.Count]int{}
		for _, n := range counts {
			k := n
			k.Devices = 0
			got[k] += n.Devices
		}
		if !maps.Equal(got, want) {
			t.Fatalf("round %d: counts %v\nwant the members counted: %v", round, got, want)
		}
		// Pending devices, page by page, are the members pending.
		for _, org := range []string{"RXX", "RYY", "RZZ"} {
			for wave := range waves {
				var want, got []string
				for _, m := range all {
					if m.State == orchestrator.DevicePending && m.Org == org && m.Wave == wave {
						want = append(want, m.Hostname)
					}
				}
				after := -1
				for {
					page, err := s.Pending(ctx, "v", wave, org, after, 7)
					if err != nil {
						t.Fatal(err)
					}
					for _, m := range page {
						if m.Org != org || m.Wave != wave || m.State != orchestrator.DevicePending || m.Order <= after {
							t.Fatalf("round %d: pending page has %+v", round, m)
						}
						got = append(got, m.Hostname)
						after = m.Order
					}
					if len(page) < 7 {
						break
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("round %d: pending of wave %d in %s read %v, want %v", round, wave, org, got, want)
				}
				heads, err := s.PendingHeads(ctx, "v", wave, []string{"RZZ", org, "NONE"}, 5)
				if err != nil {
					t.Fatal(err)
				}
				var head []string
				for _, m := range heads[1] {
					head = append(head, m.Hostname)
				}
				if len(heads) != 3 || len(heads[2]) != 0 || !slices.Equal(head, want[:min(5, len(want))]) {
					t.Fatalf("round %d: heads of wave %d in %s read %v, want %v", round, wave, org, head, want[:min(5, len(want))])
				}
			}
		}
		// A page of devices in a state is the members in that state, in
		// dispatch order (pages merge a range per wave and organisation).
		for _, st := range []orchestrator.DeviceState{orchestrator.DevicePending, orchestrator.DeviceSucceeded, orchestrator.DeviceFailed} {
			after, limit := r.IntN(120)-1, []int{1, 9, 20, 300}[r.IntN(4)]
			var want []string
			for _, m := range all {
				if m.State == st && m.Order > after && len(want) < limit {
					want = append(want, m.Hostname)
				}
			}
			page, err := s.Devices(ctx, "v", orchestrator.DeviceFilter{State: st}, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range page {
				got = append(got, d.Hostname)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("round %d: %s devices after %d, %d a page: %v, want %v", round, st, after, limit, got, want)
			}
		}
		// The controller decides alike on the store's view and on the
		// members.
		v, err := orchestrator.ReadView(ctx, s, noInventory{}, c)
		if err != nil {
			t.Fatal(err)
		}
		plan := orchestrator.Decide(v, now)
		if err := v.Err(); err != nil {
			t.Fatal(err)
		}
		mv := v
		mv.Members = nil
		for _, m := range all {
			mv.Members = append(mv.Members, m.Member)
		}
		if ref := orchestrator.Decide(mv, now); !reflect.DeepEqual(plan, ref) {
			t.Fatalf("round %d: on the store's view the controller decides\n%+v\non the members\n%+v", round, plan, ref)
		}
		if _, err := s.Apply(ctx, "v", c.Seq, plan, now, "controller", nil); err != nil {
			t.Fatal(err)
		}
		// Workers and people move devices.
		all, err = s.Members(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range all {
			switch {
			case d.State == orchestrator.DeviceQueued && r.IntN(3) > 0:
				if _, err := s.Begin(ctx, "v", d.Hostname, d.Generation, now, time.Hour); err != nil {
					t.Fatal(err)
				}
			case d.State == orchestrator.DeviceRunning && r.IntN(2) == 0:
				to, reason, next := orchestrator.DeviceFailed, reasons[r.IntN(3)], time.Time{}
				switch r.IntN(4) {
				case 0:
					to, reason = orchestrator.DeviceSucceeded, "completed"
				case 1:
					to, reason = orchestrator.DeviceSkipped, "already_compliant"
				case 2:
					to, reason, next = orchestrator.DeviceDeferred, "unreachable", now.Add(time.Duration(r.IntN(5))*time.Minute)
				}
				if err := s.Finish(ctx, "v", d.Hostname, d.Generation, to, reason, "", next); err != nil {
					t.Fatal(err)
				}
			}
		}
		switch r.IntN(5) {
		case 0:
			if _, err := s.Retry(ctx, "v", orchestrator.DeviceFilter{Org: []string{"RXX", "RYY"}[r.IntN(2)]}); err != nil {
				t.Fatal(err)
			}
		case 1:
			_, err := s.Continue(ctx, "v", waves[r.IntN(2)], "", orchestrator.Event{Actor: "alice", Action: "continue"})
			if err != nil && !errors.Is(err, orchestrator.ErrState) {
				t.Fatal(err)
			}
		case 2:
			h := all[r.IntN(len(all))].Hostname
			for _, e := range []orchestrator.DeviceEvent{orchestrator.EventExclude, orchestrator.EventInclude} {
				if r.IntN(2) == 0 {
					if _, err := s.MoveDevices(ctx, "v", e, []string{h}, orchestrator.Event{Actor: "alice", Action: string(e)}); err != nil {
						t.Fatal(err)
					}
				}
			}
		case 3:
			if _, err := s.Orphans(ctx, "v", now.Add(2*time.Hour), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	sc, err := s.StateCounts(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after 90 rounds, by wave and state: %v", sc)
}
