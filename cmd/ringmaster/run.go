package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/metrics"
	"github.com/ringmaster-fleet/ringmaster/node"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/orchestrator/scheduler"
	"github.com/ringmaster-fleet/ringmaster/targets"
)

func newRunCmd(a *app) *cobra.Command {
	var (
		o         targetFlags
		workers   int
		untilDone bool
		view      string
		lease     time.Duration
		memLimit  int
		serve     string
		name      string
		// forecastEvery: how often the node renews stored forecasts.
		forecastEvery time.Duration
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
throughput and ETA); otherwise it writes structured log lines.

Several nodes may run on one PostgreSQL database, each in the network of
the organisations it serves (--serve): devices go to a node that serves
their organisation, and an organisation no running node serves waits for
one (campaign show says so). ringmaster nodes lists them.`,
		Example: "  ringmaster run\n  ringmaster run --workers 200 --until-done\n  ringmaster run --serve 'org in (RXX,RYY)' --node trust-rxx-1",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			setMemoryLimit(memLimit, workers)
			live := view == "live" || (view == "auto" && isTerminal(a.stdout))
			placement, err := orchestrator.ParsePlacement(serve)
			if err != nil {
				return usagef("--serve: %v", err)
			}
			return a.runCampaigns(ctx, runOptions{targets: o, workers: workers, untilDone: untilDone, live: live, lease: lease,
				placement: placement, name: name, forecastEvery: cmp.Or(forecastEvery, -1)})
		},
	}
	o.register(cmd)
	cmd.Flags().IntVar(&workers, "workers", 50, "devices this process runs at once")
	cmd.Flags().BoolVar(&untilDone, "until-done", false, "exit once no campaign is running or paused, but for those waiting for a person (halted, awaiting approval, no window), saying what they wait for")
	cmd.Flags().StringVar(&view, "view", "auto", "auto (live on a terminal), live or plain")
	cmd.Flags().DurationVar(&lease, "lease", 30*time.Second, "how long a worker may be silent before its device resumes elsewhere (after a crash)")
	cmd.Flags().StringVar(&serve, "serve", "", "the organisations this node's network reaches, as a selector on org (org in (RXX,RYY)); default every one")
	cmd.Flags().DurationVar(&forecastEvery, "forecast-every", node.DefaultForecastEvery, "how often to forecast each running or paused campaign for the reports and the dashboard (a national campaign's takes tens of seconds of a core); 0: never")
	cmd.Flags().StringVar(&name, "node", "", "this node's name in ringmaster nodes (default HOST-PID); unique among the running nodes")
	cmd.Flags().IntVar(&memLimit, "memory-limit", 0, "soft limit in MiB on this process's Go memory (heap and stacks; not SQLite's page cache or the executor plugins), past which the garbage collector works harder; 0: 256 MiB and 48 KiB a worker; GOMEMLIMIT in the environment wins")
	return cmd
}

// setMemoryLimit sets the Go runtime's soft memory limit for a run of
// workers: mib MiB, or when 0 a base and a share per worker (a run waiting
// on a device holds a goroutine stack of 16 to 40 KiB). Ten thousand
// workers hold about 400 MiB of stacks beside a heap of 150 to 250 MiB;
// with the collector's default pacing the heap may double before it
// collects. GOMEMLIMIT, when set, is the operator's choice and wins.
func setMemoryLimit(mib, workers int) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if mib <= 0 {
		mib = 256 + workers*48/1024
	}
	debug.SetMemoryLimit(int64(mib) << 20)
}

// runOptions are how runCampaigns runs.
type runOptions struct {
	targets   targetFlags
	workers   int
	untilDone bool
	live      bool
	lease     time.Duration
	placement orchestrator.Placement
	name      string
	// forecastEvery is how often stored forecasts are renewed (0: the
	// node's default; negative: never).
	forecastEvery time.Duration
	// metrics, if set, counts the control passes and device outcomes
	// (ringmaster serve).
	metrics *metrics.Metrics
}

// runCampaigns runs a node (the scheduler and workers, notifications and
// the daily history) until ctx ends or, with untilDone, no campaign is
// left running or paused, showing progress.
func (a *app) runCampaigns(ctx context.Context, o runOptions) error {
	db, err := a.open(ctx)
	if err != nil {
		return err
	}
	store, err := a.campaigns(ctx)
	if err != nil {
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
	notifier, err := a.notifier(ctx)
	if err != nil {
		return err
	}
	snapshots, err := a.snapshots(ctx)
	if err != nil {
		return err
	}
	app, err := a.campaignApp(ctx)
	if err != nil {
		return err
	}
	jobs, err := a.jobs(ctx)
	if err != nil {
		return err
	}
	nodes, err := db.Nodes(ctx)
	if err != nil {
		return err
	}
	cfg := scheduler.Config{Jobs: jobs, Store: store, Inventory: db.Inventory(), Reacher: targets.Reacher{Resolver: tg, Executors: xs},
		Workers: o.workers, Lease: o.lease, Logger: log, Placement: o.placement, Nodes: nodes, Name: o.name, Version: version}
	if m := o.metrics; m != nil {
		cfg.OnPass = func(p scheduler.Pass) { m.Pass(p.Took, p.Dispatched) }
		cfg.OnOutcome = m.Outcome
	}
	if a.clock != nil { // a simulated estate's compressed time (the demo)
		cfg.Clock, cfg.EngineClock = a.clock, a.clock
	}
	return node.Run(ctx, node.Config{Scheduler: cfg, Observations: db.Inventory(), Notifier: notifier, Snapshots: snapshots,
		Campaigns: app, Watch: a.watch(o.live, o.untilDone, log), ForecastEvery: o.forecastEvery})
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// watch is how run watches the campaigns: showing progress, live or as
// log lines, until ctx ends or, with untilDone, no campaign is left running
// or paused but for those that need a person to go on (see
// campaigns.Service.Watch).
func (a *app) watch(live, untilDone bool, log *slog.Logger) campaigns.WatchOptions {
	lastLog := time.Time{}
	return campaigns.WatchOptions{Clock: nowClock(time.Now), UntilDone: untilDone, Round: func(r campaigns.Round) {
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
	}}
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
