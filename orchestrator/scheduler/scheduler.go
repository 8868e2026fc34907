// Package scheduler runs campaigns on River: a periodic control job (run
// only by River's elected leader, so once across a cluster) asks the
// controller for a plan for every campaign that changed or whose wake-up
// time has come, and applies it, inserting one job per dispatched device in
// the same transaction; device jobs run the playbook engine through an
// executor, save a checkpoint after every step, and record the outcome.
// Workers hold a lease on their device and renew it while they run; a
// device whose worker went silent is re-queued under a new generation and
// resumes from its checkpoint, and a stale job finds it superseded and
// does nothing. River keeps its jobs in the campaign store's database
// (Jobs): the embedded SQLite by default (riversqlite), or PostgreSQL
// shared by several nodes (riverpgxv5), where River's elected leader runs
// the control passes and every node's workers run devices. Campaigns are
// read and changed through orchestrator.Store only, whose implementation
// calls the scheduler back with its transaction to insert device jobs.
package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// Clock is the scheduler's time: tests and a planning command run it on a
// simulated clock.
type Clock interface {
	Now() time.Time
}

// Reacher turns an inventory hostname into what the engine runs on.
type Reacher interface {
	Reach(ctx context.Context, hostname string) (sdk.Target, playbooks.Executor, error)
}

// Config wires a scheduler.
type Config struct {
	// Jobs is where River keeps its jobs: the campaign store's database
	// (SQLiteJobs, PostgresJobs).
	Jobs Jobs
	// Store is the campaign store; its transactions are on Jobs' database,
	// so that device jobs are inserted in the transaction that dispatches
	// them.
	Store orchestrator.Store
	// Inventory gives organisations' time zones (for their windows) and
	// when devices were last seen alive (a deferred device seen again is
	// tried at once).
	Inventory orchestrator.Inventory
	Reacher   Reacher
	// Playbook parses a campaign's stored playbook.
	Playbook    func(file string, src []byte) (*playbooks.Playbook, error)
	Clock       Clock           // default: the wall clock
	EngineClock playbooks.Clock // default: the wall clock
	Workers     int             // devices run at once by this process (default 50)
	// Tick is how often the control job looks for campaigns to decide for
	// (default 1s): pause and cancel take effect within it.
	Tick time.Duration
	// Lease is how long a worker may be silent, on the wall clock whatever
	// Clock says, before its device is taken as orphaned (default 30s); it
	// renews every third of it.
	Lease  time.Duration
	Logger *slog.Logger
	// OnOutcome, if set, is called after each device's outcome is stored.
	OnOutcome func(campaign, hostname string, o playbooks.Outcome)
	// Observe, if set, records what the last probe of a run saw on the
	// device (after its restarts), observed at at on the engine's clock,
	// so that reports rest on observed facts (discovery.Facts maps them to
	// the inventory's).
	Observe func(ctx context.Context, hostname string, facts sdk.Facts, at time.Time) error
	// OnApplied, if set, is told of every plan applied, after it is
	// stored (notify.Notifier.Applied derives from it the waves halted,
	// approvals needed and campaigns done that people are told of).
	OnApplied func(ctx context.Context, a orchestrator.AppliedPlan)
	// OnPass, if set, is told of every control pass when it ends (a
	// server's metrics, a benchmark's timings).
	OnPass func(Pass)
	// Placement limits this node to the organisations whose network it
	// is in (ringmaster run --serve): it works the job queue of that
	// placement only. The zero Placement serves every organisation.
	Placement orchestrator.Placement
	// Nodes, if set, is the registry of the nodes sharing the database:
	// this node registers itself under Name and renews its registration
	// every third of a lease while it runs. Devices are routed to the
	// queue of a live node that serves their organisation, and an
	// organisation no live node serves waits for one. Without it this
	// node is taken as the only one.
	Nodes orchestrator.Nodes
	// Name names this node in the registry and as River's client
	// (default DefaultName); Version is recorded beside it.
	Name, Version string
}

