// Command forecastbacktest checks the forecast against what happens
// (`make backtest-forecast`). For each of several shapes of feature-update
// campaign (windows, caps, soak, faults, laptops away) it starts a
// simulated estate speaking WinRM on loopback, on a clock running
// -time-scale times faster than the wall, and runs the campaign with the
// real scheduler, River, SQLite and playbook engine on the same clock.
// When -at of its devices have an outcome it forecasts the campaign
// (campaigns.Service.Forecast, as `ringmaster campaign forecast` does),
// then lets it run to the end and compares: for each organisation with
// devices left at the forecast, whether its actual finish (simulated time)
// falls inside the forecast's P10–P90; for the campaign, how far the P50
// finish is from the actual one, as a share of the campaign's whole
// duration. It prints a table per shape and exits 1 when fewer than
// -min-inside of the organisations fall inside, or a campaign's P50 misses
// by more than -max-error.
//
//	go run ./cmd/forecastbacktest -shapes nightly,sparse,sites
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/forecast"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/orchestrator/scheduler"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/scenario"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

const (
	user     = "svc-backtest"
	password = "Backtest-Pa55word!"
	name     = "win10-22h2"
)

// start is when every shape's simulated time begins: a Monday morning, so
// that week-day windows fall the same way on every run.
var start = time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)

// shape is one kind of campaign the backtest runs. Each caps the devices
// in flight in all: the simulator answers WinRM in real time, which the
// scaled clock stretches, so a busier machine makes simulated runs
// longer; a steady load keeps that from changing the runs' durations
// over the campaign (as nothing of the kind changes a real estate's).
type shape struct {
	name, about   string
	devices, orgs int
	faults        string
	// away takes every away[0]-th device off the network for awayFor
	// when the campaign starts (laptops taken home).
	away    int
	awayFor time.Duration
	// spec is the campaign's YAML for the generated organisations.
	spec func(orgs []synth.Org) string
}

var shapes = []shape{{
	name:    "nightly",
	about:   "nightly windows (20:00 for 10 h), 20 devices per organisation and 40 in all at once, a pilot of 30 soaked 4 h",
	devices: 800, orgs: 8, faults: "compat=3%,rollback=2%,lowdisk=2%,slow=5%:100ms",
	spec: func([]synth.Org) string {
		return `windows: {default: {cron: '0 20 * * *', duration: 10h}}
caps: {per_org: 20, total: 40}
waves:
  - {name: pilot, count: 30, soak: 4h, max_failure_percent: 50}
  - {name: rest, max_failure_percent: 50}
`
	},
}, {
	name:    "sparse",
	about:   "nightly windows (22:00 for 8 h) but one organisation's on Tuesday and Friday nights only, 15 devices per organisation and 40 in all at once",
	devices: 800, orgs: 8, faults: "compat=3%,rollback=2%,lowdisk=2%,slow=5%:100ms",
	spec: func(orgs []synth.Org) string {
		// The sparse organisation is the second largest: big enough to
		// need several of its nights.
		sparse := slices.SortedFunc(slices.Values(orgs), func(a, b synth.Org) int { return b.Devices - a.Devices })[1]
		return fmt.Sprintf(`windows:
  default: {cron: '0 22 * * *', duration: 8h}
  orgs: {%s: {cron: '0 19 * * 2,5', duration: 11h}}
caps: {per_org: 15, total: 40}
waves:
  - {name: all, max_failure_percent: 50}
`, sparse.Code)
	},
}, {
	name:    "sites",
	about:   "week-night windows (18:00 for 12 h, Monday to Friday), 4 devices per site and 40 in all at once, a pilot of 40 soaked 12 h, a ring of 30% soaked 6 h, more faults, 1 in 40 laptops away for 30 h",
	devices: 900, orgs: 10, faults: "compat=4%,rollback=3%,lowdisk=2%,slow=8%:150ms,hang=1%",
	away: 40, awayFor: 30 * time.Hour,
	spec: func([]synth.Org) string {
		return `windows: {default: {cron: '0 18 * * 1-5', duration: 12h}}
caps: {per_site: 4, per_org: 30, total: 40}
defer: {backoff: 1h, max_backoff: 8h}
waves:
  - {name: pilot, count: 40, soak: 12h, max_failure_percent: 50}
  - {name: ring1, percent: 30, soak: 6h, max_failure_percent: 50}
  - {name: rest, max_failure_percent: 50}
`
	},
}}

type options struct {
	scale      float64
	at         float64
	runs       int
	workers    int
	seed       uint64
	minInside  float64
	maxError   float64
	limit      time.Duration
	keep       string
	shapeNames []string
}

