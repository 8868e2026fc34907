// Command densebench is the benchmark behind `make bench-dense`: the
// orchestrator's cost per command, measured against the floor of sending
// the same commands with nothing around them. In one run it starts
// `ringmaster simulate` with a fleet in its own process, then alternates:
//
//   - a campaign of a five-command playbook (health-check.yaml) over every
//     device, run as `ringmaster run` runs one: River on SQLite with the
//     given workers, the playbook engine, a checkpoint saved after every
//     step, and the built-in WinRM executor out of process behind the
//     plugin host (the ringmaster binary re-executed as `executor-plugin
//     winrm`, pinned to its SHA-256), reached through the connection
//     profile and a sealed credential as the CLI reaches devices;
//   - a bare loop of the very calls the first campaign made (its probe and
//     its five commands per device, in order), from plain masterzen/winrm
//     clients, one per device with NTLM and kept-alive connections, at the
//     same concurrency.
//
// It reports commands (executor calls) per second for each round, the
// medians and their ratio (the issue asks >= 0.85). Profiles of the
// campaign rounds (this process: the scheduler, River, SQLite, the engine
// and the plugin host) are written with -cpuprofile and -blockprofile.
//
//	go run ./cmd/densebench -bin bin/ringmaster -devices 1000 -workers 500
package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	wr "github.com/masterzen/winrm"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/cmd/internal/benchutil"
	"github.com/ringmaster-fleet/ringmaster/credential"
	"github.com/ringmaster-fleet/ringmaster/discovery"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/orchestrator/scheduler"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
	"github.com/ringmaster-fleet/ringmaster/targets"
)

//go:embed health-check.yaml
var playbook []byte

const (
	user     = "bench"
	password = "Bench-Pa55word!"
	credName = "simulated" // the credential `simulate --inventory-out` names
)

func main() {
	bin := flag.String("bin", "bin/ringmaster", "ringmaster binary (the simulator and the executor plugin)")
	devices := flag.Int("devices", 1000, "simulated devices")
	workers := flag.Int("workers", 500, "campaign workers, and the bare loop's concurrency")
	rounds := flag.Int("rounds", 3, "campaign rounds, each followed by a bare round")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the campaign rounds here")
	blockProfile := flag.String("blockprofile", "", "write a block profile of the campaign rounds here")
	bareProfile := flag.String("bareprofile", "", "write a CPU profile of the first bare round here")
	flag.Parse()
	b := &bench{bin: *bin, devices: *devices, workers: *workers}
	if err := b.run(context.Background(), *rounds, *cpuProfile, *blockProfile, *bareProfile); err != nil {
		slog.Error("densebench", "err", err)
		os.Exit(1)
	}
}

type bench struct {
	bin              string
	devices, workers int

	db      *sqlite.DB
	store   *sqlite.Campaigns
	app     *campaigns.Service
	sch     *scheduler.Scheduler
	reacher *recordingReacher
	addrs   map[string]string // hostname -> address
	simPID  int
}

// cpu is the CPU time so far of this process, the simulator and the
// other children (the executor plugin).
type cpu struct{ self, sim, plugin time.Duration }

func (b *bench) cpu() cpu {
	c := cpu{self: benchutil.CPU()}
	for _, pid := range benchutil.Children() {
		if pid == b.simPID {
			c.sim += benchutil.ProcessCPU(pid)
		} else {
			c.plugin += benchutil.ProcessCPU(pid)
		}
	}
	return c
}

// call is one executor call a campaign made.
type call struct {
	probe bool
	cmd   sdk.Command
}

// recordingReacher reaches devices as `ringmaster run` does
// (targets.Reacher) and counts the executor calls; while recording, it
// keeps each device's calls for the bare loop to replay.
type recordingReacher struct {
	r         targets.Reacher
	first     atomic.Int64 // when the round's first call started, Unix nanoseconds
	last      atomic.Int64 // when its last call ended
	n         atomic.Int64
	failed    atomic.Int64
	recording atomic.Bool
	mu        sync.Mutex
	by        map[string][]call
}

func (rr *recordingReacher) Reach(ctx context.Context, host string) (sdk.Target, playbooks.Executor, error) {
	t, x, err := rr.r.Reach(ctx, host)
	if err != nil {
		return t, nil, err
	}
	return t, &counted{x: x, rr: rr}, nil
}

type counted struct {
	x  playbooks.Executor
	rr *recordingReacher
}

