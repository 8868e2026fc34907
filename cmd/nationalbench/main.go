// Command nationalbench is the benchmark behind `make bench-national`: one
// campaign over the whole national estate. With the ringmaster binary it
// generates and imports the estate, creates a campaign over every device
// below 22H2, and times campaign show, list and the HTML progress report
// over it. Then it runs the scheduler in this process on that database,
// with River's real queue and many workers, against an executor that
// answers every command at once, so that what is measured is the
// orchestrator: the pilot wave runs to the end; while the next wave soaks
// nothing changes and the process should be idle; then the clock moves
// past the soak and the next wave dispatches as fast as the controller,
// the store and the queue allow. It reports each figure against the
// national-scale issue's targets.
//
// With -db postgres://... it runs all of it on that PostgreSQL database
// (which must be empty), and with -nodes N the scheduler runs as N nodes,
// each on its own connections, sharing the workers: in this process, or
// with -procs each in a process of its own (this program run again with
// -child), so that RSS and CPU are measured per node.
//
//	go run ./cmd/nationalbench -bin bin/ringmaster -devices 1300000 -orgs 300 -workers 1000
//	go run ./cmd/nationalbench -db "$(.ci/postgres ringmaster_national)" -nodes 3 -procs
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringmaster-fleet/ringmaster/cmd/internal/benchutil"
	"github.com/ringmaster-fleet/ringmaster/discovery"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/orchestrator/scheduler"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/store"
)

type options struct {
	bin, dir     string
	db           string // a PostgreSQL URL, else national.db in dir
	nodes        int
	devices      int
	orgs         int
	workers      int
	runs         int
	idle, busy   time.Duration
	reuse        bool
	waveCap      int
	pilotDevices int
	cpuProfile   string
	idleProfile  string
	observe      bool
	procs        bool
	child        int // >= 0: run as node child of a -procs parent
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/ringmaster", "ringmaster binary")
	flag.StringVar(&o.dir, "dir", "", "working directory (default: a new temporary one, removed after)")
	flag.StringVar(&o.db, "db", "", "an empty PostgreSQL database's URL to run on (default: national.db in -dir)")
	flag.IntVar(&o.nodes, "nodes", 1, "scheduler nodes in this process, each on connections of its own (PostgreSQL only, for more than one)")
	flag.IntVar(&o.devices, "devices", 1_300_000, "devices in the generated estate")
	flag.IntVar(&o.orgs, "orgs", 300, "organisations in the generated estate")
	flag.IntVar(&o.workers, "workers", 1000, "devices run at once by the scheduler")
	flag.IntVar(&o.runs, "runs", 5, "runs of each read command (the median is reported)")
	flag.DurationVar(&o.idle, "idle", 20*time.Second, "how long to measure the idle process")
	flag.DurationVar(&o.busy, "busy", 45*time.Second, "how long to run the second wave")
	flag.IntVar(&o.waveCap, "wave-cap", 20000, "max_concurrency of the second wave (devices queued or running at once)")
	flag.IntVar(&o.pilotDevices, "pilot", 500, "devices in the pilot wave")
	flag.BoolVar(&o.reuse, "reuse", false, "reuse the estate and campaign already in -dir (skip generate, import and create)")
	flag.BoolVar(&o.observe, "observe", true, "record what each run's probe saw into the inventory, as ringmaster run does")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the second wave's run to this file")
	flag.StringVar(&o.idleProfile, "idleprofile", "", "write a CPU profile of the idle process (while ring1 soaks) to this file")
	flag.BoolVar(&o.procs, "procs", false, "run each scheduler node as a process of its own, as ringmaster run nodes are (RSS and CPU per node)")
	flag.IntVar(&o.child, "child", -1, "(internal) run as node N of a -procs run: the database is -db, commands on stdin")
	flag.Parse()
	if o.child >= 0 {
		if err := runChild(o); err != nil {
			slog.Error("nationalbench node", "node", o.child, "err", err)
			os.Exit(1)
		}
		return
	}
	if err := run(o); err != nil {
		slog.Error("nationalbench", "err", err)
		os.Exit(1)
	}
}

