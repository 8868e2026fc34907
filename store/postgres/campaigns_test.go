package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/pgtest"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/store/postgres"
)

// TestCampaignsFromSeveralNodes runs one campaign from several nodes at
// once, each with its own pool: two control passes dispatching the same
// pending devices, a third requeuing orphans, a person retrying failures,
// and workers that each get every job twice (as a queue delivering a job
// again, or two nodes taking it) and begin, heartbeat and finish it. No
// device may be dispatched or begun twice for one generation, no write may
// fail but as the state machine says (ErrStale, ErrState: never a deadlock
// or a serialization failure), every successful begin is an attempt, and
// the counts equal the devices counted.
func TestCampaignsFromSeveralNodes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	node := func() *postgres.Campaigns {
		db, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 3})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		return db.Campaigns()
	}
	const devices = 300
	orgs := []string{"RAA", "RBB", "RCC", "RDD", "REE"}
	var ms []orchestrator.Member
	for i := range devices {
		org := orgs[i%len(orgs)]
		ms = append(ms, orchestrator.Member{Hostname: fmt.Sprintf("d%03d.%s.nhs.uk", i, org), Org: org, Site: fmt.Sprintf("s%d", i%4),
			Wave: i * 2 / devices, Order: i})
	}
	admin := node()
	c := orchestrator.Campaign{Name: "national", SpecFile: "n.yaml", Spec: "name: national", PlaybookFile: "p.yaml", Playbook: "name: p"}
	if err := admin.Create(ctx, c, []string{"pilot", "rest"}, slices.Values(ms)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ChangeStatus(ctx, "national", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}

	type job struct {
		host string
		gen  int
	}
	var (
		mu         sync.Mutex
		dispatched = map[job]int{} // by Apply, Orphans
		begun      = map[job]int{}
		attempts   = map[string]int{}
		errs       []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	jobs := make(chan job, 4*devices)
	queue := func(ds []orchestrator.Dispatch) {
		for _, d := range ds {
			j := job{d.Hostname, d.Generation}
			mu.Lock()
			dispatched[j]++
			mu.Unlock()
			jobs <- j
			jobs <- j // delivered twice
		}
	}
	enqueued := func(_ context.Context, tx orchestrator.Tx, _ []orchestrator.Dispatch) error {
		if tx == nil {
			return errors.New("enqueue without the store's transaction")
		}
		return nil
	}
	expected := func(err error) bool {
		return err == nil || errors.Is(err, orchestrator.ErrStale) || errors.Is(err, orchestrator.ErrState)
	}

	deadline := time.Now().Add(8 * time.Second)
	var control, workers sync.WaitGroup
	// Two control passes dispatching what they read, the same devices.
	for i := range 2 {
		s := node()
		control.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 1))
			for time.Now().Before(deadline) {
				cur, err := s.Campaign(ctx, "national")
				if err != nil {
					fail(err)
					return
				}
				var hosts []string
				for wave := range 2 {
					heads, err := s.PendingHeads(ctx, "national", wave, orgs, 6)
					if err != nil {
						fail(err)
						return
					}
					for _, h := range heads {
						for _, m := range h {
							hosts = append(hosts, m.Hostname)
						}
					}
				}
				deferred, err := s.Deferred(ctx, "national")
				if err != nil {
					fail(err)
					return
				}
				for _, d := range deferred {
					hosts = append(hosts, d.Hostname)
				}
				r.Shuffle(len(hosts), func(a, b int) { hosts[a], hosts[b] = hosts[b], hosts[a] })
				ds, err := s.Apply(ctx, "national", cur.Seq, orchestrator.Plan{Dispatch: hosts, WakeAt: time.Now()}, time.Now(), "controller", enqueued)
				if err != nil {
					fail(fmt.Errorf("apply: %w", err))
					return
				}
				queue(ds)
			}
		})
	}
	// Orphans: a pass that finds every running device's lease lapsed.
	{
		s := node()
		control.Go(func() {
			for time.Now().Before(deadline) {
				time.Sleep(300 * time.Millisecond)
				ds, err := s.Orphans(ctx, "national", time.Now().Add(2*time.Hour), enqueued)
				if err != nil {
					fail(fmt.Errorf("orphans: %w", err))
					return
				}
				queue(ds)
			}
		})
	}
	// A person retrying failures.
	{
		s := node()
		control.Go(func() {
			for time.Now().Before(deadline) {
				time.Sleep(500 * time.Millisecond)
				if _, err := s.Retry(ctx, "national", orchestrator.DeviceFilter{Org: "RAA"}); err != nil {
					fail(fmt.Errorf("retry: %w", err))
					return
				}
			}
		})
	}
	// The counts equal the devices counted in every snapshot, read in one
	// statement while the nodes write.
	{
		db, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		control.Go(func() {
			for time.Now().Before(deadline) {
				var wrong int
				if err := db.Pool().QueryRow(ctx, countsDiffer, "national").Scan(&wrong); err != nil {
					fail(fmt.Errorf("compare counts: %w", err))
					return
				}
				if wrong > 0 {
					fail(fmt.Errorf("%d counts differ from the devices counted in the same snapshot", wrong))
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	// Workers.
	for i := range 4 {
		s := node()
		workers.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 2))
			for j := range jobs {
				run, err := s.Begin(ctx, "national", j.host, j.gen, time.Now(), time.Hour)
				if err != nil {
					if !expected(err) {
						fail(fmt.Errorf("begin: %w", err))
					}
					continue
				}
				mu.Lock()
				begun[j]++
				attempts[j.host]++
				mu.Unlock()
				if run.RunID == "" {
					fail(fmt.Errorf("begin %v: no run id", j))
				}
				if err := s.Heartbeat(ctx, "national", j.host, j.gen, time.Now().Add(time.Hour), "step", []byte(`{"Next":1}`)); !expected(err) {
					fail(fmt.Errorf("heartbeat: %w", err))
				}
				to, reason, next := orchestrator.DeviceSucceeded, orchestrator.Reason("completed"), time.Time{}
				switch r.IntN(6) {
				case 0, 1:
					to, reason = orchestrator.DeviceFailed, "rolled_back:0xC1900101"
				case 2:
					to, reason, next = orchestrator.DeviceDeferred, "unreachable", time.Now()
				}
				if err := s.Finish(ctx, "national", j.host, j.gen, to, reason, "", next); !expected(err) {
					fail(fmt.Errorf("finish: %w", err))
				}
			}
		})
	}
	control.Wait()
	close(jobs)
	workers.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	for j, n := range dispatched {
		if n != 1 {
			t.Errorf("%s generation %d dispatched %d times", j.host, j.gen, n)
		}
	}
	for j, n := range begun {
		if n != 1 {
			t.Errorf("%s generation %d begun %d times", j.host, j.gen, n)
		}
	}
	all, err := admin.Members(ctx, "national")
	if err != nil {
		t.Fatal(err)
	}
	want := map[orchestrator.Count]int{}
	for _, d := range all {
		want[orchestrator.Count{Wave: d.Wave, Org: d.Org, Site: d.Site, State: d.State, Reason: d.Reason, Accepted: d.Accepted}]++
		if d.Attempts != attempts[d.Hostname] {
			t.Errorf("%s: %d attempts recorded, %d begun", d.Hostname, d.Attempts, attempts[d.Hostname])
		}
		tr, err := admin.Transitions(ctx, "national", d.Hostname)
		if err != nil {
			t.Fatal(err)
		}
		from, runs := orchestrator.DevicePending, 0
		for _, x := range tr {
			if x.From != from {
				t.Fatalf("%s: transition %+v does not start where the last one ended (%s)", d.Hostname, x, from)
			}
			if x.To == orchestrator.DeviceRunning {
				runs++
			}
			from = x.To
		}
		if from != d.State || runs != d.Attempts {
			t.Errorf("%s: transitions end at %s with %d begins; the device is %s after %d attempts", d.Hostname, from, runs, d.State, d.Attempts)
		}
	}
	check := func(when string) {
		t.Helper()
		counts, err := admin.Counts(ctx, "national")
		if err != nil {
			t.Fatal(err)
		}
		got := map[orchestrator.Count]int{}
		for _, n := range counts {
			k := n
			k.Devices = 0
			got[k] = n.Devices
		}
		if !maps.Equal(got, want) {
			t.Fatalf("%s: counts %v\nwant the devices counted: %v", when, got, want)
		}
	}
	check("after the run")
	cur, err := admin.Campaign(ctx, "national")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Apply(ctx, "national", cur.Seq, orchestrator.Plan{}, time.Now(), "controller", nil); err != nil {
		t.Fatal(err)
	}
	check("after folding the deltas")
	var moved int
	for _, n := range begun {
		moved += n
	}
	t.Logf("%d dispatches, %d begun, %d devices", len(dispatched), moved, len(all))
	if moved < devices/2 {
		t.Errorf("only %d runs began: the nodes hardly ran at once", moved)
	}
}

// countsDiffer counts the keys of a campaign ($1) whose stored count
// (folded counts and deltas) differs from its devices counted, in one
// snapshot.
const countsDiffer = `WITH d AS (SELECT wave, org, site, state, reason, accepted, count(*) AS n FROM campaign_devices WHERE campaign = $1
		GROUP BY wave, org, site, state, reason, accepted),
	c AS (SELECT wave, org, site, state, reason, accepted, sum(n) AS n FROM (
			SELECT wave, org, site, state, reason, accepted, devices AS n FROM campaign_counts WHERE campaign = $1
			UNION ALL SELECT wave, org, site, state, reason, accepted, delta FROM campaign_count_deltas WHERE campaign = $1) x
		GROUP BY wave, org, site, state, reason, accepted HAVING sum(n) <> 0)
	SELECT count(*) FROM d FULL JOIN c USING (wave, org, site, state, reason, accepted) WHERE d.n IS DISTINCT FROM c.n`
