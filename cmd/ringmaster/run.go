package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/discovery"
	"github.com/ringmaster-fleet/ringmaster/orchestrator/scheduler"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/targets"
)

func newRunCmd(a *app) *cobra.Command {
	var (
		o         targetFlags
		workers   int
		untilDone bool
		view      string
		lease     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the scheduler and workers in the foreground",
		Long: `Run the campaigns: the controller dispatches devices inside their windows
and caps, workers run the playbook on each through the executor, and every
step is saved so that a stop (Ctrl-C, a crash, a reboot of this host) loses
nothing: run again and interrupted devices resume from their last step.
Start, pause, resume, cancel and approve from another shell take effect
within a second.

On a terminal it shows a live view (a progress bar per wave, counts,
throughput and ETA); otherwise it writes structured log lines.`,
		Example: "  ringmaster run\n  ringmaster run --workers 200 --until-done",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			live := view == "live" || (view == "auto" && isTerminal(a.stdout))
			return a.runCampaigns(ctx, runOptions{targets: o, workers: workers, untilDone: untilDone, live: live, lease: lease})
		},
	}
	o.register(cmd)
	cmd.Flags().IntVar(&workers, "workers", 50, "devices this process runs at once")
	cmd.Flags().BoolVar(&untilDone, "until-done", false, "exit once no campaign is running or paused, but for those waiting for a person (halted, awaiting approval, no window), saying what they wait for")
	cmd.Flags().StringVar(&view, "view", "auto", "auto (live on a terminal), live or plain")
	cmd.Flags().DurationVar(&lease, "lease", 30*time.Second, "how long a worker may be silent before its device resumes elsewhere (after a crash)")
	return cmd
}

// runOptions are how runCampaigns runs.
type runOptions struct {
	targets   targetFlags
	workers   int
	untilDone bool
	live      bool
	lease     time.Duration
}

