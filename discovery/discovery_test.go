package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/discovery"
	"github.com/ringmaster-fleet/ringmaster/internal/ctxtest"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

var testNow = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

const user, password = "svc", "Discovery-Secret-1"

// estate is a simulated fleet of n devices, seeded with faults, and an
// inventory that holds them.
type estate struct {
	fleet   *fleetsim.Fleet
	store   *sqlite.Inventory
	targets []sdk.Target
}

func newEstate(t *testing.T, n int, faults fleetsim.FaultSpec) *estate {
	t.Helper()
	ctx := context.Background()
	specs := make([]device.Spec, n)
	for i := range specs {
		specs[i] = device.Spec{Hostname: fmt.Sprintf("pc%06d.rxx.nhs.uk", i+1), Caption: "Microsoft Windows 10 Enterprise",
			Edition: "Enterprise", Build: "10.0.19044", UBR: 2965 + i, KBs: []string{"KB5034441"}, DiskFreeGB: 48.5, RAMGB: 16,
			Manufacturer: "Dell Inc.", Model: "OptiPlex 7090"}
	}
	var f *fleetsim.Fleet
	var err error
	for range 5 { // another test process may hold the range: move on
		f, err = fleetsim.Start(ctx, fleetsim.Config{Devices: specs, Username: user, Password: password, Faults: faults, Seed: 7,
			FirstAddress: net.IPv4(127, byte(100+rand.IntN(150)), byte(1+rand.IntN(250)), 1)})
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	e := &estate{fleet: f}
	for _, ep := range f.Endpoints() {
		e.targets = append(e.targets, sdk.Target{Hostname: ep.Machine.Hostname(), Address: ep.Address(false), Auth: "basic",
			Username: user, Password: password, ConnectTimeout: 5 * time.Second,
			// Loopback, in a test: Basic is the cheapest scheme to drive.
			Options: map[string]string{winrm.OptionAllowBasicWithoutTLS: "true"}})
	}
	e.store = e.newStore(t)
	return e
}

// newStore is a new inventory of the fleet's devices, as yet unprobed.
func (e *estate) newStore(t *testing.T) *sqlite.Inventory {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "test.db"), sqlite.Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := db.Inventory()
	var csv strings.Builder
	csv.WriteString("hostname,org\n")
	for _, tg := range e.targets {
		fmt.Fprintf(&csv, "%s,RXX\n", tg.Hostname)
	}
	r, err := format.NewCSVReader(strings.NewReader(csv.String()), "d.csv", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, r, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "Europe/London"}); err != nil {
		t.Fatal(err)
	}
	return s
}

// faulty returns the devices seeded with a fault, by hostname.
func (e *estate) faulty() map[string]string {
	out := map[string]string{}
	for _, ep := range e.fleet.Endpoints() {
		for k, on := range ep.Faults {
			if on {
				out[ep.Machine.Hostname()] = k
			}
		}
	}
	return out
}