// Scheduler runs campaigns.
type Scheduler struct {
	cfg    Config
	client queue
	log    *slog.Logger
	// kicked says a kick's control job is about to be inserted (see Kick);
	// kicks counts those not done yet, which Stop waits for.
	kicked   atomic.Bool
	kickMu   sync.Mutex
	stopping bool
	kicks    sync.WaitGroup
	// cancels tells running devices their campaign was cancelled.
	cancels *cancelWatch
	// parsed holds each campaign's spec and playbook parsed once for
	// all its devices.
	parsed parsedCache
	// wakeListener, if set, tells River's listener that this process has
	// just committed jobs (see pollListener).
	wakeListener func()
	// queue is the job queue this node works (its placement's).
	queue string
	// started is when this node registered; routes what the live nodes
	// serve, as the last pass or sweep read it; unregister ends this
	// node's registration.
	started    time.Time
	routes     atomic.Pointer[routing]
	unregister func(context.Context)
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// New returns a scheduler; Start runs it.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Clock == nil {
		cfg.Clock = wallClock{}
	}
	if cfg.EngineClock == nil {
		cfg.EngineClock = playbooks.SystemClock{}
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 50
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName()
	}
	s := &Scheduler{cfg: cfg, log: cfg.Logger, queue: cfg.Placement.Queue(),
		cancels: &cancelWatch{campaign: cfg.Store.Campaign, every: min(cfg.Tick, time.Second), timeout: cfg.Lease}}
	workers := river.NewWorkers()
	river.AddWorker(workers, &deviceWorker{s: s})
	river.AddWorker(workers, &controlWorker{s: s})
	river.AddWorker(workers, &sweepWorker{s: s})
	if cfg.Jobs == nil {
		return nil, errors.New("scheduler: Config.Jobs is not set: say where River keeps its jobs")
	}
	client, wake, err := cfg.Jobs.client(&river.Config{
		// River's own info lines (job counts every few seconds) would drown
		// the campaign's progress: only its warnings and errors pass.
		Logger: slog.New(minLevel{slog.LevelWarn, cfg.Logger.Handler()}),
		ID:     cfg.Name,
		Queues: map[string]river.QueueConfig{
			s.queue: {MaxWorkers: cfg.Workers},
			// The control and sweep jobs are inserted by River's periodic
			// enqueuer or by Kick, and the insert's notification wakes
			// their producers: polling is only the backstop.
			queueControl: {MaxWorkers: 1, FetchPollInterval: backstopPoll},
			queueSweep:   {MaxWorkers: 1, FetchPollInterval: backstopPoll},
		},
		Workers: workers,
		// Inserts notify the queues' producers (LISTEN/NOTIFY on
		// PostgreSQL, pollListener on SQLite); polling is a backstop. Each
		// poll is a query per queue, on SQLite on the one write connection,
		// idle or not; a second between them is nothing beside runs that
		// last hours, and keeps an idle node idle.
		FetchPollInterval: time.Second,
		FetchCooldown:     50 * time.Millisecond,
		// A playbook run takes hours (a feature update with its restarts);
		// the engine bounds every step itself, so River sets no timeout.
		// Without a timeout River's rescuer never retries a job left
		// "running" by a killed process: the device lease finds those
		// (sweepJobs), and the rescuer only finalises the jobs it cancels.
		JobTimeout:           -1,
		RescueStuckJobsAfter: max(10*cfg.Lease, time.Minute),
		// A device's outcome is the campaign store's; River's row of a
		// completed job serves nothing after it, and a national campaign
		// completes over a million of them: an hour, not River's day.
		CompletedJobRetentionPeriod: time.Hour,
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(cfg.Tick),
			func() (river.JobArgs, *river.InsertOpts) { return controlArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true, ID: "ringmaster_control"}),
			// Dead workers' jobs are swept apart from the control passes,
			// which they would otherwise lengthen (every running job is
			// listed), every third of a lease so a dead one is found
			// within a lease.
			river.NewPeriodicJob(river.PeriodicInterval(max(cfg.Lease/3, time.Second)),
				func() (river.JobArgs, *river.InsertOpts) { return sweepArgs{}, nil },
				&river.PeriodicJobOpts{ID: "ringmaster_sweep"})},
	})
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s.client, s.wakeListener = client, wake
	return s, nil
}

// Start runs the control job (when this process is River's leader) and
// device workers until ctx ends or Stop.
func (s *Scheduler) Start(ctx context.Context) error {
	s.kickMu.Lock()
	s.stopping = false
	s.kickMu.Unlock()
	unregister, err := s.register(ctx)
	if err != nil {
		return err
	}
	if err := s.client.Start(ctx); err != nil {
		unregister(context.WithoutCancel(ctx))
		return err
	}
	s.unregister = unregister
	return nil
}

