package scheduler_test

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/discovery"
	"github.com/ringmaster-fleet/ringmaster/internal/pgtest"
	"github.com/ringmaster-fleet/ringmaster/internal/simtest"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/orchestrator/scheduler"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
	"github.com/ringmaster-fleet/ringmaster/report"
	"github.com/ringmaster-fleet/ringmaster/store"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

// engine is a database engine the scheduler's tests run on.
type engine struct {
	name string
	// new returns where a new, empty database is (a file, a URL).
	new func(t *testing.T) string
}

// engines are the engines every scheduler test runs on: the embedded
// SQLite, and PostgreSQL when the test has one (see pgtest).
var engines = []engine{
	{"SQLite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "r.db") }},
	{"PostgreSQL", func(t *testing.T) string { return pgtest.URL(t) }},
}

// forEngines runs test on every engine, each in a subtest named for it.
func forEngines(t *testing.T, test func(t *testing.T, eng engine)) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) { test(t, eng) })
	}
}

// jobs is River's queue on db's own database.
func jobs(t *testing.T, db store.DB) scheduler.Jobs {
	switch db := db.(type) {
	case *store.SQLite:
		return scheduler.SQLiteJobs(db.SQL(), nil)
	case *store.Postgres:
		return scheduler.PostgresJobs(db.QueuePool())
	}
	t.Fatalf("no job queue on a %T", db)
	return nil
}

// estate is a test estate: the inventory and campaign stores on one
// database, and simulated devices that the scheduler reaches through the
// real WinRM executor.
type estate struct {
	where   string // the database
	db      store.DB
	inv     store.Inventory
	store   store.Campaigns
	devices map[string]simtest.Device
	clock   *device.ScaledClock
	// onApplied, if set, is the scheduler's OnApplied.
	onApplied func(ctx context.Context, a orchestrator.AppliedPlan)
	// lease is the nodes' device lease (default 5s).
	lease time.Duration
}

func (e *estate) Reach(_ context.Context, hostname string) (sdk.Target, playbooks.Executor, error) {
	d, ok := e.devices[hostname]
	if !ok {
		return sdk.Target{}, nil, fmt.Errorf("no simulated device %s", hostname)
	}
	return d.Target, d.Engine.Executor, nil
}

func (e *estate) TimeZones(ctx context.Context) (map[string]string, error) {
	return e.inv.TimeZones(ctx)
}

func (e *estate) LastSeen(ctx context.Context, hosts []string) (map[string]time.Time, error) {
	return e.inv.LastSeen(ctx, hosts)
}

func (e *estate) Devices(ctx context.Context, sel inventory.Selector) iter.Seq2[*inventory.Device, error] {
	return e.inv.Devices(ctx, sel)
}

// campaigns is the application the CLI creates campaigns through.
func (e *estate) campaigns() *campaigns.Service {
	return campaigns.New(campaigns.Config{Store: e.store, Inventory: e, Now: e.clock.Now,
		Playbooks: func(name string) (string, []byte, error) {
			src, err := builtin.Source(name)
			return "builtin/" + name + ".yaml", src, err
		}})
}

// newEstate starts specs as simulated devices (600 times faster than the
// wall) and imports them, spread over organisations, into a new database
// of the engine.
func newEstate(t *testing.T, eng engine, specs []device.Spec, orgOf func(i int) string) *estate {
	t.Helper()
	ctx := context.Background()
	devs := simtest.Start(t, 600, specs...)
	e := &estate{where: eng.new(t), devices: map[string]simtest.Device{}, clock: devs[0].Clock}
	var err error
	// The inventory and the campaigns on the simulated clock.
	e.db = e.open(t)
	e.inv = e.db.Inventory()
	var csv strings.Builder
	csv.WriteString("hostname,org,site,address,os_build\n") // as discovery would have observed
	for i, d := range devs {
		e.devices[d.Target.Hostname] = d
		fmt.Fprintf(&csv, "%s,%s,site%d,%s,%s\n", d.Target.Hostname, orgOf(i), i%2, d.Target.Address, specs[i].Build)
	}
	r, err := format.NewCSVReader(strings.NewReader(csv.String()), "estate.csv", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.inv.Import(ctx, r, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "Europe/London"}); err != nil {
		t.Fatal(err)
	}
	if e.store, err = e.db.Campaigns(ctx); err != nil {
		t.Fatal(err)
	}
	if err := scheduler.Migrate(ctx, jobs(t, e.db)); err != nil {
		t.Fatal(err)
	}
	return e
}