func (c *counted) add(host string, k call, started time.Time, err error) {
	for at := started.UnixNano(); ; {
		first := c.rr.first.Load()
		if (first != 0 && first <= at) || c.rr.first.CompareAndSwap(first, at) {
			break
		}
	}
	for now := time.Now().UnixNano(); ; {
		last := c.rr.last.Load()
		if now <= last || c.rr.last.CompareAndSwap(last, now) {
			break
		}
	}
	c.rr.n.Add(1)
	if err != nil && !sdk.IsKind(err, sdk.CommandFailed) {
		c.rr.failed.Add(1)
	}
	if c.rr.recording.Load() {
		c.rr.mu.Lock()
		c.rr.by[host] = append(c.rr.by[host], k)
		c.rr.mu.Unlock()
	}
}

func (c *counted) Probe(ctx context.Context, t sdk.Target) (sdk.ProbeResult, error) {
	started := time.Now()
	res, err := c.x.Probe(ctx, t)
	c.add(t.Hostname, call{probe: true}, started, err)
	return res, err
}

func (c *counted) Exec(ctx context.Context, t sdk.Target, cmd sdk.Command, out func(sdk.Chunk)) (sdk.Result, error) {
	started := time.Now()
	res, err := c.x.Exec(ctx, t, cmd, out)
	c.add(t.Hostname, call{cmd: cmd}, started, err)
	return res, err
}

func (b *bench) run(ctx context.Context, rounds int, cpuProfile, blockProfile, bareProfile string) error {
	dir, err := os.MkdirTemp("", "densebench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := b.setup(ctx, dir); err != nil {
		return err
	}
	defer b.db.Close()
	sim, err := benchutil.StartSimulator(b.bin, "--devices", strconv.Itoa(b.devices), "--orgs", "20", "--seed", "1",
		"--username", user, "--password", password, "--inventory-out", filepath.Join(dir, "fleet.csv"),
		"--first-address", "127.70.1.1")
	if err != nil {
		return err
	}
	defer sim.Stop()
	b.simPID = sim.Cmd.Process.Pid
	if err := b.load(ctx, dir); err != nil {
		return err
	}
	if err := b.sch.Start(ctx); err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = b.sch.Stop(stopCtx)
	}()
	fmt.Printf("%d simulated devices, %d workers and a bare loop at concurrency %d, playbook health-check (5 commands and the engine's probe per device)\n",
		b.devices, b.workers, b.workers)

	// A first campaign records the calls the bare loop replays, and warms
	// both sides (the plugin started, the simulator's pages touched).
	b.reacher.recording.Store(true)
	if _, err := b.campaign(ctx, "warm-up"); err != nil {
		return err
	}
	b.reacher.recording.Store(false)

	var camp, bare, campBusy []float64
	fmt.Printf("%-6s %-9s %9s %7s %9s %7s %9s %7s %15s %15s %15s\n", "round", "side", "commands", "failed", "wall", "cmd/s", "busy", "cmd/s",
		"CPU/cmd: this", "plugin", "simulator")
	for i := range rounds {
		stop, err := startCPUProfile(bareProfile, i == 0)
		if err != nil {
			return err
		}
		r, err := b.measure(func() (result, error) { return b.bare(ctx) })
		stop()
		if err != nil {
			return err
		}
		bare = append(bare, r.rate())
		r.print(i+1, "bare")
		stop, err = startCPUProfile(cpuProfile, i == 0)
		if err != nil {
			return err
		}
		if blockProfile != "" { // campaign rounds only
			runtime.SetBlockProfileRate(int(10 * time.Microsecond))
		}
		r, err = b.measure(func() (result, error) { return b.campaign(ctx, fmt.Sprintf("round-%d", i+1)) })
		runtime.SetBlockProfileRate(0)
		stop()
		if err != nil {
			return err
		}
		camp = append(camp, r.rate())
		campBusy = append(campBusy, r.busyRate())
		r.print(i+1, "campaign")
	}
	if blockProfile != "" {
		if err := writeProfile("block", blockProfile); err != nil {
			return err
		}
	}
	cm, bm, cb := median(camp), median(bare), median(campBusy)
	fmt.Printf("median: campaign %.0f cmd/s, bare %.0f cmd/s, campaign / bare %.2f (issue 15 asks >= 0.85)\n", cm, bm, cm/bm)
	fmt.Printf("        campaign while its commands ran (from the first call to the last) %.0f cmd/s, / bare %.2f\n", cb, cb/bm)
	return nil
}