// Stop stops taking jobs and waits for running ones to finish (they stop
// promptly when ctx is cancelled; a stopped device resumes later).
func (s *Scheduler) Stop(ctx context.Context) error {
	s.kickMu.Lock()
	s.stopping = true
	s.kickMu.Unlock()
	err := s.client.Stop(ctx)
	s.kicks.Wait()
	if s.unregister != nil {
		s.unregister(context.WithoutCancel(ctx))
		s.unregister = nil
	}
	return err
}

// backstopPoll is how often the control and sweep queues are polled for a
// job whose insert notification was missed (while the listener
// reconnects, or one River's insert limiter held back): a few ticks.
const backstopPoll = 3 * time.Second

// The queues of the control and sweep jobs; device jobs go to the queue
// of a placement (orchestrator.Placement.Queue).
const (
	queueControl = "control"
	queueSweep   = "sweep"
)

// deviceArgs is the job that runs a campaign's playbook on one device, for
// one dispatch (generation).
type deviceArgs struct {
	Campaign   string `json:"campaign"`
	Hostname   string `json:"hostname"`
	Generation int    `json:"generation"`
}

func (deviceArgs) Kind() string { return "ringmaster_device_run" }

func (deviceArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: orchestrator.DefaultQueue, MaxAttempts: 25, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// controlArgs is the periodic control job.
type controlArgs struct{}

func (controlArgs) Kind() string { return "ringmaster_control" }

func (controlArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueControl, MaxAttempts: 1}
}

// oneAtATime makes a periodic sweep unique while one waits or runs
// anywhere: one is enough, and a sweep missed is the next one's work.
var oneAtATime = river.UniqueOpts{ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
	rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled}}

// enqueue inserts device jobs in the transaction that queued them, each
// in the queue of a node that serves its organisation (route): the store
// calls it (an orchestrator.Enqueue) before it commits.
func (s *Scheduler) enqueue(ctx context.Context, t orchestrator.Tx, ds []orchestrator.Dispatch) error {
	params := make([]river.InsertManyParams, len(ds))
	for i, d := range ds {
		params[i] = river.InsertManyParams{Args: deviceArgs{Campaign: d.Campaign, Hostname: d.Hostname, Generation: d.Generation},
			InsertOpts: &river.InsertOpts{Queue: s.route(d.Org, d.Hostname)}}
	}
	if err := s.client.insertManyTx(ctx, t, params); err != nil {
		return fmt.Errorf("enqueue %d device runs: %w", len(ds), err)
	}
	return nil
}

// sweepArgs is the periodic job that sweeps dead workers' device jobs.
type sweepArgs struct{}

func (sweepArgs) Kind() string { return "ringmaster_sweep" }

func (sweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueSweep, MaxAttempts: 1, UniqueOpts: oneAtATime}
}

type sweepWorker struct {
	river.WorkerDefaults[sweepArgs]
	s *Scheduler
}

// Work sweeps device jobs (see sweepJobs) and moves those waiting in
// queues no live node serves (see reroute).
func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[sweepArgs]) error {
	err := w.s.sweepJobs(ctx)
	if r, rerr := w.s.refresh(ctx, true); rerr != nil {
		err = errors.Join(err, rerr)
	} else {
		err = errors.Join(err, w.s.reroute(ctx, r))
	}
	if err != nil {
		w.s.log.Error("sweeping device jobs failed", "err", err)
		return err
	}
	return nil
}

type controlWorker struct {
	river.WorkerDefaults[controlArgs]
	s *Scheduler
}

// Work decides for every campaign that is due and applies the plans.
func (w *controlWorker) Work(ctx context.Context, _ *river.Job[controlArgs]) error {
	return w.s.Control(ctx)
}

// Control runs the controller for every due campaign, and again at once
// while a pass leaves a campaign with more to dispatch (see MaxDispatch).
// The periodic control job calls it; tests may too.
//
// Passes run one at a time across every node on the database (Jobs'
// lock): the leader alone inserts the periodic control job, but any node
// kicks one and every node works the control queue, and two passes at
// once would each decide on a view the other is changing (a wave's cap
// dispatched twice over, a halted wave dispatched into). A kicked pass
// waits for the one under way rather than being dropped, so what it was
// for is never left to the next tick.
func (s *Scheduler) Control(ctx context.Context) error {
	unlock, err := s.cfg.Jobs.passLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	for {
		more, err := s.pass(ctx)
		if err != nil || !more || ctx.Err() != nil {
			return err
		}
	}
}