func (e *estate) device(t *testing.T, host string) inventory.Device {
	t.Helper()
	d, err := e.store.Device(context.Background(), host)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// observed says whether every fact a probe reports is known on d, or none
// is; anything between is a half-written observation.
func observed(t *testing.T, d inventory.Device) bool {
	t.Helper()
	probed := []inventory.Fact{inventory.FactManufacturer, inventory.FactModel, inventory.FactOSCaption, inventory.FactOSEdition,
		inventory.FactOSBuild, inventory.FactUBR, inventory.FactKBs, inventory.FactDiskFreeGB, inventory.FactRAMGB}
	known := 0
	for _, f := range probed {
		if d.Facts.Known(f) {
			known++
		}
	}
	if known != 0 && known != len(probed) {
		t.Errorf("%s: %d of %d facts recorded: half-written", d.Hostname, known, len(probed))
	}
	return known == len(probed)
}

func TestProbe(t *testing.T) {
	for _, tc := range []struct {
		name        string
		faults      map[string]float64
		concurrency int
		batch       int
	}{
		{name: "healthy", concurrency: 4},
		{name: "faults", faults: map[string]float64{fleetsim.FaultUnreachable: 0.25, fleetsim.FaultBadCreds: 0.25}, concurrency: 3, batch: 2},
		{name: "serial", faults: map[string]float64{fleetsim.FaultBadCreds: 0.1}, concurrency: 1, batch: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEstate(t, 12, fleetsim.FaultSpec{Share: tc.faults})
			var progress atomic.Int64
			sum, err := discovery.Probe(context.Background(), winrm.New(winrm.Options{}), e.store, e.targets,
				discovery.Options{Concurrency: tc.concurrency, Batch: tc.batch, Timeout: 10 * time.Second,
					Progress: func(int) { progress.Add(1) }})
			if err != nil {
				t.Fatal(err)
			}
			faulty := e.faulty()
			want := discovery.Summary{Devices: 12, Answered: 12 - len(faulty), Failed: map[sdk.Kind]int{}}
			kindOf := map[string]sdk.Kind{fleetsim.FaultUnreachable: sdk.Unreachable, fleetsim.FaultBadCreds: sdk.AuthFailed}
			for _, fault := range faulty {
				want.Failed[kindOf[fault]]++
			}
			if sum.String() != want.String() || sum.Devices != want.Devices {
				t.Errorf("summary %+v, want %+v", sum, want)
			}
			if progress.Load() != 12 {
				t.Errorf("progress reported %d devices", progress.Load())
			}
			for i, tg := range e.targets {
				d := e.device(t, tg.Hostname)
				_, failed := faulty[tg.Hostname]
				if observed(t, d) == failed {
					t.Errorf("%s (fault %q): facts recorded = %v", tg.Hostname, faulty[tg.Hostname], !failed)
					continue
				}
				if !failed && (d.Facts.OSBuild.String() != "10.0.19044" || d.Facts.UBR != 2965+i || d.Facts.Model != "OptiPlex 7090" || d.LastSeen.IsZero()) {
					t.Errorf("%s: facts %+v, last seen %v", tg.Hostname, d.Facts, d.LastSeen)
				}
			}
		})
	}
}

func TestProbeNoneAnswered(t *testing.T) {
	e := newEstate(t, 3, fleetsim.FaultSpec{Share: map[string]float64{fleetsim.FaultUnreachable: 1}})
	sum, err := discovery.Probe(context.Background(), winrm.New(winrm.Options{}), e.store, e.targets, discovery.Options{})
	if !errors.Is(err, discovery.ErrNoneAnswered) || sum.String() != "0 answered, 3 unreachable" {
		t.Fatalf("%v: %v", sum, err)
	}
}

// cancelling records through the store and cancels the run as its call
// arrives (the second one), as a Ctrl-C in the middle of a write would.
type cancelling struct {
	store  *sqlite.Inventory
	cancel context.CancelFunc
	calls  atomic.Int32
}

func (c *cancelling) RecordObservations(ctx context.Context, obs []inventory.Observation) error {
	if c.calls.Add(1) == 2 {
		c.cancel()
	}
	return c.store.RecordObservations(ctx, obs)
}