// runCampaigns runs the scheduler and workers until ctx ends or, with
// untilDone, no campaign is left running or paused, showing progress.
func (a *app) runCampaigns(ctx context.Context, o runOptions) error {
	db, err := a.open(ctx)
	if err != nil {
		return err
	}
	inv := db.Inventory()
	store, err := a.campaigns(ctx)
	if err != nil {
		return err
	}
	if err := scheduler.Migrate(ctx, db.SQL()); err != nil {
		return err
	}
	tg, err := a.resolver(ctx, o.targets)
	if err != nil {
		return err
	}
	// One executor per name the connection profiles (or --executor)
	// give, started when a device first needs it.
	xs := tg.Executors()
	defer xs.Close()
	log := a.log
	if !o.live && !a.log.Enabled(ctx, slog.LevelInfo) {
		// Without a live view, progress is the log: at least info.
		log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	// Notifications: the scheduler's applied plans and the snapshotter's
	// compliance feed the outbox; the notifier delivers it while run runs.
	notifier, err := a.notifier(ctx)
	if err != nil {
		return err
	}
	cfg := scheduler.Config{DB: db.SQL(), Store: store, Inventory: inv, OnApplied: notifier.Applied,
		Reacher: targets.Reacher{Resolver: tg, Executors: xs}, Playbook: playbooks.Parse, Workers: o.workers, Lease: o.lease, Logger: log,
		Observe: func(ctx context.Context, host string, facts sdk.Facts, at time.Time) error {
			return inv.RecordObservation(ctx, host, discovery.Facts(facts, at), at)
		}}
	if a.clock != nil { // a simulated estate's compressed time (the demo)
		cfg.Clock, cfg.EngineClock = a.clock, a.clock
	}
	sch, err := scheduler.New(cfg)
	if err != nil {
		return err
	}
	if err := sch.Start(ctx); err != nil {
		return err
	}
	// The daily history on its own timer: hourly, and when the watch sees
	// the last campaign stop running.
	snap, err := a.snapshotter(ctx, notifier.Compliance)
	if err != nil {
		return err
	}
	app, err := a.campaignApp(ctx)
	if err != nil {
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
		notifier.Run(notifyCtx)
	}()
	err = a.watch(ctx, app, o.live, o.untilDone, log, snap.Ask)
	if ctx.Err() != nil {
		// SIGTERM (systemd's stop) or Ctrl-C: River stops dispatching and
		// cancels the steps in flight, whose devices keep their last
		// checkpoint and resume on the next run.
		log.Info("stopping: no more devices are dispatched; those in flight resume from their last finished step on the next run")
	}
	stopSnap()
	<-snapped
	// The delivery loop stops first: a delivery it has in flight is freed,
	// due again at once, rather than leased by a loop that is about to be
	// cancelled while the flush below finds nothing due and run ends with
	// it unsent.
	stopNotify()
	<-notified
	// What the last pass and snapshot queued goes out before run ends
	// (within a bound); what does not is retried by the next run.
	flushCtx, stopFlush := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	for ctx.Err() == nil {
		if k, err := notifier.Deliver(flushCtx); err != nil || k == 0 {
			break
		}
	}
	stopFlush()
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if serr := sch.Stop(stopCtx); serr != nil && err == nil {
		err = fmt.Errorf("stop: %w", serr)
	}
	return err
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// watch shows progress, live or as log lines, until ctx ends or, with
// untilDone, no campaign is left running or paused but for those that need
// a person to go on (see campaigns.Service.Watch).
func (a *app) watch(ctx context.Context, s *campaigns.Service, live, untilDone bool, log *slog.Logger, stopped func()) error {
	lastLog := time.Time{}
	return s.Watch(ctx, campaigns.WatchOptions{Clock: nowClock(time.Now), UntilDone: untilDone, Stopped: stopped, Round: func(r campaigns.Round) {
		var b strings.Builder
		logNow := !live && time.Since(lastLog) >= 10*time.Second
		for _, p := range r.Campaigns {
			if p.NewlyWaiting {
				log.Warn("campaign waits for a person: see ringmaster campaign show, then continue, retry, approve or cancel",
					"campaign", p.Name, "waits_for", p.WaitsFor)
			}
			if live {
				renderLive(&b, p)
			} else if logNow {
				log.Info("progress", "campaign", p.Name, "status", p.Status, "finished", p.Finished, "total", p.Total,
					"running", p.States["running"], "failed", p.States["failed"], "deferred", p.States["deferred"],
					"per_minute", fmt.Sprintf("%.1f", p.PerMinute), "eta", eta(p))
			}
		}
		if logNow {
			lastLog = time.Now()
		}
		if !live {
			return
		}
		switch {
		case r.Active == 0 && len(r.Waiting) > 0:
			fmt.Fprintf(&b, "nothing more can run without a person: see ringmaster campaign show %s, then continue, retry, approve or cancel\n", strings.Join(r.Waiting, ", "))
		case r.Active == 0:
			b.WriteString("no campaign is running: start one with ringmaster campaign start NAME\n")
		}
		fmt.Fprint(a.stdout, "\033[H\033[2J"+b.String())
	}})
}

// eta is a campaign's ETA as the live view and the log say it: a time at
// its pace, or, while only a person can move it on, the command they must
// run (it would only grow while nothing can run).
func eta(p campaigns.Progress) string {
	switch {
	case p.WaitingFor != "":
		return "waiting for a person: " + p.WaitingFor
	case p.ETA > 0:
		return p.ETA.Round(time.Minute).String()
	}
	return ""
}

func renderLive(b *strings.Builder, p campaigns.Progress) {
	sh := p.Detail
	fmt.Fprintf(b, "campaign %s (%s)  %.1f devices/min", sh.Name, sh.Status, p.PerMinute)
	if e := eta(p); e != "" {
		fmt.Fprintf(b, "  ETA %s", e)
	}
	b.WriteString("\n")
	for _, w := range sh.Waves {
		done := w.States["succeeded"] + w.States["failed"] + w.States["skipped"]
		const width = 30
		filled := 0
		if w.Devices > 0 {
			filled = done * width / w.Devices
		}
		fmt.Fprintf(b, "  %-12s [%s%s] %5d/%-5d %-17s ok %d  failed %d  skipped %d  running %d  deferred %d\n", w.Name,
			strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, w.Devices, w.Status,
			w.States["succeeded"], w.States["failed"], w.States["skipped"], w.States["running"]+w.States["queued"], w.States["deferred"])
	}
	for _, bl := range sh.Blocked {
		who := bl.Wave
		if bl.Org != "" {
			who += "/" + bl.Org
		}
		until := ""
		if bl.Until != nil {
			until = " until " + bl.Until.Local().Format("Mon 15:04")
		}
		fmt.Fprintf(b, "  waiting: %s %s (%d)%s\n", who, bl.Reason, bl.Devices, until)
	}
	for _, w := range sh.Waits {
		fmt.Fprintf(b, "  waits for a person: %s\n", w)
	}
	b.WriteString("\n")
}
