package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

type deviceWorker struct {
	river.WorkerDefaults[deviceArgs]
	s *Scheduler
}

// errCampaignCancelled stops a run whose campaign was cancelled.
var errCampaignCancelled = errors.New("campaign cancelled")

// Work runs the campaign's playbook on one device, from its checkpoint if it
// has one, and records the outcome. A device outcome is never a job error:
// only a failure to record it is, and River retries that.
func (w *deviceWorker) Work(ctx context.Context, job *river.Job[deviceArgs]) error {
	s, a := w.s, job.Args
	store := s.cfg.Store
	begun := time.Now()
	run, err := store.Begin(ctx, a.Campaign, a.Hostname, a.Generation, begun, s.cfg.Lease)
	switch {
	case errors.Is(err, orchestrator.ErrStale), errors.Is(err, errkind.NotFound):
		s.log.Info("stale device job dropped", "campaign", a.Campaign, "device", a.Hostname, "generation", a.Generation, "why", err)
		return nil
	case errors.Is(err, orchestrator.ErrState): // another worker still holds it
		return river.JobSnooze(s.cfg.Lease)
	case err != nil:
		return err
	}
	c, err := store.Campaign(ctx, a.Campaign)
	if err != nil {
		return err
	}
	if c.Status == orchestrator.StatusCancelled {
		return w.finish(ctx, a, orchestrator.DeviceSkipped, orchestrator.ReasonCancelled, "the campaign was cancelled", time.Time{})
	}
	parsed := s.parsed.get(c, s.cfg.Playbook)
	if parsed.specErr != nil {
		return parsed.specErr
	}
	spec, pb := parsed.parsedSpec, parsed.parsedPB
	if parsed.pbErr != nil {
		return w.finish(ctx, a, orchestrator.DeviceFailed, orchestrator.ReasonBadPlaybook, parsed.pbErr.Error(), time.Time{})
	}
	target, exec, err := s.cfg.Reacher.Reach(ctx, a.Hostname)
	if err != nil {
		return w.finish(ctx, a, orchestrator.DeviceFailed, orchestrator.ReasonNoTarget, err.Error(), time.Time{})
	}
	var resume *playbooks.Checkpoint
	if len(run.Checkpoint) > 0 {
		resume = new(playbooks.Checkpoint)
		if err := json.Unmarshal(run.Checkpoint, resume); err != nil {
			return fmt.Errorf("campaign %s device %s: stored checkpoint: %w", a.Campaign, a.Hostname, err)
		}
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lease := &leaseKeeper{w: w, a: a, renewed: begun}
	stop := lease.keep(runCtx, cancel)
	defer stop()
	engine := &playbooks.Engine{Executor: exec, Clock: s.cfg.EngineClock}
	out, err := engine.Execute(runCtx, playbooks.Run{Playbook: pb, Target: target, Params: spec.Params, Resume: resume, ID: run.RunID},
		playbooks.SinkFunc(func(e playbooks.Event) { lease.event(ctx, e) }))
	// The lease is kept until the outcome is stored: what the run
	// observed may wait to be recorded (behind an import on PostgreSQL),
	// and a device whose lease lapsed meanwhile would run again.
	if lerr := lease.failed(); lerr != nil {
		stop()
		return lerr // the checkpoint could not be saved: let River retry; the lease lapses and the device resumes
	}
	switch {
	case errors.Is(context.Cause(runCtx), errCampaignCancelled):
		stop()
		return w.finish(ctx, a, orchestrator.DeviceSkipped, orchestrator.ReasonCancelled, "the campaign was cancelled while it ran", time.Time{})
	case err != nil && ctx.Err() != nil:
		// This process is stopping: leave the device running; its lease
		// lapses and it resumes from its checkpoint.
		return ctx.Err()
	case err != nil:
		stop()
		return w.finish(ctx, a, orchestrator.DeviceFailed, orchestrator.ReasonBadRun, err.Error(), time.Time{})
	}
	state, next := spec.AfterRun(out, run.Attempt, s.cfg.Clock.Now())
	msg := out.Message
	if out.Step != "" {
		msg = fmt.Sprintf("step %q: %s", out.Step, out.Message)
	}
	if observed, at := lease.observed(); observed != nil && s.cfg.Observe != nil {
		if err := s.cfg.Observe(ctx, a.Hostname, *observed, at); err != nil {
			s.log.Warn("could not record what the run observed", "device", a.Hostname, "err", err)
		}
	}
	stop()
	stored, err := w.record(ctx, a, state, out.Reason, msg, next)
	if err != nil || !stored {
		return err
	}
	s.Kick() // a cap has room, or the wave or campaign may be done
	if s.cfg.OnOutcome != nil {
		s.cfg.OnOutcome(a.Campaign, a.Hostname, out)
	}
	return nil
}

// finish records how a run ended (see record).
func (w *deviceWorker) finish(ctx context.Context, a deviceArgs, state orchestrator.DeviceState, reason orchestrator.Reason, msg string, next time.Time) error {
	_, err := w.record(ctx, a, state, reason, msg, next)
	return err
}

// record stores how a run ended; stored is false when the run was
// superseded (its outcome is dropped: another generation owns the device,
// and nothing of this run is reported).
func (w *deviceWorker) record(ctx context.Context, a deviceArgs, state orchestrator.DeviceState, reason orchestrator.Reason, msg string, next time.Time) (stored bool, err error) {
	err = w.s.cfg.Store.Finish(ctx, a.Campaign, a.Hostname, a.Generation, state, reason, msg, next)
	if errors.Is(err, orchestrator.ErrStale) {
		w.s.log.Warn("outcome of a superseded run dropped", "campaign", a.Campaign, "device", a.Hostname, "state", state, "reason", reason)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	w.s.log.Info("device finished", "campaign", a.Campaign, "device", a.Hostname, "state", state, "reason", reason)
	return true, nil
}

// leaseKeeper renews a running device's lease, saves its checkpoint after
// every step before the next starts, and stops the run if its campaign is
// cancelled.
type leaseKeeper struct {
	w *deviceWorker
	a deviceArgs

	mu    sync.Mutex
	step  string
	err   error
	facts *sdk.Facts // the last probe's facts
	seen  time.Time
	// renewed is when the lease was last renewed (by a heartbeat or a
	// checkpoint): the next renewal is due a third of a lease after it.
	renewed time.Time
}

// observed returns the last probe's facts and when they were seen.
func (l *leaseKeeper) observed() (*sdk.Facts, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.facts, l.seen
}

func (l *leaseKeeper) failed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *leaseKeeper) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
}

