package discovery

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// Prober probes one device; every sdk.Executor (the plugin host's client
// among them) is one.
type Prober interface {
	Probe(ctx context.Context, t sdk.Target) (sdk.ProbeResult, error)
}

// Recorder stores observations; each call is all or nothing.
type Recorder interface {
	RecordObservations(ctx context.Context, obs []inventory.Observation) error
}

// Devices lists the devices a selector picks (store/sqlite's Inventory
// is one).
type Devices interface {
	Devices(ctx context.Context, sel inventory.Selector) iter.Seq2[*inventory.Device, error]
}

// Select collects the devices sel picks, the ones a Probe is to reach
// (resolve them to targets first).
func Select(ctx context.Context, devs Devices, sel inventory.Selector) ([]*inventory.Device, error) {
	var out []*inventory.Device
	for d, err := range devs.Devices(ctx, sel) {
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Defaults for the zero Options.
const (
	DefaultConcurrency = 100
	DefaultTimeout     = 2 * time.Minute
	DefaultBatch       = 256
)

// Options say how a Probe runs.
type Options struct {
	// Concurrency is how many devices are probed at once
	// (DefaultConcurrency if zero).
	Concurrency int
	// Timeout bounds each device's probe (DefaultTimeout if zero).
	Timeout time.Duration
	// Batch is how many observations are stored in one transaction
	// (DefaultBatch if zero).
	Batch int
	// Progress, if set, is called after each device's probe with how many
	// are done; it is called from several goroutines and must not block.
	Progress func(done int)
	Logger   *slog.Logger
}

// Unclassified is the kind a Summary counts failures under whose error
// carries no sdk.Kind.
const Unclassified sdk.Kind = "error"

// Summary is what a probe run found.
type Summary struct {
	Devices  int              // devices probed or to probe
	Answered int              // devices that answered; their facts are recorded
	Failed   map[sdk.Kind]int // devices that did not, by the kind of their error
}

// String is the summary as "3 answered, 1 auth_failed, 2 unreachable":
// failures by kind, in the kinds' order.
func (s Summary) String() string {
	parts := []string{fmt.Sprintf("%d answered", s.Answered)}
	kinds := make([]sdk.Kind, 0, len(s.Failed))
	for k := range s.Failed {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", s.Failed[k], k))
	}
	return strings.Join(parts, ", ")
}

// ErrNoneAnswered is returned by Probe when devices were probed and not
// one answered.
var ErrNoneAnswered = errors.New("no device answered")

// Probe probes every target concurrently through p and records what each
// device reports, as it arrives, through one writer that stores them in
// batches (SQLite has one writer). Each target's Hostname names its
// inventory device.
//
// It returns the summary with a nil error when at least one device
// answered and all they reported is stored; ErrNoneAnswered when none
// did; the Recorder's error (after which no more devices are probed); or,
// when ctx ends, ctx's error: the devices not yet probed are not, and
// observations are stored whole or not at all (a batch the cancellation
// interrupts is rolled back), so nothing is half-written.
func Probe(ctx context.Context, p Prober, rec Recorder, targets []sdk.Target, o Options) (Summary, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	sum := Summary{Devices: len(targets), Failed: map[sdk.Kind]int{}}
	if len(targets) == 0 {
		return sum, nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	found := make(chan inventory.Observation, 2*o.Batch)
	written := make(chan error, 1)
	go func() { written <- write(ctx, rec, found, o.Batch, cancel) }()

	var (
		next, done atomic.Int64
		mu         sync.Mutex // guards sum
		wg         sync.WaitGroup
	)
	for range min(o.Concurrency, len(targets)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(targets) || ctx.Err() != nil {
					return
				}
				t := targets[i]
				pctx, cancelProbe := context.WithTimeout(ctx, o.Timeout)
				res, err := p.Probe(pctx, t)
				cancelProbe()
				n := done.Add(1)
				mu.Lock()
				if err != nil {
					kind := sdk.KindOf(err)
					if kind == "" {
						kind = Unclassified
					}
					sum.Failed[kind]++
				} else {
					sum.Answered++
				}
				mu.Unlock()
				if o.Progress != nil {
					o.Progress(int(n))
				}
				if err != nil {
					o.Logger.Debug("probe failed", "device", t.Hostname, "err", err)
					continue
				}
				found <- inventory.Observation{Hostname: t.Hostname, Facts: Facts(res.Facts, res.ObservedAt), Seen: res.ObservedAt}
			}
		}()
	}
	wg.Wait()
	close(found)
	if err := <-written; err != nil {
		return sum, err
	}
	if sum.Answered == 0 {
		return sum, ErrNoneAnswered
	}
	return sum, nil
}

// write stores observations in batches until found is closed. After a
// failure, or once ctx ends, it stores nothing more, stops the probes
// (through stop) and drains found so that they never block.
func write(ctx context.Context, rec Recorder, found <-chan inventory.Observation, size int, stop context.CancelCauseFunc) error {
	batch := make([]inventory.Observation, 0, size)
	var err error
	flush := func() {
		if err == nil && len(batch) > 0 {
			if err = ctx.Err(); err == nil {
				if err = rec.RecordObservations(ctx, batch); err != nil {
					if ctx.Err() != nil {
						// Cancelled mid-write: the store rolled back, and
						// database/sql may say only that the
						// transaction is done.
						err = ctx.Err()
					}
					err = fmt.Errorf("record observations: %w", err)
				}
			}
			if err != nil {
				stop(err)
			}
		}
		batch = batch[:0]
	}
	for obs := range found {
		batch = append(batch, obs)
		if len(batch) == size {
			flush()
		}
	}
	flush()
	if err != nil {
		return err
	}
	return ctx.Err()
}
