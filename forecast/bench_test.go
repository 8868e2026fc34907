package forecast_test

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/forecast"
	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

var (
	benchDevices = flag.Int("forecast.devices", 1300000, "devices of the estate BenchmarkNationalForecast forecasts")
	benchOrgs    = flag.Int("forecast.orgs", 300, "its organisations")
	benchRuns    = flag.Int("forecast.runs", 20, "the forecast's runs")
)

const nationalSpec = `
name: national
playbook: win10-feature-update
windows:
  default: {cron: "0 19 * * *", duration: 10h}
blackout: [2026-12-25, 2026-12-26]
caps: {per_org: 400, per_site: 150, total: 60000}
waves:
  - {name: pilot, count: 500, soak: 24h}
  - {name: ring1, percent: 10, soak: 24h}
  - {name: rest}
`

// nationalView is a draft national campaign over the generated estate (as
// inventory generate makes it): each organisation's devices over its
// sites, 500 in the pilot and a tenth in ring1, all pending.
func nationalView(b *testing.B, devices, orgs int) orchestrator.View {
	b.Helper()
	plan, err := synth.Plan(synth.Options{Devices: devices, Orgs: orgs, Seed: 7, Now: t0})
	if err != nil {
		b.Fatal(err)
	}
	s, err := orchestrator.ParseSpec("national.yaml", []byte(nationalSpec))
	if err != nil {
		b.Fatal(err)
	}
	v := orchestrator.View{Spec: s, Status: orchestrator.StatusDraft, Waves: make([]orchestrator.WaveState, 3), Calendars: map[string]orchestrator.Calendar{}}
	pilotLeft := 500
	for _, o := range plan {
		v.Calendars[o.Code], _ = s.Calendar(o.Code, o.TimeZone)
		pilot := min(pilotLeft, max(1, o.Devices*500/devices))
		pilotLeft -= pilot
		ring1 := o.Devices / 10
		for w, n := range []int{pilot, ring1, o.Devices - pilot - ring1} {
			for i, site := range o.Sites {
				share := n / len(o.Sites)
				if i == 0 {
					share += n % len(o.Sites)
				}
				if share > 0 {
					v.Counts = append(v.Counts, orchestrator.Count{Wave: w, Org: o.Code, Site: site, State: orchestrator.DevicePending, Devices: share})
				}
			}
		}
	}
	return v
}

// BenchmarkNationalForecast forecasts the national feature-update campaign
// over the 1.3M-device estate from its draft, 20 runs (make
// bench-forecast; the target is 30 s on 2 cores).
func BenchmarkNationalForecast(b *testing.B) {
	v := nationalView(b, *benchDevices, *benchOrgs)
	var durations []time.Duration
	for m := 45; m <= 105; m += 5 {
		durations = append(durations, time.Duration(m)*time.Minute)
	}
	p := forecast.Profile{Durations: durations, Failure: forecast.Rate{Events: 20, Trials: 2000}, Offline: forecast.Rate{Events: 80, Trials: 2000},
		Reoffline: forecast.Rate{Events: 50, Trials: 100}, Source: "bench"}
	in := forecast.Input{View: v, Now: t0, Model: forecast.Model{Campaign: p, MinRuns: 1}, Runs: *benchRuns, Seed: 1}
	b.ResetTimer()
	var f forecast.Forecast
	for b.Loop() {
		var err error
		if f, err = forecast.Run(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(f.Decisions)/float64(f.Runs), "decisions/run")
	b.ReportMetric(float64(ms.Sys)/(1<<20), "MiB-sys")
	fmt.Printf("national forecast: %d devices, %d orgs, %d runs, step %s: finish P10 %s P50 %s P90 %s (unfinished %.0f%%)\n",
		*benchDevices, *benchOrgs, f.Runs, f.Step, f.Finish.P10.Format(time.RFC3339), f.Finish.P50.Format(time.RFC3339),
		f.Finish.P90.Format(time.RFC3339), 100*f.Finish.Unfinished)
	for _, w := range f.Waves {
		fmt.Printf("  wave %s: P50 %s\n", w.Name, w.Finish.P50.Format(time.RFC3339))
	}
}
