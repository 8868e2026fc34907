package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/discovery"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/notify"
	"github.com/ringmaster-fleet/ringmaster/orchestrator/scheduler"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/reports"
)

// How long Run waits, once stopping, for the notifications still queued
// to go out (what does not is retried by the next run), and for the
// scheduler to stop.
const (
	FlushTimeout = 15 * time.Second
	StopTimeout  = 30 * time.Second
)

// Observations records what a device was observed to be (the inventory).
type Observations interface {
	RecordObservation(ctx context.Context, hostname string, f inventory.Facts, at time.Time) error
}

// Config is what a node runs.
type Config struct {
	// Scheduler configures the scheduler and its workers (DB, Store,
	// Inventory, Reacher, Workers, Lease, clocks, Logger). Run sets
	// OnApplied to the notifier's, Observe to record into Observations,
	// and Playbook to playbooks.Parse when it is nil.
	Scheduler scheduler.Config
	// Observations is where the facts a run's last probe saw are
	// recorded, so that reports rest on observations.
	Observations Observations
	// Notifier is told of every plan applied and of each snapshot's
	// compliance, and delivers from its outbox while the node runs.
	Notifier *notify.Notifier
	// Snapshots configures the daily history; Run sets its OnCompliance
	// to the notifier's.
	Snapshots reports.SnapshotterConfig
	// Campaigns is watched for the rounds Watch.Round is given.
	Campaigns *campaigns.Service
	// Watch is how the live campaigns are watched and shown; Run sets
	// Stopped to renew the snapshot when the last active campaign stops.
	Watch campaigns.WatchOptions
	// ForecastEvery is how often the node forecasts each running or
	// paused campaign whose stored forecast is older than that (on the
	// Snapshots' clock), for the reports and the dashboard: default
	// DefaultForecastEvery; negative, never.
	ForecastEvery time.Duration
}

// DefaultForecastEvery is how often a node renews the campaigns' stored
// forecasts: a national campaign's takes tens of seconds of a core.
const DefaultForecastEvery = 15 * time.Minute

// Run migrates the job queue's tables, starts the scheduler, the
// snapshotter and the notifier, and watches the campaigns until ctx ends
// (a nil error) or, with Watch.UntilDone, until nothing can go on without
// a person. Stopping, devices in flight keep their last checkpoint and
// resume on the next run.
func Run(ctx context.Context, c Config) error {
	if c.Notifier == nil || c.Campaigns == nil || c.Observations == nil {
		return errors.New("node: Run needs Notifier, Campaigns and Observations")
	}
	if err := scheduler.Migrate(ctx, c.Scheduler.Jobs); err != nil {
		return err
	}
	cfg := c.Scheduler
	cfg.OnApplied = c.Notifier.Applied
	cfg.Observe = func(ctx context.Context, host string, facts sdk.Facts, at time.Time) error {
		return c.Observations.RecordObservation(ctx, host, discovery.Facts(facts, at), at)
	}
	if cfg.Playbook == nil {
		cfg.Playbook = playbooks.Parse
	}
	// The daily history on its own timer: hourly, and when the watch sees
	// the last campaign stop running.
	sc := c.Snapshots
	sc.OnCompliance = c.Notifier.Compliance
	snap, err := reports.NewSnapshotter(sc)
	if err != nil {
		return err
	}
	sch, err := scheduler.New(cfg)
	if err != nil {
		return err
	}
	if err := sch.Start(ctx); err != nil {
		return err
	}
	snapCtx, stopSnap := context.WithCancel(ctx)
	snapped := make(chan struct{})
	go func() {
		defer close(snapped)
		snap.Run(snapCtx)
	}()
	notifyCtx, stopNotify := context.WithCancel(ctx)
	notified := make(chan struct{})
	go func() {
		defer close(notified)
		c.Notifier.Run(notifyCtx)
	}()
	forecastCtx, stopForecasts := context.WithCancel(ctx)
	forecasted := make(chan struct{})
	go func() {
		defer close(forecasted)
		c.forecasts(forecastCtx)
	}()
	watch := c.Watch
	watch.Stopped = snap.Ask
	err = c.Campaigns.Watch(ctx, watch)
	if ctx.Err() != nil && cfg.Logger != nil {
		// SIGTERM (systemd's stop) or Ctrl-C: River stops dispatching and
		// cancels the steps in flight, whose devices keep their last
		// checkpoint and resume on the next run.
		cfg.Logger.Info("stopping: no more devices are dispatched; those in flight resume from their last finished step on the next run")
	}
	stopForecasts()
	<-forecasted
	stopSnap()
	<-snapped
	// The scheduler stops before the notices are flushed: a control pass
	// still running (one that just completed a campaign, kicked by its
	// last device) records its notices before Stop returns, so the flush
	// below sends them.
	stopCtx, cancel := context.WithTimeout(context.Background(), StopTimeout)
	defer cancel()
	if serr := sch.Stop(stopCtx); serr != nil && err == nil {
		err = fmt.Errorf("stop: %w", serr)
	}
	// The delivery loop stops first: a delivery it has in flight is freed,
	// due again at once, rather than leased by a loop that is about to be
	// cancelled while the flush below finds nothing due and run ends with
	// it unsent.
	stopNotify()
	<-notified
	// What the last pass and snapshot queued goes out before run ends
	// (within a bound); what does not is retried by the next run.
	flushCtx, stopFlush := context.WithTimeout(context.WithoutCancel(ctx), FlushTimeout)
	for ctx.Err() == nil {
		if k, err := c.Notifier.Deliver(flushCtx); err != nil || k == 0 {
			break
		}
	}
	stopFlush()
	return err
}

// forecasts renews the stored forecasts every ForecastEvery until ctx
// ends: at once, then on the clock.
func (c Config) forecasts(ctx context.Context) {
	every := c.ForecastEvery
	if every == 0 {
		every = DefaultForecastEvery
	}
	if every < 0 || c.Snapshots.Clock == nil {
		return
	}
	log := c.Scheduler.Logger
	for {
		done, err := c.Campaigns.RefreshForecasts(ctx, every, uint64(time.Now().UnixNano()))
		if ctx.Err() != nil {
			return
		}
		if log != nil {
			if err != nil {
				log.Warn("forecast", "err", err)
			}
			if len(done) > 0 {
				log.Info("forecast renewed", "campaigns", done)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-c.Snapshots.Clock.After(every):
		}
	}
}
