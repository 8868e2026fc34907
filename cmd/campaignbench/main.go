// Command campaignbench is the benchmark behind `make bench-campaign`: it
// starts `ringmaster simulate` with a time-scaled fleet in its own process,
// runs one win10-feature-update campaign over every eligible device with the
// scheduler, River and the engine in this process at a given concurrency,
// and then replays, with a bare executor loop at the same concurrency, the
// very commands the campaign sent (restarts replaced by `hostname`, so the
// replay is not cut short by devices going down). It reports devices per
// second, this process's CPU seconds per device for both, and their ratio:
// the orchestrator's overhead over the floor of just sending the commands.
//
//	go run ./cmd/campaignbench -bin bin/ringmaster -devices 5000 -concurrency 500
package main

import (
	"context"
	"flag"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/cmd/internal/benchutil"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/orchestrator/scheduler"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

const (
	user     = "bench"
	password = "Bench-Pa55word!"
)

func main() {
	bin := flag.String("bin", "bin/ringmaster", "ringmaster binary")
	devices := flag.Int("devices", 5000, "simulated devices")
	concurrency := flag.Int("concurrency", 500, "devices run at once")
	scale := flag.Float64("time-scale", 600, "simulated seconds per real second")
	flag.Parse()
	if err := run(*bin, *devices, *concurrency, *scale); err != nil {
		slog.Error("campaignbench", "err", err)
		os.Exit(1)
	}
}

// call is one executor call the campaign made.
type call struct {
	probe bool
	cmd   sdk.Command
}

// recorder is an executor that records what it is asked per device.
type recorder struct {
	x  *winrm.Executor
	mu sync.Mutex
	by map[string][]call
	n  atomic.Int64
}

func (r *recorder) add(host string, c call) {
	r.n.Add(1)
	r.mu.Lock()
	r.by[host] = append(r.by[host], c)
	r.mu.Unlock()
}

func (r *recorder) Probe(ctx context.Context, t sdk.Target) (sdk.ProbeResult, error) {
	r.add(t.Hostname, call{probe: true})
	return r.x.Probe(ctx, t)
}

func (r *recorder) Exec(ctx context.Context, t sdk.Target, c sdk.Command, out func(sdk.Chunk)) (sdk.Result, error) {
	r.add(t.Hostname, call{cmd: c})
	return r.x.Exec(ctx, t, c, out)
}

// bench is the scheduler's view of the estate.
type bench struct {
	inv     *sqlite.Inventory
	targets map[string]sdk.Target
	x       playbooks.Executor
}

func (b *bench) Reach(_ context.Context, host string) (sdk.Target, playbooks.Executor, error) {
	t, ok := b.targets[host]
	if !ok {
		return sdk.Target{}, nil, fmt.Errorf("no device %s", host)
	}
	return t, b.x, nil
}

func (b *bench) Devices(ctx context.Context, sel inventory.Selector) iter.Seq2[*inventory.Device, error] {
	return b.inv.Devices(ctx, sel)
}

func (b *bench) TimeZones(ctx context.Context) (map[string]string, error) {
	return b.inv.TimeZones(ctx)
}

func (b *bench) LastSeen(context.Context, []string) (map[string]time.Time, error) {
	return map[string]time.Time{}, nil
}

func run(bin string, n, concurrency int, scale float64) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "campaignbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fleetCSV := filepath.Join(dir, "fleet.csv")
	sim, err := benchutil.StartSimulator(bin, "--devices", fmt.Sprint(n), "--orgs", "20", "--seed", "1",
		"--time-scale", fmt.Sprint(scale), "--username", user, "--password", password, "--inventory-out", fleetCSV,
		"--idle-conn-timeout", "5s", "--first-address", "127.60.1.1")
	if err != nil {
		return err
	}
	defer sim.Stop()

	// The inventory and the campaigns run on the scaled clock.
	clock := device.NewScaledClock(time.Now(), scale)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "bench.db"), sqlite.Options{Now: clock.Now})
	if err != nil {
		return err
	}
	defer db.Close()
	inv := db.Inventory()
	f, err := os.Open(fleetCSV)
	if err != nil {
		return err
	}
	rd, err := format.NewCSVReader(f, fleetCSV, time.Now())
	if err != nil {
		return err
	}
	if _, err := inv.Import(ctx, rd, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "Europe/London"}); err != nil {
		return err
	}
	f.Close()
	b := &bench{inv: inv, targets: map[string]sdk.Target{}}
	for d, err := range inv.Devices(ctx, inventory.Everything()) {
		if err != nil {
			return err
		}
		b.targets[d.Hostname] = sdk.Target{Hostname: d.Hostname, Address: d.Address, Username: user, Password: password,
			ConnectTimeout: 60 * time.Second}
	}
	rec := &recorder{x: winrm.New(winrm.Options{}), by: map[string][]call{}}
	b.x = rec

	store, err := db.Campaigns(ctx)
	if err != nil {
		return err
	}
	if err := scheduler.Migrate(ctx, scheduler.SQLiteJobs(db.SQL(), nil)); err != nil {
		return err
	}
	spec := `name: bench
playbook: win10-feature-update
params: {media_source: '\\dp01\media$\Win10_22H2'}
target: 'build<10.0.19045'
waves: [{name: all, max_failure_percent: 100}]
`
	app := campaigns.New(campaigns.Config{Store: store, Inventory: b, Now: clock.Now,
		Playbooks: func(name string) (string, []byte, error) {
			src, err := builtin.Source(name)
			return "builtin/" + name + ".yaml", src, err
		}})
	created, err := app.Create(ctx, "bench.yaml", []byte(spec))
	if err != nil {
		return err
	}
	targets := created.WaveSizes[0]
	listen, err := db.ListenSQL(ctx)
	if err != nil {
		return err
	}
	sch, err := scheduler.New(scheduler.Config{Jobs: scheduler.SQLiteJobs(db.SQL(), listen), Store: store, Inventory: b, Reacher: b, Playbook: playbooks.Parse,
		Clock: clock, EngineClock: clock, Workers: concurrency, Tick: 200 * time.Millisecond})
	if err != nil {
		return err
	}
	if _, err := app.Start(ctx, "bench"); err != nil {
		return err
	}
	fmt.Printf("%d simulated devices, %d eligible for the feature update, concurrency %d, time scale %gx\n", n, targets, concurrency, scale)
	cpu0, t0 := benchutil.CPU(), time.Now()
	if err := sch.Start(ctx); err != nil {
		return err
	}
	for {
		c, err := store.Campaign(ctx, "bench")
		if err != nil {
			return err
		}
		if c.Status == orchestrator.StatusDone {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	wall, used := time.Since(t0), benchutil.CPU()-cpu0
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_ = sch.Stop(stopCtx)
	cancel()
	ms, err := store.Members(ctx, "bench")
	if err != nil {
		return err
	}
	states := map[string]int{}
	for _, m := range ms {
		states[string(m.State)+" "+string(m.Reason)]++
	}
	calls := rec.n.Load()
	fmt.Printf("campaign: %d devices in %s: %.2f devices/s, %.1f ms CPU per device, %d executor calls (%.1f per device)\n",
		len(ms), wall.Round(time.Millisecond), float64(len(ms))/wall.Seconds(), ms1(used)/float64(len(ms)), calls, float64(calls)/float64(len(ms)))
	fmt.Printf("  outcomes: %v\n", states)

	// The floor: the same commands, per device in the same order, from a
	// bare loop at the same concurrency.
	hosts := make(chan string)
	var wg sync.WaitGroup
	var failed atomic.Int64
	x := winrm.New(winrm.Options{})
	cpu1, t1 := benchutil.CPU(), time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range hosts {
				t := b.targets[h]
				for _, c := range rec.by[h] {
					var err error
					switch {
					case c.probe:
						_, err = x.Probe(ctx, t)
					case strings.HasPrefix(c.cmd.Script, "shutdown /r"):
						_, err = x.Exec(ctx, t, sdk.Command{Shell: sdk.Cmd, Script: "hostname"}, nil)
					default:
						_, err = x.Exec(ctx, t, c.cmd, nil)
					}
					if err != nil && !sdk.IsKind(err, sdk.CommandFailed) {
						failed.Add(1)
					}
				}
			}
		}()
	}
	for h := range rec.by {
		hosts <- h
	}
	close(hosts)
	wg.Wait()
	floorWall, floorCPU := time.Since(t1), benchutil.CPU()-cpu1
	fmt.Printf("floor (bare executor loop, same %d calls): %s, %.1f ms CPU per device (%d calls failed)\n",
		calls, floorWall.Round(time.Millisecond), ms1(floorCPU)/float64(len(ms)), failed.Load())
	fmt.Printf("CPU per device, campaign / floor: %.2f (target <= 1.15)\n", float64(used)/float64(floorCPU))
	return nil
}

func ms1(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