// Kick asks for a control pass soon rather than at the next tick: a
// device finished, or a person acted on a campaign in this process. Kicks
// within kickDelay of one another make one control job, inserted like the
// periodic one (so a pass still runs wherever River runs the control
// queue, one at a time); an idle node inserts none.
func (s *Scheduler) Kick() {
	s.kickMu.Lock()
	defer s.kickMu.Unlock()
	if s.stopping || !s.kicked.CompareAndSwap(false, true) {
		return
	}
	s.kicks.Add(1)
	time.AfterFunc(kickDelay, func() {
		defer s.kicks.Done()
		s.kicked.Store(false)
		s.kickMu.Lock()
		stopping := s.stopping
		s.kickMu.Unlock()
		if stopping {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Lease)
		defer cancel()
		if _, err := s.client.Insert(ctx, controlArgs{}, nil); err != nil {
			s.log.Warn("could not ask for a control pass: the next tick decides", "err", err)
			return
		}
		s.wake()
	})
}

// kickDelay gathers the kicks of one burst (a wave's devices finishing
// together) into one control job.
const kickDelay = 100 * time.Millisecond

// MaxDispatch is the most devices one control pass dispatches for a
// campaign, so that a pass stays short (a pause or a halt waits for no
// more than one) whatever a wave opens; a pass that could dispatch more
// leaves the campaign due, and the control job passes again at once.
// Under a thousand busy workers a pass of 200 takes about 50 ms, most of
// it waiting for the one SQLite writer; 500 took twice as long for no
// more devices a second (make bench-national).
const MaxDispatch = 200

// Pass is what one control pass did: how many campaigns it decided for,
// how many devices it dispatched, and how long it took (finding the due
// campaigns and their orphans, reading, deciding, applying).
type Pass struct {
	Campaigns  int
	Dispatched int
	Took       time.Duration
	// Read is the part of Took spent reading views and deciding, Apply
	// the part spent applying plans (the store's write transactions).
	Read, Apply time.Duration
}

// pass is one control pass; more reports a campaign left with more to
// dispatch at once.
func (s *Scheduler) pass(ctx context.Context) (more bool, err error) {
	start := time.Now()
	var pass Pass
	defer func() {
		if s.cfg.OnPass != nil {
			pass.Took = time.Since(start)
			s.cfg.OnPass(pass)
		}
	}()
	var errs []error
	if _, err := s.refresh(ctx, false); err != nil {
		return false, fmt.Errorf("control: %w", err)
	}
	now := s.cfg.Clock.Now()
	names, err := s.cfg.Store.Due(ctx, now, time.Now())
	if err != nil {
		return false, errors.Join(append(errs, fmt.Errorf("control: %w", err))...)
	}
	pass.Campaigns = len(names)
	for _, name := range names {
		n, rest, err := s.control(ctx, name, now, &pass)
		pass.Dispatched += n
		more = more || rest
		if err != nil {
			s.log.Error("campaign control failed", "campaign", name, "err", err)
			errs = append(errs, err)
		}
	}
	return more, errors.Join(errs...)
}

// View reads a campaign's state into the controller's view.
func (s *Scheduler) View(ctx context.Context, name string) (orchestrator.View, error) {
	c, err := s.cfg.Store.Campaign(ctx, name)
	if err != nil {
		return orchestrator.View{}, err
	}
	return orchestrator.ReadView(ctx, s.cfg.Store, s.cfg.Inventory, c)
}