func main() {
	var o options
	var names string
	flag.Float64Var(&o.scale, "time-scale", 900, "simulated seconds per real second (higher is quicker, but the simulator's own latency then weighs more in each run, the more so the busier the machine)")
	flag.Float64Var(&o.at, "at", 0.2, "forecast when this share of the campaign's devices have an outcome")
	flag.IntVar(&o.runs, "runs", 100, "the forecast's replays")
	flag.IntVar(&o.workers, "workers", 500, "devices the scheduler works on at once (above what the caps allow)")
	flag.Uint64Var(&o.seed, "seed", 1, "the estates' and faults' random seed")
	flag.Float64Var(&o.minInside, "min-inside", 0.8, "share of organisations whose actual finish must fall inside P10-P90")
	flag.Float64Var(&o.maxError, "max-error", 0.15, "largest miss of the campaign's P50 finish, as a share of its duration")
	flag.DurationVar(&o.limit, "limit", 30*24*time.Hour, "simulated time after which a campaign not done fails the backtest")
	flag.StringVar(&o.keep, "keep", "", "keep each shape's database in this directory (default: a temporary one, removed)")
	flag.StringVar(&names, "shapes", "nightly,sparse,sites", "the shapes to run: "+shapeList())
	flag.Parse()
	o.shapeNames = strings.Split(names, ",")
	if err := run(context.Background(), os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "forecastbacktest:", err)
		os.Exit(1)
	}
}

func shapeList() string {
	var s []string
	for _, sh := range shapes {
		s = append(s, sh.name)
	}
	return strings.Join(s, ", ")
}

// errMissed is a backtest whose forecast missed by more than allowed.
var errMissed = errors.New("the forecast missed")

func run(ctx context.Context, w io.Writer, o options) error {
	var chosen []shape
	for _, n := range o.shapeNames {
		i := slices.IndexFunc(shapes, func(s shape) bool { return s.name == n })
		if i < 0 {
			return fmt.Errorf("-shapes: no shape %q (there are %s)", n, shapeList())
		}
		chosen = append(chosen, shapes[i])
	}
	if o.at <= 0 || o.at >= 1 {
		return fmt.Errorf("-at %v: want a share between 0 and 1", o.at)
	}
	if o.scale <= 0 {
		return fmt.Errorf("-time-scale %v: want a positive number", o.scale)
	}
	var total score
	for i, sh := range chosen {
		res, err := backtest(ctx, sh, o, i)
		if err != nil {
			return fmt.Errorf("shape %s: %w", sh.name, err)
		}
		s := res.write(w)
		total.inside += s.inside
		total.orgs += s.orgs
		total.worst = max(total.worst, s.worst)
	}
	share := float64(total.inside) / float64(max(total.orgs, 1))
	fmt.Fprintf(w, "\nAll shapes: %d of %d organisations finished inside their P10-P90 (%.0f%%, want >= %.0f%%); the campaigns' P50 missed by at most %.1f%% of their duration (want <= %.0f%%)\n",
		total.inside, total.orgs, 100*share, 100*o.minInside, 100*total.worst, 100*o.maxError)
	if share < o.minInside || total.worst > o.maxError {
		return errMissed
	}
	return nil
}

// result is one shape's forecast and what happened.
type result struct {
	shape     shape
	started   time.Time // the campaign's start (simulated)
	at        time.Time // when the forecast was made
	share     float64   // of devices with an outcome then
	devices   int
	f         forecast.Forecast
	left      map[string]int       // by organisation: devices without an outcome at the forecast
	actual    map[string]time.Time // by organisation: its last device's outcome
	finish    time.Time            // the campaign's actual finish
	outcomes  map[string]int
	wallClock time.Duration
}

// score is how a result did.
type score struct {
	inside, orgs int
	worst        float64 // the campaign finish's miss, as a share of its duration
}