// startCPUProfile starts a CPU profile into path when path is set and
// first holds (only the first round of a side is profiled).
func startCPUProfile(path string, first bool) (stop func(), err error) {
	if path == "" || !first {
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
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup(name).WriteTo(f, 0)
}

// setup opens the database and builds the scheduler and the campaigns'
// service on it, with the executor plugin wired as the CLI wires it.
func (b *bench) setup(ctx context.Context, dir string) error {
	db, err := sqlite.Open(ctx, filepath.Join(dir, "bench.db"), sqlite.Options{})
	if err != nil {
		return err
	}
	b.db = db
	if b.store, err = db.Campaigns(ctx); err != nil {
		return err
	}
	if err := scheduler.Migrate(ctx, scheduler.SQLiteJobs(db.SQL(), nil)); err != nil {
		return err
	}
	// As a node serving people's commands would, the campaign's start
	// asks the scheduler in this process for a pass at once.
	b.app = campaigns.New(campaigns.Config{Store: b.store, Inventory: db.Inventory(), Now: time.Now,
		Playbooks: func(string) (string, []byte, error) { return "health-check.yaml", playbook, nil },
		Changed:   func() { b.sch.Kick() }})

	// The credential sealed in the store, the key in a file beside it, as
	// `ringmaster credential add` leaves them.
	keyFile := filepath.Join(dir, "bench.db.key")
	k, err := credential.CreateKey(keyFile)
	if err != nil {
		return err
	}
	if err := db.Credentials().AddCredential(ctx, credName, user, k.Seal(credName, password), k.Check()); err != nil {
		return err
	}
	// The built-in executor as `ringmaster run` starts it, but from the
	// binary's file (this process is not ringmaster), pinned to its hash.
	bin, err := filepath.Abs(b.bin)
	if err != nil {
		return err
	}
	sum, err := host.CheckFile(bin)
	if err != nil {
		return fmt.Errorf("executor plugin %s: %w", bin, err)
	}
	inv := db.Inventory()
	tg, err := targets.New(ctx, targets.Config{Organisations: inv, Devices: inv, Profiles: inv, Credentials: db.Credentials(),
		KeyFile: keyFile, Builtins: map[string]host.Spec{"winrm": {Name: "winrm", Path: bin, SHA256: sum, Args: []string{"executor-plugin", "winrm"}}},
		Plugins: db.Plugins()}, targets.Options{})
	if err != nil {
		return err
	}
	b.reacher = &recordingReacher{r: targets.Reacher{Resolver: tg, Executors: tg.Executors()}, by: map[string][]call{}}
	listen, err := db.ListenSQL(ctx)
	if err != nil {
		return err
	}
	b.sch, err = scheduler.New(scheduler.Config{Jobs: scheduler.SQLiteJobs(db.SQL(), listen), Store: b.store, Inventory: inv, Reacher: b.reacher,
		Playbook: playbooks.Parse, Workers: b.workers,
		Observe: func(ctx context.Context, host string, facts sdk.Facts, at time.Time) error {
			return inv.RecordObservation(ctx, host, discovery.Facts(facts, at), at)
		}})
	return err
}

// load imports the simulator's inventory.
func (b *bench) load(ctx context.Context, dir string) error {
	path := filepath.Join(dir, "fleet.csv")
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := format.NewCSVReader(f, path, time.Now())
	if err != nil {
		return err
	}
	inv := b.db.Inventory()
	if _, err := inv.Import(ctx, rd, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "Europe/London"}); err != nil {
		return err
	}
	b.addrs = map[string]string{}
	for d, err := range inv.Devices(ctx, inventory.Everything()) {
		if err != nil {
			return err
		}
		b.addrs[d.Hostname] = d.Address
	}
	return nil
}

type result struct {
	calls, failed int64
	wall          time.Duration
	// busy is from the first call's start to the last one's end: the wall
	// time less the wait for the controller's first and last passes.
	busy time.Duration
	// before is from the campaign's start to its first call.
	before time.Duration
	cpu    cpu // used in the round
}

// measure runs f and adds the CPU each process used meanwhile to its result.
func (b *bench) measure(f func() (result, error)) (result, error) {
	c0 := b.cpu()
	r, err := f()
	c1 := b.cpu()
	r.cpu = cpu{self: c1.self - c0.self, sim: c1.sim - c0.sim, plugin: c1.plugin - c0.plugin}
	return r, err
}

func (r result) rate() float64 { return float64(r.calls) / r.wall.Seconds() }

func (r result) busyRate() float64 { return float64(r.calls) / r.busy.Seconds() }