// TestProbeCancelled: a cancelled run stops probing and stores whole
// batches only; the batch being written when it ends is not stored.
func TestProbeCancelled(t *testing.T) {
	e := newEstate(t, 12, fleetsim.FaultSpec{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &cancelling{store: e.store, cancel: cancel}
	_, err := discovery.Probe(ctx, winrm.New(winrm.Options{}), rec, e.targets, discovery.Options{Concurrency: 2, Batch: 3})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	recorded := 0
	for _, tg := range e.targets {
		if observed(t, e.device(t, tg.Hostname)) {
			recorded++
		}
	}
	if recorded != 3 {
		t.Errorf("%d devices recorded, want the first batch's 3", recorded)
	}
}

// interrupting records through the store with a context that is
// cancelled at its n-th look, part way through the write, and then cancels
// the run, as a SIGINT arriving mid-transaction would.
type interrupting struct {
	store  *sqlite.Inventory
	n      int
	cancel context.CancelFunc
	fired  bool
	err    error // the store's
}

func (c *interrupting) RecordObservations(ctx context.Context, obs []inventory.Observation) error {
	cd := ctxtest.NewCountdown(ctx, c.n)
	c.err = c.store.RecordObservations(cd, obs)
	if c.fired = cd.Fired(); c.fired {
		c.cancel()
	}
	return c.err
}

// TestProbeInterruptedWrite: a run cancelled at any point of writing its
// batch stores all of it (the cancellation came after the commit) or none,
// and says it was cancelled.
func TestProbeInterruptedWrite(t *testing.T) {
	e := newEstate(t, 4, fleetsim.FaultSpec{})
	for n := 1; ; n++ {
		if n > 1000 {
			t.Fatal("the write never finished")
		}
		e.store = e.newStore(t)
		ctx, cancel := context.WithCancel(context.Background())
		rec := &interrupting{store: e.store, n: n, cancel: cancel}
		_, err := discovery.Probe(ctx, winrm.New(winrm.Options{}), rec, e.targets, discovery.Options{Batch: 4})
		cancel()
		recorded := 0
		for _, tg := range e.targets {
			if observed(t, e.device(t, tg.Hostname)) {
				recorded++
			}
		}
		if !rec.fired {
			if err != nil || recorded != 4 {
				t.Fatalf("uninterrupted write (look %d): %v, %d devices recorded", n, err, recorded)
			}
			t.Logf("the write finished at look %d", n)
			return
		}
		want := map[bool]int{true: 4, false: 0}[rec.err == nil]
		if !errors.Is(err, context.Canceled) || recorded != want {
			t.Fatalf("cancelled at look %d (store: %v): %v, %d devices recorded, want %d", n, rec.err, err, recorded, want)
		}
	}
}

// failing is a store that refuses every write.
type failing struct{}

func (failing) RecordObservations(context.Context, []inventory.Observation) error {
	return errors.New("disk I/O error")
}

// TestProbeWriteFails: a store that cannot write stops the probes and is
// the error.
func TestProbeWriteFails(t *testing.T) {
	e := newEstate(t, 12, fleetsim.FaultSpec{})
	sum, err := discovery.Probe(context.Background(), winrm.New(winrm.Options{}), failing{}, e.targets, discovery.Options{Concurrency: 1, Batch: 1})
	if err == nil || !strings.Contains(err.Error(), "record observations: disk I/O error") {
		t.Fatalf("err = %v", err)
	}
	if sum.Answered+len(sum.Failed) >= 12 {
		t.Errorf("probing went on after the write failed: %+v", sum)
	}
}

// devices is a Devices over a fixed list, failing at failAt (-1 never).
type devices struct {
	list   []string
	failAt int
}

func (d devices) Devices(_ context.Context, sel inventory.Selector) iter.Seq2[*inventory.Device, error] {
	return func(yield func(*inventory.Device, error) bool) {
		for i, h := range d.list {
			if i == d.failAt {
				yield(nil, errors.New("read failed"))
				return
			}
			dev := &inventory.Device{Hostname: h, Org: "RXX"}
			if sel.Matches(dev) && !yield(dev, nil) {
				return
			}
		}
	}
}

// TestSelect collects what the selector picks, in order, and fails whole
// on a read error.
func TestSelect(t *testing.T) {
	all := []string{"a.rxx.nhs.uk", "b.rxx.nhs.uk", "c.rxx.nhs.uk"}
	for _, tc := range []struct {
		name     string
		devs     devices
		selector string
		want     []string
		err      bool
	}{
		{name: "everything", devs: devices{all, -1}, want: all},
		{name: "one", devs: devices{all, -1}, selector: "hostname=b.rxx.nhs.uk", want: all[1:2]},
		{name: "none", devs: devices{all, -1}, selector: "org=RYY"},
		{name: "a read fails", devs: devices{all, 2}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := inventory.ParseSelector(tc.selector)
			if err != nil {
				t.Fatal(err)
			}
			got, err := discovery.Select(context.Background(), tc.devs, sel)
			if (err != nil) != tc.err {
				t.Fatalf("err %v, want one %v", err, tc.err)
			}
			var hosts []string
			for _, d := range got {
				hosts = append(hosts, d.Hostname)
			}
			if !slices.Equal(hosts, tc.want) {
				t.Errorf("got %v, want %v", hosts, tc.want)
			}
		})
	}
}
