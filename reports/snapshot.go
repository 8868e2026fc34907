package reports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/report"
)

// Clock is the time a Snapshotter runs on: the wall clock, a simulated
// estate's compressed time, or a test's hand-moved clock.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// Recorder keeps the daily history: one snapshot per organisation and
// day, a later one the same day replacing it.
type Recorder interface {
	Record(ctx context.Context, snaps []report.Snapshot) error
}

// DefaultSnapshotInterval is how often a running Snapshotter renews
// today's figures.
const DefaultSnapshotInterval = time.Hour

// Snapshotter records today's figures of the whole estate in the daily
// history, from which come burn-downs, the patching pace and the median
// days to patch. Run keeps them current on its own timer; Once records
// them now.
type Snapshotter struct {
	reports  *Service
	history  Recorder
	clock    Clock
	interval time.Duration
	log      *slog.Logger
	target   inventory.Version
	support  inventory.Version
	asked    chan struct{}
	onComp   func(context.Context, []report.Compliance)
}

// SnapshotterConfig configures a Snapshotter.
type SnapshotterConfig struct {
	Reports *Service
	History Recorder
	// Clock is the time snapshots are dated and timed by; it should be
	// the one the Service reads (its Now).
	Clock Clock
	// Interval is how often Run renews the snapshot (default an hour).
	Interval time.Duration
	// Logger receives a warning when a snapshot fails in Run (default
	// slog.Default).
	Logger *slog.Logger
	// OnCompliance, if set, is given every alert's compliance computed
	// for a snapshot once it is recorded, with each organisation's at-risk
	// verdict (notify.Notifier.Compliance tells people of those at risk).
	OnCompliance func(ctx context.Context, cs []report.Compliance)
}

// NewSnapshotter returns a Snapshotter.
func NewSnapshotter(cfg SnapshotterConfig) (*Snapshotter, error) {
	if cfg.Reports == nil || cfg.History == nil || cfg.Clock == nil {
		return nil, errors.New("reports: a snapshotter needs Reports, History and Clock")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultSnapshotInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Snapshotter{reports: cfg.Reports, history: cfg.History, clock: cfg.Clock, interval: cfg.Interval, log: cfg.Logger,
		asked: make(chan struct{}, 1), onComp: cfg.OnCompliance}
	var err error
	if s.target, _, err = inventory.ParseVersion(DefaultTargetBuild); err != nil {
		return nil, err
	}
	if s.support, _, err = inventory.ParseVersion(DefaultSupportedBuild); err != nil {
		return nil, err
	}
	return s, nil
}

// Once computes the whole estate's figures and records them as today's
// snapshot (replacing any taken earlier today). It returns what it
// recorded: a snapshot per organisation and one for the nation.
func (s *Snapshotter) Once(ctx context.Context) ([]report.Snapshot, error) {
	r, err := s.reports.Estate(ctx, EstateOptions{Selector: inventory.Everything(), TargetBuild: s.target, SupportedBuild: s.support})
	if err != nil {
		return nil, err
	}
	snaps := report.Snapshots(s.clock.Now(), r.Progress, r.Scorecard, r.Compliance)
	if err := s.history.Record(ctx, snaps); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if s.onComp != nil {
		s.onComp(ctx, r.Compliance)
	}
	return snaps, nil
}

// Ask requests a snapshot from Run as soon as it can take one (when the
// last running campaign stops, say). It never blocks; requests made while
// one is pending are one request.
func (s *Snapshotter) Ask() {
	select {
	case s.asked <- struct{}{}:
	default:
	}
}

// Run records a snapshot at once, then every interval after the last one
// and whenever Ask is called, until ctx ends. A failed snapshot is logged
// and tried again an interval later. When ctx ends with a request still
// pending, Run records it before returning, on a context that keeps ctx's
// values but not its end, bounded to a minute: the snapshot asked for when
// the last campaign stopped is not lost to a process that stops with it.
func (s *Snapshotter) Run(ctx context.Context) {
	for {
		s.take(ctx)
		select {
		case <-ctx.Done():
			select {
			case <-s.asked:
				s.flush(ctx)
			default:
			}
			return
		case <-s.clock.After(s.interval):
		case <-s.asked:
			if ctx.Err() != nil {
				s.flush(ctx)
				return
			}
		}
	}
}

// flush takes the snapshot asked for after ctx ended.
func (s *Snapshotter) flush(ctx context.Context) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	s.take(fctx)
}

func (s *Snapshotter) take(ctx context.Context) {
	if _, err := s.Once(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("could not record the daily snapshot; the next try is in an hour", "err", err, "retry_in", s.interval)
	}
}