func (r result) print(round int, side string) {
	per := func(d time.Duration) string {
		return fmt.Sprintf("%.0f µs", float64(d.Microseconds())/float64(max(r.calls, 1)))
	}
	fmt.Printf("%-6d %-9s %9d %7d %9s %7.0f %9s %7.0f %15s %15s %15s\n", round, side, r.calls, r.failed, benchutil.Round(r.wall), r.rate(),
		benchutil.Round(r.busy), r.busyRate(),
		per(r.cpu.self), per(r.cpu.plugin), per(r.cpu.sim))
	if r.before > 0 {
		fmt.Printf("       (start to first command %s, last command to done %s)\n", benchutil.Round(r.before), benchutil.Round(r.wall-r.busy-r.before))
	}
}

// campaign creates and starts a campaign over every device and waits for
// it to be done.
func (b *bench) campaign(ctx context.Context, name string) (result, error) {
	spec := fmt.Sprintf("name: %s\nplaybook: health-check\ntarget: 'org!=NONE'\nwaves: [{name: all, max_failure_percent: 100}]\n", name)
	if _, err := b.app.Create(ctx, name+".yaml", []byte(spec)); err != nil {
		return result{}, err
	}
	n0, f0 := b.reacher.n.Load(), b.reacher.failed.Load()
	b.reacher.first.Store(0)
	b.reacher.last.Store(0)
	t0 := time.Now()
	if _, err := b.app.Start(ctx, name); err != nil {
		return result{}, err
	}
	for {
		c, err := b.store.Campaign(ctx, name)
		if err != nil {
			return result{}, err
		}
		if c.Status == orchestrator.StatusDone {
			break
		}
		if c.Status != orchestrator.StatusRunning {
			return result{}, fmt.Errorf("campaign %s is %s", name, c.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := result{calls: b.reacher.n.Load() - n0, failed: b.reacher.failed.Load() - f0, wall: time.Since(t0),
		busy: time.Duration(b.reacher.last.Load() - b.reacher.first.Load())}
	r.before = time.Duration(b.reacher.first.Load() - t0.UnixNano())
	ms, err := b.store.Members(ctx, name)
	if err != nil {
		return result{}, err
	}
	for _, m := range ms {
		if m.State != orchestrator.DeviceSucceeded {
			return r, fmt.Errorf("campaign %s: device %s %s %s: %s", name, m.Hostname, m.State, m.Reason, m.Message)
		}
	}
	return r, nil
}

// bare replays every device's recorded calls, in order, from a plain
// masterzen client per device at the bench's concurrency.
func (b *bench) bare(ctx context.Context) (result, error) {
	hosts := make(chan string)
	var wg sync.WaitGroup
	var calls, failed atomic.Int64
	var firstErr atomic.Value
	var connsMu sync.Mutex
	var conns []net.Conn
	t0 := time.Now()
	for range b.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range hosts {
				addr, portText, _ := strings.Cut(b.addrs[h], ":")
				port, _ := strconv.Atoi(portText)
				params := *wr.DefaultParameters
				params.TransportDecorator = func() wr.Transporter { return &wr.ClientNTLM{} }
				params.Dial = func(network, a string) (net.Conn, error) {
					c, err := (&net.Dialer{Timeout: 30 * time.Second}).Dial(network, a)
					if err == nil {
						connsMu.Lock()
						conns = append(conns, c)
						connsMu.Unlock()
					}
					return c, err
				}
				client, err := wr.NewClientWithParameters(wr.NewEndpoint(addr, port, false, false, nil, nil, nil, 30*time.Second), user, password, &params)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					failed.Add(1)
					continue
				}
				for _, c := range b.reacher.by[h] {
					line := sdk.WindowsFactsScript
					if !c.probe {
						line = c.cmd.Script
					}
					if c.probe || c.cmd.Shell != sdk.Cmd {
						line = wr.Powershell(line)
					}
					var stdout, stderr bytes.Buffer
					_, err := client.RunWithContext(ctx, line, &stdout, &stderr)
					calls.Add(1)
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
				}
			}
		}()
	}
	for h := range b.reacher.by {
		hosts <- h
	}
	close(hosts)
	wg.Wait()
	r := result{calls: calls.Load(), failed: failed.Load(), wall: time.Since(t0)}
	r.busy = r.wall
	for _, c := range conns {
		c.Close()
	}
	if e, ok := firstErr.Load().(error); ok {
		// masterzen's NTLM transport (go-ntlmssp) now and then loses a
		// handshake to a connection race: the floor's own failures, shown.
		fmt.Printf("       (bare: %d calls failed, the first: %v)\n", r.failed, e)
		if r.failed*100 > r.calls {
			return r, fmt.Errorf("bare loop: %d of %d calls failed", r.failed, r.calls)
		}
	}
	if r.calls == 0 {
		return r, errors.New("bare loop: no calls recorded")
	}
	return r, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
