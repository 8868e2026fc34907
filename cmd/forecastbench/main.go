// Command forecastbench is the benchmark behind `make bench-forecast-stored`:
// what a node's background forecast costs on the national campaign part
// run, and what the reports pay to show it. It takes an estate database
// (-from: bench-api's api.db, 1.3M devices in 300 organisations, copied;
// or one made here with the ringmaster binary), creates the national
// feature-update campaign over it (windows, a blackout, caps, three waves
// with soak) and starts it, then marks -done of its devices as having run:
// their transitions (queued, running, an outcome) and states are written
// straight into the database, spread over the days before now, as the
// scheduler would have left them, with -running more running now. Then it
// times, in this process, campaigns.Service.RefreshForecasts (read the
// view, learn from every transition, replay the controller 20 times,
// store the forecast), then reports.Service.Progress following the
// campaign and the estate page, each reading the stored forecast.
//
//	go run ./cmd/forecastbench -bin bin/ringmaster -from /tmp/apib/api.db
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/cmd/internal/benchutil"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
	"github.com/ringmaster-fleet/ringmaster/reports"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

// spec is the national campaign, as make bench-forecast forecasts it.
const spec = `name: national-fc
playbook: win10-feature-update
params: {media_source: '\\dp01\media$\Win10_22H2'}
target: 'build<10.0.19045'
windows:
  default: {cron: "0 19 * * *", duration: 10h}
blackout: [2026-12-25, 2026-12-26]
caps: {per_org: 400, per_site: 150, total: 60000}
waves:
  - {name: pilot, count: 500, soak: 24h}
  - {name: ring1, percent: 10, soak: 24h}
  - {name: rest}
`

func main() {
	bin := flag.String("bin", "bin/ringmaster", "ringmaster binary (to make the estate when -from is not given)")
	from := flag.String("from", "", "an estate database to copy (bench-api's api.db); default: generate 1.3M devices in 300 organisations")
	dir := flag.String("dir", "", "working directory (default: a new temporary one, removed after)")
	done := flag.Float64("done", 0.2, "share of the campaign's devices that have run")
	running := flag.Float64("running", 0.005, "share of them running now")
	flag.Parse()
	if err := run(*bin, *from, *dir, *done, *running); err != nil {
		fmt.Fprintln(os.Stderr, "forecastbench:", err)
		os.Exit(1)
	}
}