// campaign is the national campaign: every device below 22H2, a pilot that
// soaks a day, then a tenth of the rest at most waveCap at once, then the
// rest. It runs the read-only discover playbook: the benchmark measures
// the orchestrator, not an upgrade.
func campaign(pilot, waveCap int) string {
	return fmt.Sprintf(`name: national
playbook: discover
target: 'build<10.0.19045'
waves:
  - {name: pilot, count: %d, soak: 24h, max_failure_percent: 100}
  - {name: ring1, percent: 10, max_concurrency: %d, soak: 24h, max_failure_percent: 100}
  - {name: rest, max_failure_percent: 100}
`, pilot, waveCap)
}

func run(o options) error {
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "ringmaster-national-"); err != nil {
			return err
		}
		defer os.RemoveAll(o.dir)
	}
	rb := benchutil.Runner{Bin: bin, Dir: o.dir, DB: cmp.Or(o.db, filepath.Join(o.dir, "national.db"))}
	engine := "SQLite"
	if store.IsPostgres(rb.DB) {
		engine = "PostgreSQL"
	} else if o.nodes > 1 {
		return fmt.Errorf("-nodes %d: several nodes share a PostgreSQL database (-db postgres://...), not an SQLite file", o.nodes)
	}
	fmt.Printf("national run on %s: %d devices in %d organisations, %d workers on %d nodes, in %s\n\n", engine, o.devices, o.orgs, o.workers, o.nodes, o.dir)
	fmt.Printf("%-58s %10s %9s   %s\n", "step", "wall", "peak RSS", "target")
	row := func(step string, r benchutil.Result, target string) {
		fmt.Printf("%-58s %10s %9s   %s\n", step, benchutil.Round(r.Wall), benchutil.MiB(r.RSS), target)
	}
	if !o.reuse {
		gen, err := rb.Timed(io.Discard, "inventory", "generate", "--devices", strconv.Itoa(o.devices), "--orgs", strconv.Itoa(o.orgs),
			"--seed", "7", "--now", "2026-11-01", "--out", "estate.csv")
		if err != nil {
			return err
		}
		row("generate CSV", gen, "")
		imp, err := rb.Timed(io.Discard, "inventory", "import", "estate.csv", "--create-orgs")
		if err != nil {
			return err
		}
		row("inventory import", imp, "")
		if err := os.WriteFile(filepath.Join(o.dir, "national.yaml"), []byte(campaign(o.pilotDevices, o.waveCap)), 0o644); err != nil {
			return err
		}
		cc, err := rb.Timed(os.Stdout, "campaign", "create", "-f", "national.yaml")
		if err != nil {
			return err
		}
		row("campaign create (build<10.0.19045, the whole estate)", cc, "<= 15s, <= 300 MiB")
	}
	for _, r := range []struct {
		step string
		args []string
	}{
		{"campaign show (median)", []string{"campaign", "show", "national"}},
		{"campaign list (median)", []string{"campaign", "list"}},
		{"report progress -o html (median)", []string{"report", "progress", "-o", "html", "--out", "report.html"}},
	} {
		res, err := rb.Median(o.runs, r.args...)
		if err != nil {
			return err
		}
		row(r.step, res, "<= 1s")
	}
	return runCampaign(o, rb.DB)
}

// offsetClock is the wall clock moved on by an offset: the benchmark
// moves it past a soak.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// instant is an executor that answers every command at once, as the
// discover playbook expects a healthy device to.
type instant struct{ calls atomic.Int64 }

func (x *instant) Reach(_ context.Context, host string) (sdk.Target, playbooks.Executor, error) {
	return sdk.Target{Hostname: host, Address: host}, x, nil
}

func (x *instant) Probe(_ context.Context, t sdk.Target) (sdk.ProbeResult, error) {
	x.calls.Add(1)
	return sdk.ProbeResult{Facts: sdk.Facts{Hostname: t.Hostname}, ObservedAt: time.Now()}, nil
}

func (x *instant) Exec(_ context.Context, _ sdk.Target, c sdk.Command, out func(sdk.Chunk)) (sdk.Result, error) {
	x.calls.Add(1)
	stdout := []byte("{}\r\n")
	if strings.Contains(c.Script, "Test-Path") {
		stdout = []byte("False\r\nFalse\r\n")
	}
	if out != nil {
		out(sdk.Chunk{Stream: sdk.Stdout, Data: stdout})
	}
	return sdk.Result{Stdout: stdout}, nil
}