// control re-queues a campaign's orphaned devices, decides for it and
// applies the plan: it returns how many devices it dispatched, and
// whether it left more to dispatch at once.
func (s *Scheduler) control(ctx context.Context, name string, now time.Time, pass *Pass) (int, bool, error) {
	orphans, err := s.cfg.Store.Orphans(ctx, name, time.Now(), s.enqueue)
	if err != nil {
		return 0, false, err
	}
	// The campaign is read first: a change after this bumps its seq, and
	// Apply then leaves it marked for another decision.
	read := time.Now()
	c, err := s.cfg.Store.Campaign(ctx, name)
	if err != nil {
		return len(orphans), false, err
	}
	v, err := orchestrator.ReadView(ctx, s.cfg.Store, s.cfg.Inventory, c)
	if err != nil {
		return len(orphans), false, err
	}
	v.MaxDispatch = MaxDispatch
	v.Unserved = unserved(s.routes.Load(), v)
	plan := orchestrator.Decide(v, now)
	if err := v.Err(); err != nil {
		return len(orphans), false, err // a plan decided on a view read in part is not applied
	}
	more := plan.More
	apply := time.Now()
	pass.Read += apply.Sub(read)
	ds, err := s.cfg.Store.Apply(ctx, name, c.Seq, plan, now, "controller", s.enqueue)
	pass.Apply += time.Since(apply)
	if err != nil {
		return len(orphans), false, err
	}
	if len(orphans)+len(ds) > 0 {
		s.wake() // their jobs are committed: fetch them now
	}
	n := len(orphans) + len(ds)
	if s.cfg.OnApplied != nil {
		a := orchestrator.AppliedPlan{Campaign: name, Seq: c.Seq, View: v, Plan: plan, At: now}
		if plan.Done {
			// Apply completes it only if nothing changed meanwhile.
			after, err := s.cfg.Store.Campaign(ctx, name)
			if err != nil {
				return n, more, err
			}
			a.Done = after.Status == orchestrator.StatusDone
		}
		s.cfg.OnApplied(ctx, a)
	}
	for _, c := range plan.WaveChanges {
		s.log.Info("wave", "campaign", name, "wave", v.Spec.Waves[c.Wave].Name, "status", c.State.Status, "why", c.Reason)
	}
	if len(ds) > 0 || plan.Done {
		s.log.Info("dispatched", "campaign", name, "devices", len(ds), "done", plan.Done, "wake_at", plan.WakeAt)
	}
	return n, more, nil
}

// wake tells River's listener, if it needs telling, that this process
// has just committed jobs: fetch them now.
func (s *Scheduler) wake() {
	if s.wakeListener != nil {
		s.wakeListener()
	}
}

// minLevel passes only records at or above its level to a handler.
type minLevel struct {
	level slog.Level
	slog.Handler
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.level, h.Handler.WithAttrs(as)}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.level, h.Handler.WithGroup(name)}
}

// sweepJobs settles device jobs River holds as running but no live worker
// runs. A worker marks its device running (with a lease) as soon as it
// takes a job, so a job taken more than a lease ago is dead when
//   - its device is still queued under the job's generation: the process
//     that took it died before it began. The device gets a new generation
//     and job (Redispatch), and the dead one is cancelled;
//   - its device has moved on (a new generation after its lease lapsed, or
//     a final state): the job is cancelled so River finalises it.
//
// A job whose device runs under its generation is left alone: the lease
// says whether its worker lives, and Orphans acts when it lapses.
func (s *Scheduler) sweepJobs(ctx context.Context) error {
	const page = 500
	params := river.NewJobListParams().Kinds(deviceArgs{}.Kind()).States(rivertype.JobStateRunning).First(page)
	wall := time.Now()
	var errs []error
	for {
		res, err := s.client.JobList(ctx, params)
		if err != nil {
			return fmt.Errorf("list running device jobs: %w", err)
		}
		for _, j := range res.Jobs {
			if j.AttemptedAt == nil || wall.Sub(*j.AttemptedAt) < s.cfg.Lease {
				continue
			}
			if err := s.settleJob(ctx, j); err != nil {
				errs = append(errs, fmt.Errorf("device job %d: %w", j.ID, err))
			}
		}
		if len(res.Jobs) < page {
			return errors.Join(errs...)
		}
		params = params.After(res.LastCursor)
	}
}

func (s *Scheduler) settleJob(ctx context.Context, j *rivertype.JobRow) error {
	var a deviceArgs
	if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
		return fmt.Errorf("args: %w", err)
	}
	d, err := s.cfg.Store.Device(ctx, a.Campaign, a.Hostname)
	switch {
	case errors.Is(err, errkind.NotFound):
	case err != nil:
		return err
	case d.Generation == a.Generation && d.State == orchestrator.DeviceRunning:
		return nil
	case d.Generation == a.Generation && orchestrator.EventRedispatch.Allows(d.State, orchestrator.DeviceQueued):
		moved, err := s.cfg.Store.Redispatch(ctx, a.Campaign, a.Hostname, a.Generation,
			"controller: the worker that took its job died before it began", s.enqueue)
		if err != nil {
			return err
		}
		if moved {
			s.wake()
			s.log.Info("device job taken by a dead worker: dispatched again", "campaign", a.Campaign, "device", a.Hostname, "generation", a.Generation)
		}
	}
	if _, err := s.client.JobCancel(ctx, j.ID); err != nil && !errors.Is(err, river.ErrNotFound) {
		return fmt.Errorf("cancel: %w", err)
	}
	return nil
}