func run(bin, from, dir string, done, running float64) error {
	ctx := context.Background()
	if done <= 0 || done+running >= 1 {
		return fmt.Errorf("-done %v, -running %v: want shares above 0 that leave devices pending", done, running)
	}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "forecastbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "forecast.db")
	rb := benchutil.Runner{Bin: bin, Dir: dir, DB: path}
	if from != "" {
		if err := copyFile(from, path); err != nil {
			return err
		}
	} else {
		for _, args := range [][]string{
			{"inventory", "generate", "--devices", "1300000", "--orgs", "300", "--seed", "7", "--now", "2026-11-01", "--out", "estate.csv"},
			{"inventory", "import", "estate.csv", "--create-orgs"},
		} {
			if _, err := rb.Timed(io.Discard, args...); err != nil {
				return err
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "national-fc.yaml"), []byte(spec), 0o644); err != nil {
		return err
	}
	r, err := rb.Timed(io.Discard, "campaign", "create", "-f", "national-fc.yaml")
	if err != nil {
		return err
	}
	fmt.Printf("campaign create (%s): %s\n", "national-fc", benchutil.Round(r.Wall))

	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	db, err := sqlite.Open(ctx, path, sqlite.Options{Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := db.Campaigns(ctx)
	if err != nil {
		return err
	}
	app := campaigns.New(campaigns.Config{Store: store, Inventory: db.Inventory(), Now: func() time.Time { return now },
		Playbooks: func(ref string) (string, []byte, error) {
			src, err := builtin.Source(ref)
			return "builtin/" + ref + ".yaml", src, err
		}})
	if _, err := app.Start(ctx, "national-fc"); err != nil {
		return err
	}
	ran, inFlight, transitions, err := runPart(ctx, db, now, done, running)
	if err != nil {
		return err
	}
	fmt.Printf("marked %d devices as run and %d running (%d transitions), as the scheduler leaves them\n", ran, inFlight, transitions)

	cpu0, t0 := benchutil.CPU(), time.Now()
	forecast, err := app.RefreshForecasts(ctx, 0, 1)
	if err != nil {
		return err
	}
	if len(forecast) != 1 {
		return fmt.Errorf("refresh forecast %v, want the national campaign", forecast)
	}
	wall, cpu := time.Since(t0), benchutil.CPU()-cpu0
	f, err := app.StoredForecast(ctx, "national-fc")
	if err != nil {
		return err
	}
	fmt.Printf("background forecast (RefreshForecasts: view, learn, %d replays, store): %s, %s CPU, peak RSS %s\n",
		f.Runs, benchutil.Round(wall), benchutil.Round(cpu), benchutil.MiB(benchutil.PeakRSS()))
	fmt.Printf("  learned from %s; finish P10 %s, P50 %s, P90 %s; %d decisions\n", f.LearnedFrom,
		f.Finish.P10.Format(time.DateTime), f.Finish.P50.Format(time.DateTime), f.Finish.P90.Format(time.DateTime), f.Decisions)

	alerts, err := db.Alerts(ctx)
	if err != nil {
		return err
	}
	hist, err := db.History(ctx)
	if err != nil {
		return err
	}
	rs, err := reports.New(reports.Config{Inventory: db.Inventory(), Alerts: alerts, History: hist, Campaigns: store, Now: func() time.Time { return now }})
	if err != nil {
		return err
	}
	target, _, _ := inventory.ParseVersion(reports.DefaultTargetBuild)
	supported, _, _ := inventory.ParseVersion(reports.DefaultSupportedBuild)
	t0 = time.Now()
	p, err := rs.Progress(ctx, reports.ProgressOptions{Selector: inventory.Everything(), Campaign: "national-fc", TargetBuild: target})
	if err != nil {
		return err
	}
	took := time.Since(t0)
	shown, atRisk := 0, 0
	for _, row := range p.Rows {
		if row.Forecast != nil {
			shown++
		}
		if row.AtRisk {
			atRisk++
		}
	}
	fmt.Printf("report progress --campaign national-fc (%d organisations with a forecast finish, %d at risk): %s\n",
		shown, atRisk, benchutil.Round(took))
	t0 = time.Now()
	e, err := rs.Estate(ctx, reports.EstateOptions{Selector: inventory.Everything(), TargetBuild: target, SupportedBuild: supported})
	if err != nil {
		return err
	}
	fmt.Printf("estate report (the HTML page's figures, %d forecast): %s\n", len(e.Forecasts), benchutil.Round(time.Since(t0)))
	return nil
}

// runPart writes, for the first share done of the campaign's devices in
// dispatch order, the transitions a run leaves (queued, running, an
// outcome: most succeed, some fail or find nothing to do) over the five
// days before now, and their states; and the next share running, started
// within the last three hours.
func runPart(ctx context.Context, db *sqlite.DB, now time.Time, done, running float64) (ran, inFlight, transitions int64, err error) {
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, 0, err
	}
	defer tx.Rollback()
	var total int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM campaign_devices WHERE campaign = 'national-fc'`).Scan(&total); err != nil {
		return 0, 0, 0, err
	}
	ran, inFlight = int64(float64(total)*done), int64(float64(total)*running)
	micros := func(t time.Time) int64 { return t.UnixMicro() }
	// A device's run starts at ord spread over five days and lasts 60 to
	// 180 minutes, by its order.
	span := int64(5 * 24 * time.Hour / time.Microsecond)
	from := micros(now) - span
	stmts := []string{
		`CREATE TEMP TABLE part AS SELECT id, hostname, ord,
			` + strconv.FormatInt(from, 10) + ` + ord * ` + strconv.FormatInt(span/max(ran, 1), 10) + ` AS started,
			(60 + (ord * 7919) % 120) * 60000000 AS took,
			CASE WHEN ord % 50 = 3 THEN 'failed' WHEN ord % 33 = 5 THEN 'skipped' ELSE 'succeeded' END AS outcome,
			CASE WHEN ord % 50 = 3 THEN 'rolled_back:0xC1900101' WHEN ord % 33 = 5 THEN 'already_compliant' ELSE 'completed' END AS why
			FROM campaign_devices WHERE campaign = 'national-fc' AND ord < ` + strconv.FormatInt(ran, 10),
		`INSERT INTO campaign_transitions (campaign, hostname, from_state, to_state, reason, cause, at)
			SELECT 'national-fc', hostname, 'pending', 'queued', '', 'dispatch', started FROM part ORDER BY started`,
		`INSERT INTO campaign_transitions (campaign, hostname, from_state, to_state, reason, cause, at)
			SELECT 'national-fc', hostname, 'queued', 'running', '', 'worker', started + 1000000 FROM part ORDER BY started`,
		`INSERT INTO campaign_transitions (campaign, hostname, from_state, to_state, reason, cause, at)
			SELECT 'national-fc', hostname, 'running', outcome, why, 'worker', started + took FROM part ORDER BY started + took`,
		`UPDATE campaign_devices SET state = p.outcome, reason = p.why, attempts = 1, changed_at = p.started + p.took
			FROM part p WHERE campaign_devices.id = p.id`,
		`CREATE TEMP TABLE flying AS SELECT id, hostname, ` + strconv.FormatInt(micros(now), 10) + ` - (ord % 180) * 60000000 AS started
			FROM campaign_devices WHERE campaign = 'national-fc' AND ord >= ` + strconv.FormatInt(ran, 10) +
			` AND ord < ` + strconv.FormatInt(ran+inFlight, 10),
		`INSERT INTO campaign_transitions (campaign, hostname, from_state, to_state, reason, cause, at)
			SELECT 'national-fc', hostname, 'pending', 'queued', '', 'dispatch', started FROM flying ORDER BY started`,
		`INSERT INTO campaign_transitions (campaign, hostname, from_state, to_state, reason, cause, at)
			SELECT 'national-fc', hostname, 'queued', 'running', '', 'worker', started + 1000000 FROM flying ORDER BY started`,
		`UPDATE campaign_devices SET state = 'running', attempts = 1, changed_at = f.started + 1000000,
			lease_until = ` + strconv.FormatInt(micros(now.Add(time.Hour)), 10) + ` FROM flying f WHERE campaign_devices.id = f.id`,
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return 0, 0, 0, fmt.Errorf("%w\n%s", err, q)
		}
	}
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM campaign_transitions WHERE campaign = 'national-fc'`).Scan(&transitions); err != nil {
		return 0, 0, 0, err
	}
	return ran, inFlight, transitions, tx.Commit()
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