// passes records the scheduler's control passes.
type passes struct {
	mu  sync.Mutex
	all []scheduler.Pass
}

func (p *passes) add(x scheduler.Pass) {
	p.mu.Lock()
	p.all = append(p.all, x)
	p.mu.Unlock()
}

func (p *passes) since(i int) []scheduler.Pass {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.all[i:])
}

func (p *passes) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.all)
}

func runCampaign(o options, path string) error {
	ctx := context.Background()
	clock := &offsetClock{}
	x := &instant{}
	ps := &passes{}
	var cs store.Campaigns
	var dbs []store.DB
	var scheds []*scheduler.Scheduler
	defer func() {
		// Every node stops taking jobs first, then the databases close: a
		// node still dispatching would keep the others' workers busy.
		stop, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		for _, sch := range scheds {
			wg.Go(func() { _ = sch.Stop(stop) })
		}
		wg.Wait()
		for _, db := range dbs {
			db.Close()
		}
	}()
	var procs []*nodeProc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	if o.procs {
		// The campaign is read and started from here; the nodes run as
		// processes of their own.
		db, err := store.Open(ctx, path, store.Options{Now: clock.Now})
		if err != nil {
			return err
		}
		dbs = append(dbs, db)
		if cs, err = db.Campaigns(ctx); err != nil {
			return err
		}
		if _, err := cs.ChangeStatus(ctx, "national", orchestrator.ActionStart); err != nil {
			return err
		}
		for i := range max(o.nodes, 1) {
			p, err := startProc(o, path, i, ps)
			if err != nil {
				return err
			}
			procs = append(procs, p)
		}
	}
	for i := range max(o.nodes, 1) {
		if o.procs {
			break
		}
		sch, db, c, err := startNode(ctx, o, path, i, clock, x, ps.add)
		if err != nil {
			return err
		}
		dbs, scheds = append(dbs, db), append(scheds, sch)
		if i == 0 {
			cs = c
		}
	}
	cpu := benchutil.CPU
	advance := clock.advance
	if o.procs {
		cpu = func() time.Duration {
			var d time.Duration
			for _, p := range procs {
				d += benchutil.ProcessCPU(p.cmd.Process.Pid)
			}
			return d
		}
		advance = func(d time.Duration) {
			for _, p := range procs {
				fmt.Fprintf(p.stdin, "advance %s\n", d)
			}
		}
	}
	// The pilot runs to the end.
	start := time.Now()
	if err := waitWave(ctx, cs, 0, orchestrator.WaveDone, 15*time.Minute); err != nil {
		return err
	}
	fmt.Printf("\nrun with %d workers, an executor that answers at once:\n", o.workers)
	fmt.Printf("  pilot: %d devices done in %s\n", o.pilotDevices, benchutil.Round(time.Since(start)))

	// Nothing changes while ring1 soaks.
	time.Sleep(3 * time.Second)
	stopIdleProfile, err := profile(o.idleProfile)
	if err != nil {
		return err
	}
	cpu0, t0 := cpu(), time.Now()
	time.Sleep(o.idle)
	stopIdleProfile()
	idle := float64(cpu()-cpu0) / float64(time.Since(t0)) * 100
	fmt.Printf("  idle while ring1 soaks: %.2f%% of a core over %s   (target <= 2%%)\n", idle, o.idle)

	// Past the soak, ring1 dispatches up to its cap and tops it up as its
	// devices finish.
	before, err := finished(ctx, cs)
	if err != nil {
		return err
	}
	first := ps.len()
	stopProfile, err := profile(o.cpuProfile)
	if err != nil {
		return err
	}
	advance(25 * time.Hour)
	cpu1, t1 := cpu(), time.Now()
	time.Sleep(o.busy)
	busy := time.Since(t1)
	used := cpu() - cpu1
	stopProfile()
	after, err := finished(ctx, cs)
	if err != nil {
		return err
	}
	run := ps.since(first)
	var took, reads, applies []time.Duration
	var read, apply time.Duration
	dispatched, biggest := 0, scheduler.Pass{}
	for _, p := range run {
		took = append(took, p.Took)
		reads, applies = append(reads, p.Read), append(applies, p.Apply)
		read, apply = read+p.Read, apply+p.Apply
		dispatched += p.Dispatched
		if p.Dispatched > biggest.Dispatched {
			biggest = p
		}
	}
	fmt.Printf("  ring1 for %s: %d control passes, p50 %s, p99 %s, max %s   (target p99 <= 100ms)\n",
		benchutil.Round(busy), len(run), pct(took, 0.5), pct(took, 0.99), slices.Max(append(took, 0)))
	if len(run) > 0 {
		fmt.Printf("    reading views and deciding: mean %s, p99 %s; applying plans: mean %s, p99 %s\n",
			benchutil.Round(read/time.Duration(len(run))), pct(reads, 0.99), benchutil.Round(apply/time.Duration(len(run))), pct(applies, 0.99))
	}
	slowest := slices.SortedFunc(slices.Values(run), func(a, b scheduler.Pass) int { return cmp.Compare(b.Took, a.Took) })
	for _, p := range slowest[:min(3, len(slowest))] {
		fmt.Printf("    a slow pass: %s: reading %s, applying %s (%d devices), the rest (orphans, due campaigns) %s\n",
			benchutil.Round(p.Took), benchutil.Round(p.Read), benchutil.Round(p.Apply), p.Dispatched, benchutil.Round(p.Took-p.Read-p.Apply))
	}
	if biggest.Dispatched > 0 {
		fmt.Printf("  largest dispatch: %d devices into the queue in one pass of %s: %.0f devices/s   (target >= 2,000/s)\n",
			biggest.Dispatched, benchutil.Round(biggest.Took), float64(biggest.Dispatched)/biggest.Took.Seconds())
	}
	fmt.Printf("  dispatched %d devices (%.0f/s), %d finished (%.0f/s), %d executor calls; CPU %.2f cores\n",
		dispatched, float64(dispatched)/busy.Seconds(), after-before, float64(after-before)/busy.Seconds(), x.calls.Load(),
		used.Seconds()/busy.Seconds())
	if !o.procs {
		fmt.Printf("  peak RSS of this process (%d scheduler nodes, River, stores, %d workers): %s   (target <= 400 MiB a node)\n",
			max(o.nodes, 1), o.workers, benchutil.MiB(benchutil.PeakRSS()))
		return nil
	}
	for i, p := range procs {
		fmt.Printf("  node %d (process %d, %d workers): peak RSS %s   (target <= 400 MiB a node), %s of CPU in all\n",
			i, p.cmd.Process.Pid, nodeWorkers(o, i), benchutil.MiB(benchutil.ProcessPeakRSS(p.cmd.Process.Pid)),
			benchutil.Round(benchutil.ProcessCPU(p.cmd.Process.Pid)))
	}
	return nil
}