// open opens the estate's database once more, on its simulated clock, as
// another node would; it is closed when t ends.
func (e *estate) open(t *testing.T) store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), e.where, store.Options{Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// node is one scheduler on its own connections to the estate's database.
type node struct {
	db    store.DB
	sched *scheduler.Scheduler
	kill  context.CancelFunc // stops it as a dying process would
	// reached counts the devices its workers have begun to run.
	reached atomic.Int64
}

// nodeReacher reaches the estate's devices for a node, counting them.
type nodeReacher struct {
	*estate
	n *node
}

func (r nodeReacher) Reach(ctx context.Context, hostname string) (sdk.Target, playbooks.Executor, error) {
	r.n.reached.Add(1)
	return r.estate.Reach(ctx, hostname)
}

// startNode starts a scheduler on db (the estate's or another opened on
// it), whose periodic control job runs every tick; it is stopped when t
// ends.
func (e *estate) startNode(t *testing.T, db store.DB, tick time.Duration, onOutcome func(campaign, host string, o playbooks.Outcome)) *node {
	t.Helper()
	return e.startWith(t, db, tick, onOutcome, nil)
}

// startWith is startNode with the scheduler's config changed by with
// (nil changes nothing) before it starts.
func (e *estate) startWith(t *testing.T, db store.DB, tick time.Duration, onOutcome func(campaign, host string, o playbooks.Outcome),
	with func(*scheduler.Config)) *node {
	t.Helper()
	cs, err := db.Campaigns(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	inv := db.Inventory()
	n := &node{db: db}
	cfg := scheduler.Config{Jobs: jobs(t, db), Store: cs, Inventory: e, Reacher: nodeReacher{e, n},
		Playbook: playbooks.Parse, Clock: e.clock, EngineClock: e.clock, Workers: 100, Tick: tick,
		Lease: cmp.Or(e.lease, 5*time.Second), OnOutcome: onOutcome, OnApplied: e.onApplied,
		Observe: func(ctx context.Context, host string, facts sdk.Facts, at time.Time) error {
			return inv.RecordObservation(ctx, host, discovery.Facts(facts, at), at)
		},
		Logger: slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if with != nil {
		with(&cfg)
	}
	s, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, kill := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Stop(ctx)
		kill()
	})
	n.sched, n.kill = s, kill
	return n
}

func (e *estate) start(t *testing.T, onOutcome func(campaign, host string, o playbooks.Outcome)) *scheduler.Scheduler {
	t.Helper()
	return e.startTick(t, 50*time.Millisecond, onOutcome)
}

// startTick starts a scheduler on the estate's database whose periodic
// control job runs every tick.
func (e *estate) startTick(t *testing.T, tick time.Duration, onOutcome func(campaign, host string, o playbooks.Outcome)) *scheduler.Scheduler {
	t.Helper()
	return e.startNode(t, e.db, tick, onOutcome).sched
}

func (e *estate) waitDone(t *testing.T, name string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	report := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := e.store.Campaign(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status == orchestrator.StatusDone {
			return
		}
		if time.Now().After(report) {
			report = time.Now().Add(10 * time.Second)
			ms, _ := e.store.Members(context.Background(), name)
			counts := map[orchestrator.DeviceState]int{}
			for _, m := range ms {
				counts[m.State]++
			}
			t.Logf("%s: %v", time.Now().Format(time.TimeOnly), counts)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ms, _ := e.store.Members(context.Background(), name)
	counts := map[orchestrator.DeviceState]int{}
	for _, m := range ms {
		counts[m.State]++
		if m.State != orchestrator.DeviceSucceeded {
			t.Logf("%s: %s %s %s next %s", m.Hostname, m.State, m.Reason, m.Message, m.NextAttempt)
		}
	}
	c, _ := e.store.Campaign(context.Background(), name)
	t.Logf("campaign %s wake %s now %s", c.Status, c.WakeAt, e.clock.Now())
	_, waves, _ := e.store.Waves(context.Background(), name)
	t.Fatalf("campaign %s not done within %s: devices %v, waves %+v", name, within, counts, waves)
}

const campaign = `
name: upgrade-22h2
playbook: win10-feature-update
params:
  media_source: '\\dp01\media$\Win10_22H2'
target: 'build<10.0.19045'
caps: {per_org: 60, per_site: 40}
defer: {backoff: 10m, max_backoff: 1h}
waves:
  - {name: pilot, count: 4, soak: 30m, max_failure_percent: 60}
  - {name: ring1, percent: 30, soak: 30m, max_failure_percent: 60}
  - {name: rest, max_failure_percent: 60}
`

// TestCampaignAgainstGroundTruth runs a three-wave feature-update campaign
// over simulated devices with faults (compat blocks, rollbacks, a device
// already upgraded, one offline for a while) and checks every device's
// final state and reason against what the simulator says happened to it.
func TestCampaignAgainstGroundTruth(t *testing.T) {
	forEngines(t, func(t *testing.T, eng engine) { groundTruth(t, eng, 1, false) })
}

// TestSeveralNodesAgainstGroundTruth runs the ground-truth campaign from
// three nodes sharing one PostgreSQL database, and kills one of them while
// devices run: River's leader among the others passes on, the dead node's
// devices are found by their lapsed leases and resume on the others from
// their checkpoints, and every device ends as the simulator says, setup
// launched once.
func TestSeveralNodesAgainstGroundTruth(t *testing.T) {
	eng := engines[1]
	t.Run(eng.name, func(t *testing.T) { groundTruth(t, eng, 3, true) })
}

// groundTruth runs the ground-truth campaign on nodes schedulers sharing
// one database of eng; with kill, the first node dies once a fifth of the
// devices have finished.
func groundTruth(t *testing.T, eng engine, nodes int, kill bool) {
	n := scaleDevices(t)
	specs := make([]device.Spec, n)
	for i := range specs {
		s := simtest.Win10(device.Behaviour{UpgradeTime: 20 * time.Minute})
		s.Hostname = fmt.Sprintf("pc%03d.r%c.nhs.uk", i, 'a'+i%3)
		s.Build, s.UBR = "10.0.18363", 1556
		if i%4 == 3 {
			s.KBs = append(s.KBs, "KB4512508") // the alert's update for 1909
		}
		switch i % 10 {
		case 3:
			s.Behaviour.CompatBlock = true
		case 7:
			s.Behaviour.RollBack = true
		}
		if i == 5 {
			s.Build = "10.0.19045" // not a target: the selector leaves it out
		}
		specs[i] = s
	}
	e := newEstate(t, eng, specs, func(i int) string { return fmt.Sprintf("R%c", 'A'+i%3) })
	if nodes > 1 {
		// Three nodes' workers under -race on two cores can hold a
		// heartbeat past a third of 5s: a lease lapsed by load alone
		// would re-run devices no node lost.
		e.lease = 15 * time.Second
	}
	ctx := context.Background()
	created, err := e.campaigns().Create(ctx, "upgrade.yaml", []byte(campaign))
	if err != nil {
		t.Fatal(err)
	}
	targets := n - 1 // one device is already on 22H2
	if got, ring1 := created.WaveSizes, (targets-4)*30/100; got[0] != 4 || got[1] < ring1 || got[1] > ring1+1 || got[0]+got[1]+got[2] != targets || created.Unwaved != 0 {
		t.Fatalf("wave sizes %v (%d unwaved), want 4, 30%% of the rest, the rest", got, created.Unwaved)
	}
	// One device is off the network when the campaign starts and comes
	// back a little later: it must be deferred, then picked up.
	offline := e.devices["pc011.rc.nhs.uk"].Endpoint.Machine
	offline.SetOnline(false)
	var mu sync.Mutex
	outcomes := map[string][]playbooks.Outcome{}
	ran := make([]int, nodes) // devices' outcomes per node
	finished := make(chan struct{}, n)
	running := make([]*node, nodes)
	for i := range running {
		db := e.db
		if i > 0 {
			db = e.open(t)
		}
		running[i] = e.startNode(t, db, 50*time.Millisecond, func(_, host string, o playbooks.Outcome) {
			mu.Lock()
			outcomes[host] = append(outcomes[host], o)
			ran[i]++
			mu.Unlock()
			if host == "pc011.rc.nhs.uk" {
				offline.SetOnline(true)
			}
			finished <- struct{}{}
		})
	}
	if _, err := e.store.ChangeStatus(ctx, "upgrade-22h2", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if kill {
		for range n / 5 {
			select {
			case <-finished:
			case <-time.After(5 * time.Minute):
				t.Fatal("a fifth of the devices did not finish within 5 minutes")
			}
		}
		// Killed while it runs devices: begun, not finished (a few for a
		// small estate, as make stress runs).
		want := max(1, min(10, n/50))
		for inFlight := 0; inFlight < want; time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			inFlight = int(running[0].reached.Load()) - ran[0]
			mu.Unlock()
			if time.Since(start) > 5*time.Minute {
				t.Fatalf("the first node never had %d devices in flight", want)
			}
		}
		running[0].kill()
		t.Logf("killed the first node after %s", time.Since(start).Round(time.Millisecond))
	}
	e.waitDone(t, "upgrade-22h2", 10*time.Minute)
	mu.Lock()
	ranNow := slices.Clone(ran)
	mu.Unlock()
	t.Logf("%d devices through win10-feature-update in %s on %d nodes (outcomes per node %v)", n-1, time.Since(start).Round(time.Millisecond), nodes, ranNow)
	if nodes > 1 {
		for i, r := range ranNow {
			// The killed node may die before it finishes any device:
			// it is killed once it has devices in flight (the wait
			// above), and under CI's load those can be its first. That
			// is its share; every node that lives must finish some.
			if i == 0 && kill {
				continue
			}
			if r == 0 {
				t.Errorf("node %d ran no device: the nodes did not share the work", i)
			}
		}
	}
	if kill {
		// The dead node had devices in flight: another node resumed them
		// once their leases lapsed, taking River's retry of the same job
		// (running again) or, found by its lease, a new one (the checks
		// below see each end as the simulator says, setup launched once).
		resumed := 0
		all, err := e.store.Members(ctx, "upgrade-22h2")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range all {
			tr, err := e.store.Transitions(ctx, "upgrade-22h2", m.Hostname)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range tr {
				if x.From == orchestrator.DeviceRunning && x.To != orchestrator.DeviceRunning && x.To != orchestrator.DeviceQueued {
					continue
				}
				if x.From == orchestrator.DeviceRunning {
					resumed++
					break
				}
			}
		}
		if resumed == 0 {
			t.Error("no device was running on the killed node: the kill tested nothing")
		}
		t.Logf("%d devices resumed after their node died", resumed)
	}

	members, err := e.store.Members(ctx, "upgrade-22h2")
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != n-1 {
		t.Fatalf("%d members, want %d", len(members), n-1)
	}
	for _, m := range members {
		truth := e.devices[m.Hostname].Endpoint.Machine.Truth()
		var i int
		fmt.Sscanf(m.Hostname, "pc%03d", &i)
		want, reason, launched, build := orchestrator.DeviceSucceeded, orchestrator.Reason("completed"), 1, "10.0.19045"
		switch i % 10 {
		case 3:
			want, reason, launched, build = orchestrator.DeviceFailed, "compat_blocked:0xC1900208", 0, "10.0.18363"
		case 7:
			want, reason, launched, build = orchestrator.DeviceFailed, "rolled_back:0xC1900101", 1, "10.0.18363"
		}
		if m.State != want || m.Reason != reason {
			rec, _ := e.store.Device(ctx, "upgrade-22h2", m.Hostname)
			t.Errorf("%s: %s %s (%q at step %q), want %s %s", m.Hostname, m.State, m.Reason, rec.Message, rec.Step, want, reason)
		}
		if truth.UpgradesLaunched != launched || truth.Build != build {
			t.Errorf("%s: device says setup launched %d times, build %s; want %d, %s", m.Hostname, truth.UpgradesLaunched, truth.Build, launched, build)
		}
		tr, _ := e.store.Transitions(ctx, "upgrade-22h2", m.Hostname)
		if len(tr) == 0 || tr[0].From != orchestrator.DevicePending || tr[len(tr)-1].To != m.State {
			t.Errorf("%s: transitions %+v do not run from pending to %s", m.Hostname, tr, m.State)
		}
	}
	// What the workers reported as each run ended agrees with the store:
	// the last outcome per device is its final state and reason, and the
	// device that was offline reported its failed attempt before that.
	mu.Lock()
	unreported := 0
	for _, m := range members {
		got := outcomes[m.Hostname]
		if len(got) == 0 {
			// The killed node's last write may have committed as its
			// context was cancelled: the store has the outcome (checked
			// against the truth above) and the node saw an error, so it
			// reported nothing. Only a device it was running can be so.
			if unreported++; !kill || unreported > max(1, min(10, n/50)) {
				t.Errorf("%s: no outcome reported", m.Hostname)
			} else {
				t.Logf("%s: no outcome reported: its run's last write raced the kill of its node", m.Hostname)
			}
			continue
		}
		last := got[len(got)-1]
		if string(last.Status) != string(m.State) || last.Reason != m.Reason {
			t.Errorf("%s: last outcome %s %s, store says %s %s", m.Hostname, last.Status, last.Reason, m.State, m.Reason)
		}
	}
	if got := outcomes["pc011.rc.nhs.uk"]; len(got) < 2 || got[0].Reason != playbooks.ReasonUnreachable {
		t.Errorf("the offline device reported %+v, want unreachable and then its final outcome", got)
	}
	mu.Unlock()
	tr, _ := e.store.Transitions(ctx, "upgrade-22h2", "pc011.rc.nhs.uk")
	deferred := false
	for _, x := range tr {
		deferred = deferred || x.To == orchestrator.DeviceDeferred
	}
	if !deferred {
		t.Errorf("the offline device was never deferred: %+v", tr)
	}
	checkProgressReport(t, e, members)
	_, waves, _ := e.store.Waves(ctx, "upgrade-22h2")
	for i, w := range waves {
		if w.Status != orchestrator.WaveDone {
			t.Errorf("wave %d: %+v", i, w)
		}
		if i > 0 && w.Started.Before(waves[i-1].Completed.Add(30*time.Minute)) {
			t.Errorf("wave %d started %s, before the previous wave's soak ended (%s + 30m)", i, w.Started, waves[i-1].Completed)
		}
	}
}

// tlog writes log lines to the test's log.
type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// scaleDevices is the size of the ground-truth campaign: 500 devices, as
// the issue asks, or $RINGMASTER_TEST_DEVICES.
func scaleDevices(t *testing.T) int {
	if v := os.Getenv("RINGMASTER_TEST_DEVICES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 40 {
			t.Fatalf("RINGMASTER_TEST_DEVICES=%q: want a number of at least 40", v)
		}
		return n
	}
	return 500
}

const slowCampaign = `
name: slow
playbook: win10-feature-update
params:
  media_source: '\\dp01\media$\Win10_22H2'
waves:
  - {name: all, max_concurrency: 3}
`

// TestPauseAndCancel pauses a campaign while devices run (they finish,
// nothing new starts), resumes it, then cancels it (running devices stop
// and end skipped as cancelled; pending ones never start).
func TestPauseAndCancel(t *testing.T) { forEngines(t, pauseAndCancel) }

func pauseAndCancel(t *testing.T, eng engine) {
	specs := make([]device.Spec, 12)
	for i := range specs {
		s := simtest.Win10(device.Behaviour{UpgradeTime: time.Hour}) // about 8 s at 600x: long enough to be caught running
		s.Hostname = fmt.Sprintf("pc%03d.ra.nhs.uk", i)
		s.Build = "10.0.18363"
		specs[i] = s
	}
	e := newEstate(t, eng, specs, func(int) string { return "RA" })
	ctx := context.Background()
	if _, err := e.campaigns().Create(ctx, "slow.yaml", []byte(slowCampaign)); err != nil {
		t.Fatal(err)
	}
	sched := e.start(t, nil)
	states := func() map[orchestrator.DeviceState]int {
		ms, err := e.store.Members(ctx, "slow")
		if err != nil {
			t.Fatal(err)
		}
		out := map[orchestrator.DeviceState]int{}
		for _, m := range ms {
			out[m.State]++
		}
		return out
	}
	waitFor := func(what string, ok func(map[orchestrator.DeviceState]int) bool) map[orchestrator.DeviceState]int {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if st := states(); ok(st) {
				return st
			}
		}
		t.Fatalf("%s: never; states %v", what, states())
		return nil
	}
	if _, err := e.store.ChangeStatus(ctx, "slow", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	waitFor("three running", func(st map[orchestrator.DeviceState]int) bool { return st[orchestrator.DeviceRunning] == 3 })
	if _, err := e.store.ChangeStatus(ctx, "slow", orchestrator.ActionPause); err != nil {
		t.Fatal(err)
	}
	// Paused: the three finish, and nothing new is queued.
	waitFor("the running three finish", func(st map[orchestrator.DeviceState]int) bool { return st[orchestrator.DeviceSucceeded] == 3 })
	// Decide for the paused campaign a few more times, as the periodic
	// control job would: each pass must start nothing.
	for range 3 {
		if err := sched.Control(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if st := states(); st[orchestrator.DevicePending] != 9 {
		t.Fatalf("paused campaign started more devices: %v", st)
	}
	if _, err := e.store.ChangeStatus(ctx, "slow", orchestrator.ActionResume); err != nil {
		t.Fatal(err)
	}
	waitFor("three more running", func(st map[orchestrator.DeviceState]int) bool { return st[orchestrator.DeviceRunning] == 3 })
	if _, err := e.store.ChangeStatus(ctx, "slow", orchestrator.ActionCancel); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	st := waitFor("the running three stop", func(st map[orchestrator.DeviceState]int) bool {
		return st[orchestrator.DeviceRunning] == 0 && st[orchestrator.DeviceQueued] == 0
	})
	t.Logf("cancel took effect in %s", time.Since(start).Round(time.Millisecond))
	if st[orchestrator.DeviceSkipped] != 3 || st[orchestrator.DevicePending] != 6 || st[orchestrator.DeviceSucceeded] != 3 {
		t.Fatalf("after cancel: %v, want 3 succeeded, 3 skipped (cancelled), 6 never started", st)
	}
	ms, _ := e.store.Members(ctx, "slow")
	for _, m := range ms {
		if m.State == orchestrator.DeviceSkipped && m.Reason != "cancelled" {
			t.Errorf("%s skipped for %q, want cancelled", m.Hostname, m.Reason)
		}
	}
}

// checkProgressReport computes the migration report from the inventory (as
// the runs observed it) and the campaign's states, and compares every
// figure, organisation by organisation, with the simulator's ground truth.
func checkProgressReport(t *testing.T, e *estate, members []orchestrator.DeviceRecord) {
	t.Helper()
	ctx := context.Background()
	orgs, err := e.inv.Organisations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkReportsFromRollup(t, e, orgs, truthByOrg(t, e, members))
	target, _, _ := inventory.ParseVersion("10.0.19045")
	states := map[string]*report.CampaignState{}
	for _, m := range members {
		states[m.Hostname] = &report.CampaignState{State: string(m.State), Reason: string(m.Reason)}
	}
	b := report.NewProgress(orgs, report.ProgressOptions{TargetBuild: target, Now: time.Now()})
	for d, err := range e.inv.Devices(ctx, inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		b.Add(d, states[d.Hostname])
	}
	p := b.Build()
	truth := truthByOrg(t, e, members)
	for _, r := range p.Rows {
		w := truth[r.Org]
		if r.Devices != w.devices || r.OnTarget != w.onTarget || r.Failed != w.failed || r.InProgress != 0 || r.Deferred != 0 || r.NotStarted != 0 {
			t.Errorf("report row %+v; the simulator says %+v", r, *w)
		}
		if w.compat > 0 && (len(r.TopReasons) == 0 || r.TopReasons[0].Devices < 1) {
			t.Errorf("%s: top failure reasons %+v", r.Org, r.TopReasons)
		}
		if r.AsOf.IsZero() {
			t.Errorf("%s: no freshness", r.Org)
		}
	}
}

// TestJobTakenByDeadWorker leaves device jobs as a process killed right
// after taking them would (River holds them as running, their devices are
// still queued, no lease) and checks that the control pass dispatches those
// devices again and cancels the dead jobs, so the campaign finishes.
func TestJobTakenByDeadWorker(t *testing.T) { forEngines(t, jobTakenByDeadWorker) }

func jobTakenByDeadWorker(t *testing.T, eng engine) {
	specs := make([]device.Spec, 3)
	for i := range specs {
		s := simtest.Win10(device.Behaviour{})
		s.Hostname = fmt.Sprintf("pc%03d.ra.nhs.uk", i)
		s.Build = "10.0.18363"
		specs[i] = s
	}
	e := newEstate(t, eng, specs, func(int) string { return "RA" })
	ctx := context.Background()
	if _, err := e.campaigns().Create(ctx, "slow.yaml", []byte(slowCampaign)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ChangeStatus(ctx, "slow", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	idle, err := scheduler.New(scheduler.Config{Jobs: jobs(t, e.db), Store: e.store, Inventory: e, Reacher: e, Playbook: playbooks.Parse, Clock: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Control(ctx); err != nil { // queues the three; nothing works them
		t.Fatal(err)
	}
	// River's tables, as each engine's driver lays them out.
	q := riverSQL(t, e.db)
	if n := q.exec(ctx, q.markDead); n != 3 {
		t.Fatalf("%d device jobs queued, want 3", n)
	}
	e.start(t, nil)
	e.waitDone(t, "slow", time.Minute)
	for _, s := range specs {
		tr, err := e.store.Transitions(ctx, "slow", s.Hostname)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, x := range tr {
			found = found || strings.Contains(x.Cause, "died before it began")
		}
		if !found {
			t.Errorf("%s: no redispatch in its transitions %+v", s.Hostname, tr)
		}
		if got := e.devices[s.Hostname].Endpoint.Machine.Truth().UpgradesLaunched; got != 1 {
			t.Errorf("%s: setup launched %d times, want 1", s.Hostname, got)
		}
	}
	// Only the jobs the dead process took: the jobs that dispatched the
	// devices again may still read running for a moment after the campaign
	// is done, until River's completer records them.
	if stuck := q.count(ctx, q.stuck); stuck != 0 {
		t.Errorf("%d dead device jobs left running and not cancelled", stuck)
	}
	if dead := q.count(ctx, q.dead); dead != 3 {
		t.Errorf("%d jobs of the dead process found, want 3: the check above looked at the wrong rows", dead)
	}
}

// riverQueries are the statements jobTakenByDeadWorker runs on River's
// tables in one engine's dialect.
type riverQueries struct {
	// markDead marks every device job running, taken an hour ago by a
	// process that is gone.
	markDead string
	// stuck counts the dead process's device jobs still running and not
	// being cancelled; dead counts all of its jobs.
	stuck, dead string
	exec        func(ctx context.Context, sql string) int64
	count       func(ctx context.Context, sql string) int
}

func riverSQL(t *testing.T, db store.DB) riverQueries {
	fail := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	switch db := db.(type) {
	case *store.SQLite:
		return riverQueries{
			markDead: `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = datetime('now', '-1 hour'),
				attempted_by = '["dead-process"]' WHERE kind = 'ringmaster_device_run'`,
			stuck: `SELECT count(*) FROM river_job WHERE kind = 'ringmaster_device_run' AND state = 'running'
				AND attempted_by = '["dead-process"]' AND json_extract(metadata, '$.cancel_attempted_at') IS NULL`,
			dead: `SELECT count(*) FROM river_job WHERE attempted_by = '["dead-process"]'`,
			exec: func(ctx context.Context, sql string) int64 {
				res, err := db.SQL().ExecContext(ctx, sql)
				fail(err)
				n, err := res.RowsAffected()
				fail(err)
				return n
			},
			count: func(ctx context.Context, sql string) (n int) {
				fail(db.SQL().QueryRowContext(ctx, sql).Scan(&n))
				return n
			},
		}
	case *store.Postgres:
		return riverQueries{
			markDead: `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() - interval '1 hour',
				attempted_by = ARRAY['dead-process'] WHERE kind = 'ringmaster_device_run'`,
			stuck: `SELECT count(*) FROM river_job WHERE kind = 'ringmaster_device_run' AND state = 'running'
				AND attempted_by = ARRAY['dead-process'] AND metadata->>'cancel_attempted_at' IS NULL`,
			dead: `SELECT count(*) FROM river_job WHERE attempted_by = ARRAY['dead-process']`,
			exec: func(ctx context.Context, sql string) int64 {
				tag, err := db.Pool().Exec(ctx, sql)
				fail(err)
				return tag.RowsAffected()
			},
			count: func(ctx context.Context, sql string) (n int) {
				fail(db.Pool().QueryRow(ctx, sql).Scan(&n))
				return n
			},
		}
	}
	t.Fatalf("no River tables on a %T", db)
	return riverQueries{}
}

// orgTruth is what the simulator says of an organisation's devices after
// the campaign: builds, failures, and standing against the test alert
// (HSA-TEST-1 in checkReportsFromRollup).
type orgTruth struct {
	devices, onTarget, failed, compat     int
	affected, compliant, exposed, unknown int
}

func truthByOrg(t *testing.T, e *estate, members []orchestrator.DeviceRecord) map[string]*orgTruth {
	t.Helper()
	inCampaign := map[string]bool{}
	for _, m := range members {
		inCampaign[m.Hostname] = true
	}
	truth := map[string]*orgTruth{}
	for d, err := range e.inv.Devices(context.Background(), inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		w := truth[d.Org]
		if w == nil {
			w = &orgTruth{}
			truth[d.Org] = w
		}
		tr := e.devices[d.Hostname].Endpoint.Machine.Truth()
		w.devices++
		switch {
		case tr.Build == "10.0.19045":
			w.onTarget++
		case tr.UpgradesLaunched == 0:
			w.failed++ // blocked by the compatibility scan
			w.compat++
		default:
			w.failed++ // rolled back
		}
		switch {
		case !inCampaign[d.Hostname]:
			w.unknown++ // imported with its build only, never probed
		case tr.Build == "10.0.18363" && (slices.Contains(tr.KBs, "KB4512508") || slices.Contains(tr.KBs, "KB4517389")):
			w.affected++
			w.compliant++
		case tr.Build == "10.0.18363" || tr.Build == "10.0.19045" && !slices.Contains(tr.KBs, "KB5046613"):
			w.affected++
			w.exposed++
		}
	}
	return truth
}

// checkReportsFromRollup computes the progress and an alert's compliance
// as the CLI does without a campaign, from the inventory's rollup, and
// compares every figure per organisation with the simulator's ground
// truth (devices the campaign never ran on were never observed: their
// updates are unknown).
func checkReportsFromRollup(t *testing.T, e *estate, orgs []inventory.Organisation, truth map[string]*orgTruth) {
	t.Helper()
	ctx := context.Background()
	al, err := alerts.Parse("hsa.yaml", []byte(`id: HSA-TEST-1
title: a test alert
issued: 2026-11-01
deadline: 2026-11-20
remediation:
  "10.0.18363": [KB4512508]
  "10.0.19045": [KB5046613]
supersedence:
  KB4512508: [KB4517389]
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.inv.WatchKBs(ctx, al.KBs()); err != nil {
		t.Fatal(err)
	}
	target, _, _ := inventory.ParseVersion("10.0.19045")
	now := time.Now()
	pb := report.NewProgress(orgs, report.ProgressOptions{TargetBuild: target, Now: now})
	cb := report.NewCompliance(al, orgs, now)
	for c, err := range e.inv.Cohorts(ctx, inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		pb.AddCohort(&c, nil)
		cb.AddCohort(&c)
	}
	p, c := pb.Build(), cb.Build()
	for i, r := range p.Rows {
		w := truth[r.Org]
		if r.Devices != w.devices || r.OnTarget != w.onTarget {
			t.Errorf("rollup progress %s: %d devices, %d on target; the simulator says %d, %d", r.Org, r.Devices, r.OnTarget, w.devices, w.onTarget)
		}
		cr := c.Rows[i]
		if cr.Org != r.Org || cr.Affected != w.affected || cr.Compliant != w.compliant || cr.Exposed != w.exposed || cr.Unknown != w.unknown {
			t.Errorf("compliance %+v; the simulator says %+v", cr, *w)
		}
		if w.compliant == 0 || w.exposed == 0 {
			t.Errorf("%s: %+v: the estate should have both compliant and exposed devices", r.Org, *w)
		}
	}
}

// TestConcurrentStart: two processes starting on a fresh database file at
// once (two ringmaster runs: each opens the inventory and the campaign
// store, then migrates River) both start. Each used to fail now and then:
// River's migrations read the applied versions outside the transaction
// that applied the next ("table river_notification already exists"), the
// stores' did the same, and switching the new file to WAL answered the
// loser SQLITE_BUSY at once.
// TestKick: with a tick of an hour, only the periodic job's pass at start
// and kicks decide. A campaign started through the application, its
// Changed wired to Kick as a node serving people would, dispatches its
// first wave; its devices finishing kick the passes that start the second
// wave and complete the campaign. Without kicks it would wait an hour.
func TestKick(t *testing.T) { forEngines(t, kick) }

func kick(t *testing.T, eng engine) {
	specs := make([]device.Spec, 4)
	for i := range specs {
		s := simtest.Win10(device.Behaviour{})
		s.Hostname = fmt.Sprintf("pc%03d.ra.nhs.uk", i)
		s.Build = "10.0.18363"
		specs[i] = s
	}
	e := newEstate(t, eng, specs, func(int) string { return "RA" })
	ctx := context.Background()
	sched := e.startTick(t, time.Hour, nil)
	app := campaigns.New(campaigns.Config{Store: e.store, Inventory: e, Now: e.clock.Now, Changed: sched.Kick,
		Playbooks: func(name string) (string, []byte, error) {
			src, err := builtin.Source(name)
			return "builtin/" + name + ".yaml", src, err
		}})
	if _, err := app.Create(ctx, "kicked.yaml", []byte("name: kicked\nplaybook: discover\nwaves: [{name: one, count: 2}, {name: two}]\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the pass at start has seen the draft
	if _, err := app.Start(ctx, "kicked"); err != nil {
		t.Fatal(err)
	}
	e.waitDone(t, "kicked", time.Minute)
}

func TestConcurrentStart(t *testing.T) {
	ctx := context.Background()
	for round := range 40 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("r%d.db", round))
		start := make(chan struct{})
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				<-start
				db, err := sqlite.Open(ctx, path, sqlite.Options{})
				if err != nil {
					errs[i] = err
					return
				}
				defer db.Close()
				if _, err := db.Campaigns(ctx); err != nil {
					errs[i] = err
					return
				}
				errs[i] = scheduler.Migrate(ctx, scheduler.SQLiteJobs(db.SQL(), nil))
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, process %d: %v", round, i, err)
			}
		}
	}
}
