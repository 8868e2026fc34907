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
	run, err := store.Begin(ctx, a.Campaign, a.Hostname, a.Generation, time.Now(), s.cfg.Lease)
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
	p := s.runnable(c)
	if p.specErr != nil {
		return fmt.Errorf("campaign %s: stored spec: %w", c.Name, p.specErr)
	}
	spec, pb := p.spec, p.playbook
	if p.playbookErr != nil {
		return w.finish(ctx, a, orchestrator.DeviceFailed, orchestrator.ReasonBadPlaybook, p.playbookErr.Error(), time.Time{})
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
	lease := &leaseKeeper{w: w, a: a}
	stop := lease.keep(runCtx, cancel)
	defer stop()
	engine := &playbooks.Engine{Executor: exec, Clock: s.cfg.EngineClock}
	out, err := engine.Execute(runCtx, playbooks.Run{Playbook: pb, Target: target, Params: spec.Params, Resume: resume, ID: run.RunID},
		playbooks.SinkFunc(func(e playbooks.Event) { lease.event(ctx, e) }))
	stop()
	if lerr := lease.failed(); lerr != nil {
		return lerr // the checkpoint could not be saved: let River retry; the lease lapses and the device resumes
	}
	switch {
	case errors.Is(context.Cause(runCtx), errCampaignCancelled):
		return w.finish(ctx, a, orchestrator.DeviceSkipped, orchestrator.ReasonCancelled, "the campaign was cancelled while it ran", time.Time{})
	case err != nil && ctx.Err() != nil:
		// This process is stopping: leave the device running; its lease
		// lapses and it resumes from its checkpoint.
		return ctx.Err()
	case err != nil:
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
	if err := w.finish(ctx, a, state, out.Reason, msg, next); err != nil {
		return err
	}
	if s.cfg.OnOutcome != nil {
		s.cfg.OnOutcome(a.Campaign, a.Hostname, out)
	}
	return nil
}

// parsedCampaign is a campaign's stored spec and playbook, parsed. Runs
// share it: neither is changed once parsed.
type parsedCampaign struct {
	specText, playbookText string
	spec                   *orchestrator.Spec
	specErr                error
	playbook               *playbooks.Playbook
	playbookErr            error
}

// maxParsed bounds the campaigns whose parsed spec and playbook are kept.
const maxParsed = 256

// runnable is c's spec and playbook parsed, parsed again only when their
// stored text is not what it was: every device job of a campaign needs
// them, and parsing YAML for each was a tenth of a busy node's CPU.
func (s *Scheduler) runnable(c orchestrator.Campaign) *parsedCampaign {
	s.parsedMu.Lock()
	p, ok := s.parsed[c.Name]
	s.parsedMu.Unlock()
	if ok && p.specText == c.Spec && p.playbookText == c.Playbook {
		return p
	}
	p = &parsedCampaign{specText: c.Spec, playbookText: c.Playbook}
	p.spec, p.specErr = orchestrator.ParseSpec(c.SpecFile, []byte(c.Spec))
	p.playbook, p.playbookErr = s.cfg.Playbook(c.PlaybookFile, []byte(c.Playbook))
	s.parsedMu.Lock()
	if len(s.parsed) >= maxParsed {
		clear(s.parsed)
	}
	s.parsed[c.Name] = p
	s.parsedMu.Unlock()
	return p
}

func (w *deviceWorker) finish(ctx context.Context, a deviceArgs, state orchestrator.DeviceState, reason orchestrator.Reason, msg string, next time.Time) error {
	err := w.s.cfg.Store.Finish(ctx, a.Campaign, a.Hostname, a.Generation, state, reason, msg, next)
	if errors.Is(err, orchestrator.ErrStale) {
		w.s.log.Warn("outcome of a superseded run dropped", "campaign", a.Campaign, "device", a.Hostname, "state", state, "reason", reason)
		return nil
	}
	if err == nil {
		w.s.log.Info("device finished", "campaign", a.Campaign, "device", a.Hostname, "state", state, "reason", reason)
	}
	return err
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
	s := l.w.s
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
		cp, err := json.Marshal(e.Checkpoint)
		if err == nil {
			err = s.cfg.Store.Heartbeat(ctx, l.a.Campaign, l.a.Hostname, l.a.Generation, time.Now().Add(s.cfg.Lease), e.Step, cp)
		}
		if err != nil {
			l.fail(fmt.Errorf("save checkpoint after step %q: %w", e.Step, err))
		}
	}
}

// keep renews the lease every third of its length until stop, and cancels
// the run when the campaign is cancelled or the lease cannot be renewed
// (another worker may then take the device over).
func (l *leaseKeeper) keep(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	s := l.w.s
	done := make(chan struct{})
	var once sync.Once
	go func() {
		// Renew every third of the lease, and look for a cancel at least
		// every two seconds.
		t := time.NewTicker(min(s.cfg.Lease/3, 2*time.Second))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			l.mu.Lock()
			step := l.step
			l.mu.Unlock()
			if err := s.cfg.Store.Heartbeat(ctx, l.a.Campaign, l.a.Hostname, l.a.Generation, time.Now().Add(s.cfg.Lease), step, nil); err != nil {
				l.fail(fmt.Errorf("renew lease: %w", err))
				cancel(err)
				return
			}
			if c, err := s.cfg.Store.Campaign(ctx, l.a.Campaign); err == nil && c.Status == orchestrator.StatusCancelled {
				cancel(errCampaignCancelled)
				return
			}
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}