// nodeWorkers is node i's share of the workers.
func nodeWorkers(o options, i int) int {
	workers := o.workers / max(o.nodes, 1)
	if i < o.workers%max(o.nodes, 1) {
		workers++
	}
	return workers
}

// startNode opens the database at path and starts scheduler node i on
// it, as ringmaster run does (node 0 also starts the campaign, unless
// -procs started it).
func startNode(ctx context.Context, o options, path string, i int, clock scheduler.Clock, x *instant, onPass func(scheduler.Pass)) (*scheduler.Scheduler, store.DB, store.Campaigns, error) {
	db, err := store.Open(ctx, path, store.Options{Now: clock.Now})
	if err != nil {
		return nil, nil, nil, err
	}
	fail := func(err error) (*scheduler.Scheduler, store.DB, store.Campaigns, error) {
		db.Close()
		return nil, nil, nil, err
	}
	jobs, err := queue(ctx, db)
	if err != nil {
		return fail(err)
	}
	if err := scheduler.Migrate(ctx, jobs); err != nil {
		return fail(err)
	}
	c, err := db.Campaigns(ctx)
	if err != nil {
		return fail(err)
	}
	inv := db.Inventory()
	cfg := scheduler.Config{Jobs: jobs, Store: c, Inventory: inv, Reacher: x, Playbook: playbooks.Parse,
		Clock: clock, Workers: nodeWorkers(o, i), OnPass: onPass, Name: fmt.Sprintf("bench-%d", i),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if nodes, err := db.Nodes(ctx); err == nil {
		cfg.Nodes = nodes
	} else {
		return fail(err)
	}
	if o.observe {
		// As node.Run wires it for ringmaster run.
		cfg.Observe = func(ctx context.Context, host string, facts sdk.Facts, at time.Time) error {
			return inv.RecordObservation(ctx, host, discovery.Facts(facts, at), at)
		}
	}
	sch, err := scheduler.New(cfg)
	if err != nil {
		return fail(err)
	}
	if i == 0 && !o.procs {
		if _, err := c.ChangeStatus(ctx, "national", orchestrator.ActionStart); err != nil {
			return fail(err)
		}
	}
	if err := sch.Start(ctx); err != nil {
		return fail(err)
	}
	return sch, db, c, nil
}

// nodeProc is a node run as a process of its own (-procs): it takes
// "advance DURATION" and "stop" on its stdin and writes "pass JSON" for
// every control pass on its stdout.
type nodeProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

func startProc(o options, path string, i int, ps *passes) (*nodeProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-child", strconv.Itoa(i), "-db", path, "-nodes", strconv.Itoa(o.nodes), "-workers", strconv.Itoa(o.workers),
		"-observe="+strconv.FormatBool(o.observe))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &nodeProc{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	started := make(chan struct{})
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "started":
				close(started)
			case strings.HasPrefix(line, "pass "):
				var x scheduler.Pass
				if json.Unmarshal([]byte(line[len("pass "):]), &x) == nil {
					ps.add(x)
				}
			}
		}
	}()
	select {
	case <-started:
		return p, nil
	case <-p.done:
		cmd.Wait()
		return nil, fmt.Errorf("node %d exited before it started", i)
	}
}