// event records progress: the current step, and at each step's end the
// checkpoint, written before the engine goes on.
func (l *leaseKeeper) event(ctx context.Context, e playbooks.Event) {
	switch e.Kind {
	case playbooks.EventFacts:
		if e.Probe != nil { // a probe's facts, not a registered one
			l.mu.Lock()
			l.facts, l.seen = e.Probe, e.At
			l.mu.Unlock()
		}
	case playbooks.EventStepStarted:
		l.mu.Lock()
		l.step = e.Step
		l.mu.Unlock()
	case playbooks.EventStepFinished:
		at := time.Now()
		cp, err := json.Marshal(e.Checkpoint)
		if err == nil {
			err = l.heartbeat(ctx, at, e.Step, cp)
		}
		if err != nil {
			l.fail(fmt.Errorf("save checkpoint after step %q: %w", e.Step, err))
		} else {
			l.renewedAt(at)
		}
	}
}

// keep renews the lease every third of its length until stop (a
// checkpoint saved after a step renews it too, and the next renewal is a
// third of a lease after it), and cancels the run when the campaign is
// cancelled or the lease cannot be renewed (another worker may then take
// the device over). It holds no goroutine while it waits: a timer renews
// the lease and the scheduler's cancel watch cancels the run, so ten
// thousand devices waiting on reboots cost ten thousand timers. Once stop
// returns, no renewal runs or will run.
func (l *leaseKeeper) keep(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	s := l.w.s
	every := s.cfg.Lease / 3
	release := s.cancels.watch(l.a.Campaign, func() { cancel(errCampaignCancelled) })
	var (
		renewing sync.Mutex // held by a renewal while it runs
		stopped  bool       // under l.mu
		timer    *time.Timer
	)
	renew := func() {
		renewing.Lock()
		defer renewing.Unlock()
		l.mu.Lock()
		step, due, done := l.step, l.renewed.Add(every), stopped
		l.mu.Unlock()
		if done {
			return
		}
		if wait := time.Until(due); wait > 0 { // a checkpoint renewed it since
			timer.Reset(wait)
			return
		}
		at := time.Now()
		if err := l.heartbeat(ctx, at, step, nil); err != nil {
			l.fail(fmt.Errorf("renew lease: %w", err))
			cancel(err)
			return
		}
		l.renewedAt(at)
		timer.Reset(every)
	}
	renewing.Lock() // the timer's first renewal waits until timer is set
	timer = time.AfterFunc(every, renew)
	renewing.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			stopped = true
			l.mu.Unlock()
			timer.Stop()
			renewing.Lock() // a renewal under way ends first
			release()
			renewing.Unlock()
		})
	}
}

// heartbeat renews the lease from at, recording the step and checkpoint
// (nil keeps the stored one). It gives up after a third of a lease: a
// worker cut off from the database (a network partition can hold a write
// for many minutes) then stops its run before its lease lapses and
// another node takes the device over, so two never drive one device.
func (l *leaseKeeper) heartbeat(ctx context.Context, at time.Time, step string, checkpoint []byte) error {
	s := l.w.s
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Lease/3)
	defer cancel()
	return s.cfg.Store.Heartbeat(ctx, l.a.Campaign, l.a.Hostname, l.a.Generation, at.Add(s.cfg.Lease), step, checkpoint)
}

// renewedAt records a renewal of the lease that began at at.
func (l *leaseKeeper) renewedAt(at time.Time) {
	l.mu.Lock()
	if at.After(l.renewed) {
		l.renewed = at
	}
	l.mu.Unlock()
}