func backtest(ctx context.Context, sh shape, o options, n int) (*result, error) {
	began := time.Now()
	dir := o.keep
	if dir == "" {
		tmp, err := os.MkdirTemp("", "forecastbacktest")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := scenario.CheckDescriptors(sh.devices, false); err != nil {
		return nil, err
	}
	clock := device.NewScaledClock(start, o.scale)
	faults, err := fleetsim.ParseFaults(sh.faults)
	if err != nil {
		return nil, err
	}
	est, err := scenario.Start(ctx, scenario.Config{
		Synth: synth.Options{Devices: sh.devices, Orgs: sh.orgs, Seed: o.seed, Now: start.Truncate(24 * time.Hour)}, MinDiskFreeGB: 40,
		Behaviour: upgradeTime,
		Fleet: fleetsim.Config{Username: user, Password: password, Faults: faults, Seed: o.seed, Clock: clock,
			Logger: slog.New(slog.DiscardHandler), FirstAddress: net.IPv4(127, byte(81+n), 1, 1), IdleConnTimeout: 10 * time.Second}})
	if err != nil {
		return nil, err
	}
	defer est.Close()

	path := filepath.Join(dir, sh.name+".db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !os.IsNotExist(err) {
			return nil, err
		}
	}
	db, err := sqlite.Open(ctx, path, sqlite.Options{Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	inv := db.Inventory()
	var csv bytes.Buffer
	if err := est.WriteInventory(&csv, false, ""); err != nil {
		return nil, err
	}
	rd, err := format.NewCSVReader(&csv, "estate.csv", clock.Now())
	if err != nil {
		return nil, err
	}
	if _, err := inv.Import(ctx, rd, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "Europe/London"}); err != nil {
		return nil, err
	}
	reach := reacher{targets: map[string]sdk.Target{}, x: winrm.New(winrm.Options{})}
	for _, ep := range est.Endpoints() {
		reach.targets[ep.Machine.Hostname()] = sdk.Target{Hostname: ep.Machine.Hostname(), Address: ep.Address(false), Auth: "basic",
			Username: user, Password: password, ConnectTimeout: 20 * time.Second,
			// Loopback: Basic is the cheapest scheme to drive.
			Options: map[string]string{winrm.OptionAllowBasicWithoutTLS: "true"}}
	}

	store, err := db.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	jobs := scheduler.SQLiteJobs(db.SQL(), nil)
	if err := scheduler.Migrate(ctx, jobs); err != nil {
		return nil, err
	}
	listen, err := db.ListenSQL(ctx)
	if err != nil {
		return nil, err
	}
	sch, err := scheduler.New(scheduler.Config{Jobs: scheduler.SQLiteJobs(db.SQL(), listen), Store: store, Inventory: inv, Reacher: reach,
		Playbook: playbooks.Parse, Clock: clock, EngineClock: clock, Workers: o.workers, Tick: 100 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	app := campaigns.New(campaigns.Config{Store: store, Inventory: inv, Now: clock.Now, Changed: sch.Kick,
		Playbooks: func(ref string) (string, []byte, error) {
			src, err := builtin.Source(ref)
			return "builtin/" + ref + ".yaml", src, err
		}})
	spec := fmt.Sprintf("name: %s\nplaybook: win10-feature-update\nparams: {media_source: '%s'}\ntarget: 'build<10.0.19045'\n%s",
		name, `\\dp01\media$\Win10_22H2`, sh.spec(est.Orgs))
	if _, err := app.Create(ctx, name+".yaml", []byte(spec)); err != nil {
		return nil, err
	}
	if _, err := app.Start(ctx, name); err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if err := sch.Start(runCtx); err != nil {
		return nil, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = sch.Stop(stopCtx)
		cancel()
	}()
	res := &result{shape: sh, started: clock.Now(), outcomes: map[string]int{}}
	if sh.away > 0 {
		est.TakeAway(runCtx, clock, sh.away, 0, sh.awayFor)
	}

	for {
		time.Sleep(100 * time.Millisecond)
		c, err := store.Campaign(ctx, name)
		if err != nil {
			return nil, err
		}
		if c.Status == orchestrator.StatusDone {
			break
		}
		if clock.Now().Sub(res.started) > o.limit {
			return nil, fmt.Errorf("not done after %s of simulated time (status %s): see its database with -keep", o.limit, c.Status)
		}
		if res.at.IsZero() {
			ms, err := store.Members(ctx, name)
			if err != nil {
				return nil, err
			}
			final, left := 0, map[string]int{}
			for _, m := range ms {
				if m.State.Final() {
					final++
				} else {
					left[m.Org]++
				}
			}
			if share := float64(final) / float64(len(ms)); share >= o.at {
				res.at, res.share, res.left, res.devices = clock.Now(), share, left, len(ms)
				if res.f, err = app.Forecast(ctx, name, campaigns.ForecastOptions{Runs: o.runs, Seed: o.seed}); err != nil {
					return nil, err
				}
				if o.keep != "" {
					doc, _ := json.MarshalIndent(res.f, "", "  ")
					if err := os.WriteFile(filepath.Join(dir, sh.name+"-forecast.json"), doc, 0o644); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	ms, err := store.Members(ctx, name)
	if err != nil {
		return nil, err
	}
	res.actual = map[string]time.Time{}
	for _, m := range ms {
		if m.Changed.After(res.actual[m.Org]) {
			res.actual[m.Org] = m.Changed
		}
		if m.Changed.After(res.finish) {
			res.finish = m.Changed
		}
		res.outcomes[string(m.State)]++
	}
	if res.at.IsZero() {
		return nil, fmt.Errorf("the campaign was done before %.0f%% of its devices had an outcome", 100*o.at)
	}
	res.wallClock = time.Since(began)
	return res, nil
}

// upgradeTime gives each device a feature update of its own length: longer
// on less memory (older machines, slower disks), and spread as real ones
// are (a log-normal factor drawn from its name, so the same estate
// upgrades alike on every run).
func upgradeTime(d synth.Device) device.Behaviour {
	base := 100 * time.Minute
	switch {
	case d.RAMGB <= 4:
		base = 170 * time.Minute
	case d.RAMGB <= 8:
		base = 130 * time.Minute
	}
	h := fnv.New64a()
	h.Write([]byte(d.Hostname))
	// Two uniform draws from the hash, to a normal one (Box-Muller).
	v := h.Sum64()
	u1 := (float64(v>>32) + 1) / (1 << 32)
	u2 := float64(v&0xffffffff) / (1 << 32)
	z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	return device.Behaviour{UpgradeTime: time.Duration(float64(base) * math.Exp(0.3*z))}
}

// reacher reaches the simulated devices by hostname, through one
// executor (scheduler.Reacher).
type reacher struct {
	targets map[string]sdk.Target
	x       playbooks.Executor
}

func (r reacher) Reach(_ context.Context, host string) (sdk.Target, playbooks.Executor, error) {
	t, ok := r.targets[host]
	if !ok {
		return sdk.Target{}, nil, fmt.Errorf("no simulated device %s", host)
	}
	return t, r.x, nil
}

// write prints the result's table and returns its score.
func (r *result) write(w io.Writer) score {
	f := r.f
	var s score
	fmt.Fprintf(w, "\nShape %s: %s\n", r.shape.name, r.shape.about)
	fmt.Fprintf(w, "  %d devices in the campaign; faults %s; %d replays; learned from %s\n", r.devices, r.shape.faults, f.Runs, f.LearnedFrom)
	fmt.Fprintf(w, "  forecast at %s, %.0f%% of devices with an outcome; times are from the campaign's start (simulated; %s of real time)\n",
		elapsed(r.started, r.at), 100*r.share, r.wallClock.Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  ORG\tDEVICES\tLEFT\tP10\tP50\tP90\tACTUAL\tINSIDE\t")
	for _, o := range f.Orgs {
		actual := r.actual[o.Org]
		left := r.left[o.Org]
		verdict := "-"
		if left > 0 {
			s.orgs++
			if !o.Finish.P10.IsZero() && !actual.Before(o.Finish.P10) && !o.Finish.P90.IsZero() && !actual.After(o.Finish.P90) {
				s.inside++
				verdict = "yes"
			} else {
				verdict = "NO"
			}
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", o.Org, o.Devices, left,
			elapsed(r.started, o.Finish.P10), elapsed(r.started, o.Finish.P50), elapsed(r.started, o.Finish.P90), elapsed(r.started, actual), verdict)
	}
	tw.Flush()
	took := r.finish.Sub(r.started)
	miss := math.Inf(1)
	if !f.Finish.P50.IsZero() {
		miss = f.Finish.P50.Sub(r.finish).Abs().Seconds() / took.Seconds()
	}
	s.worst = miss
	fmt.Fprintf(w, "  campaign: P10 %s, P50 %s, P90 %s; actual %s: P50 off by %.1f%% of its %s\n",
		elapsed(r.started, f.Finish.P10), elapsed(r.started, f.Finish.P50), elapsed(r.started, f.Finish.P90), elapsed(r.started, r.finish),
		100*miss, took.Round(time.Minute))
	fmt.Fprintf(w, "  organisations with devices left at the forecast: %d of %d finished inside P10-P90; outcomes %v\n", s.inside, s.orgs, r.outcomes)
	return s
}

// elapsed is t as a time since the campaign's start ("2d 04:10"), or
// "never" for a zero time (not finishing, in the forecast).
func elapsed(from, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := t.Sub(from).Round(time.Minute)
	days := int(d / (24 * time.Hour))
	d -= time.Duration(days) * 24 * time.Hour
	return fmt.Sprintf("%dd %02d:%02d", days, int(d/time.Hour), int(d%time.Hour/time.Minute))
}