// stop asks the node to stop and waits for it.
func (p *nodeProc) stop() {
	fmt.Fprintln(p.stdin, "stop")
	p.stdin.Close()
	<-p.done
	p.cmd.Wait()
}

// runChild is node o.child of a -procs run.
func runChild(o options) error {
	ctx := context.Background()
	clock := &offsetClock{}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	onPass := func(x scheduler.Pass) {
		b, _ := json.Marshal(x)
		mu.Lock()
		fmt.Fprintf(out, "pass %s\n", b)
		out.Flush()
		mu.Unlock()
	}
	o.procs = true // the parent started the campaign
	sch, db, _, err := startNode(ctx, o, o.db, o.child, clock, &instant{}, onPass)
	if err != nil {
		return err
	}
	defer db.Close()
	mu.Lock()
	fmt.Fprintln(out, "started")
	out.Flush()
	mu.Unlock()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		switch cmd {
		case "advance":
			d, err := time.ParseDuration(arg)
			if err != nil {
				return err
			}
			clock.advance(d)
		case "stop":
			stop, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			return sch.Stop(stop)
		}
	}
	return sch.Stop(ctx)
}

// pct is the q-quantile of ds (sorted in place).
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(q*float64(len(ds))))]
}

// profile starts a CPU profile into path, if one is asked for; stop ends it.
func profile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// queue is River's job queue on db's own database, as ringmaster run
// wires it.
func queue(ctx context.Context, db store.DB) (scheduler.Jobs, error) {
	switch db := db.(type) {
	case *store.SQLite:
		listen, err := db.ListenSQL(ctx)
		if err != nil {
			return nil, err
		}
		return scheduler.SQLiteJobs(db.SQL(), listen), nil
	case *store.Postgres:
		return scheduler.PostgresJobs(db.QueuePool()), nil
	}
	return nil, fmt.Errorf("no job queue on a %T", db)
}

// waitWave waits until a wave of the national campaign reaches status.
func waitWave(ctx context.Context, cs store.Campaigns, wave int, status orchestrator.WaveStatus, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		_, waves, err := cs.Waves(ctx, "national")
		if err != nil {
			return err
		}
		if waves[wave].Status == status {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("wave %d not %s after %s", wave, status, limit)
}

// finished counts the campaign's devices in a final state.
func finished(ctx context.Context, cs store.Campaigns) (int, error) {
	counts, err := cs.StateCounts(ctx, "national")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range counts {
		if c.State.Final() {
			n += c.Devices
		}
	}
	return n, nil
}
