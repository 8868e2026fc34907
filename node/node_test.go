package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/internal/simtest"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/node"
	"github.com/ringmaster-fleet/ringmaster/notify"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/orchestrator/scheduler"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
	"github.com/ringmaster-fleet/ringmaster/reports"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

// hook is a webhook receiver that keeps the events it was sent.
type hook struct {
	*httptest.Server
	mu     sync.Mutex
	events []notify.Event
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e notify.Event
		if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.events = append(h.events, e)
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) types() []notify.Type {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []notify.Type
	for _, e := range h.events {
		out = append(out, e.Type)
	}
	return out
}

// fixture is a node over a fresh database with simulated devices: the
// configuration Run is given, and the stores to look at afterwards.
type fixture struct {
	cfg   node.Config
	inv   *sqlite.Inventory
	hist  *sqlite.History
	hook  *hook
	clock *device.ScaledClock
}

func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	ctx := context.Background()
	specs := make([]device.Spec, n)
	rows := []string{"hostname,org,build"}
	for i := range specs {
		specs[i] = simtest.Win10(device.Behaviour{})
		specs[i].Hostname = fmt.Sprintf("pc%03d.rxx.nhs.uk", i)
		rows = append(rows, specs[i].Hostname+",RXX,10.0.18363")
	}
	devs := simtest.Start(t, 600, specs...)
	r := simtest.ReacherOf(devs)
	clock := devs[0].Clock
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "node.db"), sqlite.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	inv := db.Inventory()
	src, err := format.NewCSVReader(strings.NewReader(strings.Join(rows, "\n")+"\n"), "estate.csv", clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Import(ctx, src, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "Europe/London"}); err != nil {
		t.Fatal(err)
	}
	store, err := db.Campaigns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := db.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := db.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	outbox, err := db.Notifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := newHook(t)
	if _, err := outbox.AddSubscription(ctx, notify.Subscription{Channel: notify.Webhook, URL: h.URL}); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	notifier, err := notify.New(notify.Config{Store: outbox, Logger: quiet, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := reports.New(reports.Config{Inventory: inv, Alerts: alerts, History: hist, Campaigns: store, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	svc := campaigns.New(campaigns.Config{Store: store, Inventory: inv, Playbooks: builtin.Files{}.Source, Now: clock.Now})
	return &fixture{inv: inv, hist: hist, hook: h, clock: clock, cfg: node.Config{
		Scheduler: scheduler.Config{Jobs: scheduler.SQLiteJobs(db.SQL(), nil), Store: store, Inventory: inv, Reacher: r, Clock: clock, EngineClock: clock,
			Workers: 10, Tick: 50 * time.Millisecond, Lease: 5 * time.Second, Logger: quiet},
		Observations: inv, Notifier: notifier, Campaigns: svc,
		Snapshots: reports.SnapshotterConfig{Reports: rs, History: hist, Clock: clock, Logger: quiet},
		Watch:     campaigns.WatchOptions{Clock: clock, Every: 50 * time.Millisecond},
	}}
}

// TestRunUntilDone runs a discovery campaign on a node without cobra: Run
// returns once nothing is left to run, with what the devices reported in
// the inventory, the day's snapshot taken and the campaign's end told to
// the subscribed webhook before it returns.
func TestRunUntilDone(t *testing.T) {
	if testing.Short() {
		t.Skip("runs simulated devices")
	}
	f := newFixture(t, 3)
	ctx := context.Background()
	c, err := f.cfg.Campaigns.Create(ctx, "c.yaml", []byte("name: discovery\nplaybook: discover\nwaves: [{name: all}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.cfg.Campaigns.Start(ctx, c.Spec.Name); err != nil {
		t.Fatal(err)
	}
	var rounds int
	f.cfg.Watch.UntilDone = true
	f.cfg.Watch.Round = func(campaigns.Round) { rounds++ }
	runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := node.Run(runCtx, f.cfg); err != nil {
		t.Fatal(err)
	}
	if runCtx.Err() != nil {
		t.Fatal("Run returned only when its context ended")
	}
	if rounds == 0 {
		t.Error("the watch handed no round to Watch.Round")
	}
	d, err := f.cfg.Campaigns.Show(ctx, "discovery")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != string(orchestrator.StatusDone) || d.States["succeeded"] != 3 {
		t.Fatalf("campaign: %s %v", d.Status, d.States)
	}
	dev, err := f.inv.Device(ctx, "pc000.rxx.nhs.uk")
	if err != nil {
		t.Fatal(err)
	}
	if got := dev.Facts.Value(inventory.FactOSBuild); !dev.Facts.Known(inventory.FactUBR) || !strings.HasPrefix(got, "10.0.19044") {
		t.Errorf("the run's probe was not recorded: build %q, UBR known %v", got, dev.Facts.Known(inventory.FactUBR))
	}
	snaps, err := f.hist.Load(ctx)
	if err != nil || len(snaps) == 0 {
		t.Errorf("no snapshot taken: %v, %v", snaps, err)
	}
	if got := f.hook.types(); len(got) != 1 || got[0] != notify.CampaignDone {
		t.Errorf("webhook got %v, want [%s] before Run returned", got, notify.CampaignDone)
	}
}

// TestRunStopsWithItsContext: without UntilDone a node runs until its
// context ends, then stops cleanly (a nil error).
func TestRunStopsWithItsContext(t *testing.T) {
	if testing.Short() {
		t.Skip("runs simulated devices")
	}
	f := newFixture(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	f.cfg.Watch.Round = func(campaigns.Round) { cancel() }
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx, f.cfg) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run went on after its context ended")
	}
}

// TestRunForecasts: a node forecasts a running campaign in the background
// and stores it for the reports, and forecasts it again once that one is
// older than ForecastEvery (on its clock); with ForecastEvery negative it
// forecasts nothing.
func TestRunForecasts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs simulated devices")
	}
	for _, every := range []time.Duration{20 * time.Minute, -1} {
		f := newFixture(t, 2)
		ctx := context.Background()
		// A window that opened an hour ago and is shut: the campaign runs
		// and waits.
		spec := "name: shut\nplaybook: discover\nwindows: {default: {cron: '0 0 1 1 *', duration: 1m}}\nwaves: [{name: all}]\n"
		if _, err := f.cfg.Campaigns.Create(ctx, "c.yaml", []byte(spec)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.cfg.Campaigns.Start(ctx, "shut"); err != nil {
			t.Fatal(err)
		}
		f.cfg.ForecastEvery = every
		runCtx, cancel := context.WithCancel(ctx)
		var made []time.Time
		f.cfg.Watch.Round = func(campaigns.Round) {
			fc, err := f.cfg.Campaigns.StoredForecast(ctx, "shut")
			if err == nil && (len(made) == 0 || !fc.From.Equal(made[len(made)-1])) {
				made = append(made, fc.From)
			}
			// Two forecasts, or 45 simulated minutes without one.
			if len(made) == 2 || f.clock.Now().Sub(f.clock.Start) > 45*time.Minute {
				cancel()
			}
		}
		if err := node.Run(runCtx, f.cfg); err != nil {
			t.Fatal(err)
		}
		switch {
		case every < 0 && len(made) > 0:
			t.Errorf("ForecastEvery %s: forecasts made at %v", every, made)
		case every > 0 && (len(made) != 2 || made[1].Sub(made[0]) < every):
			t.Errorf("ForecastEvery %s: forecasts made at %v, want two, that long apart", every, made)
		}
	}
}

// TestRunNeedsItsParts: a node without a notifier, campaigns or an
// inventory to record into is refused before anything starts.
func TestRunNeedsItsParts(t *testing.T) {
	for name, cfg := range map[string]node.Config{
		"empty":           {},
		"no notifier":     {Campaigns: &campaigns.Service{}, Observations: nopObservations{}},
		"no campaigns":    {Notifier: &notify.Notifier{}, Observations: nopObservations{}},
		"no observations": {Notifier: &notify.Notifier{}, Campaigns: &campaigns.Service{}},
	} {
		if err := node.Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "node: Run needs") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

type nopObservations struct{}

func (nopObservations) RecordObservation(context.Context, string, inventory.Facts, time.Time) error {
	return nil
}
