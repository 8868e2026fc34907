package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func openCampaigns(t *testing.T) (*sqlite.Campaigns, *clock, *sql.DB) {
	t.Helper()
	c := &clock{t: time.Date(2027, 1, 12, 20, 0, 0, 0, time.UTC)}
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "r.db"), sqlite.Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := db.Campaigns(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s, c, db.SQL()
}

func TestCampaignLifecycle(t *testing.T) {
	ctx := context.Background()
	s, c, _ := openCampaigns(t)
	members := []orchestrator.Member{
		{Hostname: "a.rxx.nhs.uk", Org: "RXX", Site: "s1", Wave: 0, Order: 0},
		{Hostname: "b.rxx.nhs.uk", Org: "RXX", Site: "s1", Wave: 0, Order: 1},
		{Hostname: "c.ryy.nhs.uk", Org: "RYY", Wave: 1, Order: 2},
	}
	camp := orchestrator.Campaign{Name: "c1", SpecFile: "c1.yaml", Spec: "name: c1", PlaybookFile: "builtin", Playbook: "name: p"}
	if err := s.Create(ctx, camp, []string{"pilot", "rest"}, members); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, camp, []string{"pilot"}, nil); !errors.Is(err, errkind.Exists) {
		t.Fatalf("second create: %v, want errkind.Exists", err)
	}
	if _, err := s.ChangeStatus(ctx, "c1", orchestrator.ActionPause); !errors.Is(err, orchestrator.ErrState) {
		t.Fatalf("pause a draft: %v, want ErrState", err)
	}
	if _, err := s.ChangeStatus(ctx, "c1", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	if due := mustDue(t, s, c.t, c.t); len(due) != 1 {
		t.Fatalf("due = %v, want the started campaign", due)
	}
	// Apply a plan that dispatches a twice and b: a is queued once.
	var enqueued []orchestrator.Dispatch
	plan := orchestrator.Plan{Dispatch: []string{"a.rxx.nhs.uk", "a.rxx.nhs.uk", "b.rxx.nhs.uk"}, WakeAt: c.t.Add(time.Hour),
		WaveChanges: []orchestrator.WaveChange{{Wave: 0, State: orchestrator.WaveState{Status: orchestrator.WaveActive, Started: c.t}}}}
	cur, _ := s.Campaign(ctx, "c1")
	ds, err := s.Apply(ctx, "c1", cur.Seq, plan, c.t, "controller", func(_ context.Context, tx orchestrator.Tx, ds []orchestrator.Dispatch) error {
		enqueued = ds
		return nil
	})
	if err != nil || len(ds) != 2 || len(enqueued) != 2 || ds[0].Generation != 1 {
		t.Fatalf("apply: %v %+v", err, ds)
	}
	if due := mustDue(t, s, c.t, c.t); len(due) != 0 {
		t.Fatalf("due right after deciding = %v, want none until the wake-up", due)
	}
	if due := mustDue(t, s, c.t.Add(time.Hour), c.t); len(due) != 1 {
		t.Fatalf("due at the wake-up = %v", due)
	}
	// An enqueue failure rolls the whole plan back.
	boom := errors.New("boom")
	// A decision on a view older than a change leaves the campaign marked.
	if _, err := s.Apply(ctx, "c1", cur.Seq-1, orchestrator.Plan{}, c.t, "controller", nil); err != nil {
		t.Fatal(err)
	}
	if due := mustDue(t, s, c.t, c.t); len(due) != 1 {
		t.Fatalf("due after a decision on a stale view = %v, want the campaign again", due)
	}
	if _, err := s.Apply(ctx, "c1", cur.Seq, orchestrator.Plan{WakeAt: c.t.Add(time.Hour)}, c.t, "controller", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, "c1", cur.Seq, orchestrator.Plan{Dispatch: []string{"c.ryy.nhs.uk"}}, c.t, "controller",
		func(context.Context, orchestrator.Tx, []orchestrator.Dispatch) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("apply with a failing enqueue: %v", err)
	}
	if d, _ := s.Device(ctx, "c1", "c.ryy.nhs.uk"); d.State != orchestrator.DevicePending {
		t.Fatalf("c after a failed apply is %s, want pending", d.State)
	}

	// A worker runs a; a stale generation is refused; a second worker is
	// refused while the lease holds.
	if _, err := s.Begin(ctx, "c1", "a.rxx.nhs.uk", 0, c.t, time.Minute); !errors.Is(err, orchestrator.ErrStale) {
		t.Fatalf("begin with a stale generation: %v", err)
	}
	run, err := s.Begin(ctx, "c1", "a.rxx.nhs.uk", 1, c.t, time.Minute)
	if err != nil || run.Attempt != 1 {
		t.Fatalf("begin: %+v %v", run, err)
	}
	if _, err := s.Begin(ctx, "c1", "a.rxx.nhs.uk", 1, c.t, time.Minute); !errors.Is(err, orchestrator.ErrState) {
		t.Fatalf("begin while leased: %v", err)
	}
	if err := s.Heartbeat(ctx, "c1", "a.rxx.nhs.uk", 1, c.t.Add(time.Minute), "upgrade", []byte(`{"Next":5}`)); err != nil {
		t.Fatal(err)
	}
	// The worker dies: after the lease the device is an orphan, which makes
	// the campaign due, and it is queued again under a new generation with
	// its checkpoint.
	if due := mustDue(t, s, c.t, c.t); len(due) != 0 {
		t.Fatalf("due while the worker's lease holds = %v", due)
	}
	c.t = c.t.Add(2 * time.Minute)
	if due := mustDue(t, s, c.t.Add(-time.Hour*24*365), c.t); len(due) != 1 {
		t.Fatalf("due with a lapsed lease = %v", due)
	}
	orphans, err := s.Orphans(ctx, "c1", c.t, nil)
	if err != nil || len(orphans) != 1 || orphans[0].Generation != 2 {
		t.Fatalf("orphans: %+v %v", orphans, err)
	}
	if err := s.Finish(ctx, "c1", "a.rxx.nhs.uk", 1, orchestrator.DeviceSucceeded, "completed", "", time.Time{}); !errors.Is(err, orchestrator.ErrStale) {
		t.Fatalf("the lost worker finishing: %v, want ErrStale", err)
	}
	run, err = s.Begin(ctx, "c1", "a.rxx.nhs.uk", 2, c.t, time.Minute)
	if err != nil || string(run.Checkpoint) != `{"Next":5}` || run.Attempt != 2 {
		t.Fatalf("resumed begin: %+v %v", run, err)
	}
	if err := s.Finish(ctx, "c1", "a.rxx.nhs.uk", 2, orchestrator.DeviceFailed, "rolled_back:0xC1900101", "setup rolled back", time.Time{}); err != nil {
		t.Fatal(err)
	}
	// b is unreachable: deferred, keeping nothing to resume from.
	if _, err := s.Begin(ctx, "c1", "b.rxx.nhs.uk", 1, c.t, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, "c1", "b.rxx.nhs.uk", 1, orchestrator.DeviceDeferred, "unreachable", "", c.t.Add(15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Device(ctx, "c1", "b.rxx.nhs.uk"); d.State != orchestrator.DeviceDeferred || !d.NextAttempt.Equal(c.t.Add(15*time.Minute)) {
		t.Fatalf("b = %+v", d)
	}
	// Retry the failed device: pending again, from scratch.
	if n, err := s.Retry(ctx, "c1", "rolled_back:0xC1900101"); err != nil || n != 1 {
		t.Fatalf("retry: %d %v", n, err)
	}
	a, _ := s.Device(ctx, "c1", "a.rxx.nhs.uk")
	if a.State != orchestrator.DevicePending || a.Checkpoint != nil {
		t.Fatalf("a after retry = %+v", a)
	}
	tr, _ := s.Transitions(ctx, "c1", "a.rxx.nhs.uk")
	want := []string{"pending>queued", "queued>running", "running>queued", "queued>running", "running>failed", "failed>pending"}
	if len(tr) != len(want) {
		t.Fatalf("transitions %+v", tr)
	}
	for i, x := range tr {
		if string(x.From)+">"+string(x.To) != want[i] || x.Cause == "" || x.At.IsZero() {
			t.Errorf("transition %d = %+v, want %s", i, x, want[i])
		}
	}
	if err := s.Approve(ctx, "c1", "nope"); !errors.Is(err, errkind.NotFound) {
		t.Errorf("approve a missing wave: %v", err)
	}
}

// mustDue is Store.Due, failing the test on an error: a failing call must
// not read as "nothing is due".
func mustDue(t *testing.T, s *sqlite.Campaigns, now, wall time.Time) []string {
	t.Helper()
	due, err := s.Due(context.Background(), now, wall)
	if err != nil {
		t.Fatalf("due: %v", err)
	}
	return due
}
