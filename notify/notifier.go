package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/report"
)

// Config wires a Notifier.
type Config struct {
	Store   Store
	Webhook Sender // default: a Poster
	Email   Sender // default: a Mailer
	// Now is the wall clock deliveries are timed by (default time.Now);
	// events carry the time of the clock that decided them.
	Now func() time.Time
	// Backoff is how long after a failed attempt (the first is 1) the next
	// is made (default 30s doubling each time, at most an hour).
	Backoff func(attempt int) time.Duration
	// MaxAttempts is how many attempts a delivery gets (default 12,
	// about six hours).
	MaxAttempts int
	// Poll is how often Run looks for due deliveries (default 1s); Emit
	// wakes it at once.
	Poll   time.Duration
	Logger *slog.Logger
}

// Notifier turns events into deliveries and delivers them.
type Notifier struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}

	mu   sync.Mutex
	seen map[string]bool // keys already enqueued by this process: a hold seen every pass is written once
}

// New returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if cfg.Store == nil {
		return nil, errors.New("notify: a Store is required")
	}
	if cfg.Webhook == nil {
		cfg.Webhook = &Poster{}
	}
	if cfg.Email == nil {
		cfg.Email = &Mailer{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 12
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), seen: map[string]bool{}}, nil
}

// DefaultBackoff waits 30s after the first failure, doubling each time,
// at most an hour.
func DefaultBackoff(attempt int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// Emit records a delivery of each event to every subscription it is for,
// once per event key and subscription, and wakes Run.
func (n *Notifier) Emit(ctx context.Context, events ...Event) error {
	var fresh []Event
	n.mu.Lock()
	for _, e := range events {
		if !n.seen[e.Key] {
			fresh = append(fresh, e)
		}
	}
	n.mu.Unlock()
	if len(fresh) == 0 {
		return nil
	}
	subs, err := n.cfg.Store.Subscriptions(ctx)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	queued := 0
	for _, e := range fresh {
		var ids []int64
		for _, s := range subs {
			if e.For(s.Org) {
				ids = append(ids, s.ID)
			}
		}
		if len(ids) > 0 {
			body, err := json.Marshal(e)
			if err != nil {
				return err
			}
			k, err := n.cfg.Store.Enqueue(ctx, e.Key, body, ids, n.cfg.Now())
			if err != nil {
				return fmt.Errorf("notify %s: %w", e.Key, err)
			}
			queued += k
		}
		n.mu.Lock()
		if len(n.seen) > 10000 {
			clear(n.seen)
		}
		n.seen[e.Key] = true
		n.mu.Unlock()
	}
	if queued > 0 {
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Applied emits the events of a plan the scheduler applied (its
// Config.OnApplied); a failure is logged, never failing the control pass.
func (n *Notifier) Applied(ctx context.Context, a orchestrator.AppliedPlan) {
	if err := n.Emit(ctx, PlanEvents(a)...); err != nil {
		n.log.Error("could not record notifications", "campaign", a.Campaign, "err", err)
	}
}

// Compliance emits the at-risk events of alerts' compliance (the
// snapshotter's SnapshotterConfig.OnCompliance).
func (n *Notifier) Compliance(ctx context.Context, cs []report.Compliance) {
	if err := n.Emit(ctx, AtRiskEvents(cs)...); err != nil {
		n.log.Error("could not record alert notifications", "err", err)
	}
}

// Run delivers due deliveries until ctx ends, waking every Poll and
// whenever Emit records one.
func (n *Notifier) Run(ctx context.Context) {
	for {
		for {
			k, err := n.Deliver(ctx)
			if err != nil && ctx.Err() == nil {
				n.log.Warn("notifications: could not read the outbox", "err", err)
			}
			if k == 0 || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		case <-time.After(n.cfg.Poll):
		}
	}
}

// batch is how many deliveries one Deliver takes.
const batch = 16

// Deliver makes one attempt at each of up to a batch of due deliveries and
// records how each went; it returns how many it attempted.
func (n *Notifier) Deliver(ctx context.Context) (int, error) {
	now := n.cfg.Now()
	// The lease outlasts the attempts' timeouts: another process skips
	// them meanwhile, and takes them up if this one dies.
	ds, err := n.cfg.Store.Claim(ctx, now, now.Add(batch*time.Minute), batch)
	if err != nil || len(ds) == 0 {
		return 0, err
	}
	// Stopping: the leases of the deliveries not made are freed, due again
	// at once (a flush, the next run), not held for the lease's minutes.
	interrupted := func(rest []Delivery, made int) (int, error) {
		now := n.cfg.Now()
		for _, d := range rest {
			if err := n.cfg.Store.Settle(context.WithoutCancel(ctx), d.ID, Result{At: now, Err: "interrupted", Next: now}); err != nil {
				return made, err
			}
		}
		return made, ctx.Err()
	}
	subs := map[int64]Subscription{}
	for i, d := range ds {
		if ctx.Err() != nil {
			return interrupted(ds[i:], i)
		}
		s, ok := subs[d.Subscription]
		if !ok {
			if s, err = n.cfg.Store.Subscription(ctx, d.Subscription); err != nil {
				return 0, err
			}
			subs[d.Subscription] = s
		}
		var e Event
		serr := json.Unmarshal(d.Event, &e)
		if serr == nil {
			serr = n.Send(ctx, s, e)
		}
		if serr != nil && ctx.Err() != nil {
			return interrupted(ds[i:], i)
		}
		// A send that succeeded is recorded as delivered even when ctx
		// ended meanwhile: sending it again would repeat it.
		ctx := context.WithoutCancel(ctx)
		r := Result{At: n.cfg.Now()}
		if serr != nil {
			r.Err = serr.Error()
			if attempt := d.Attempts + 1; attempt < n.cfg.MaxAttempts {
				r.Next = r.At.Add(n.cfg.Backoff(attempt))
				n.log.Warn("notification failed; will retry", "subscription", s.String(), "event", d.Key, "attempt", attempt, "retry_at", r.Next, "err", serr)
			} else {
				n.log.Error("notification failed; giving up", "subscription", s.String(), "event", d.Key, "attempts", attempt, "err", serr)
			}
		} else {
			n.log.Info("notification sent", "subscription", s.String(), "event", d.Key)
		}
		if err := n.cfg.Store.Settle(ctx, d.ID, r); err != nil {
			return 0, err
		}
	}
	return len(ds), nil
}

// Send delivers one event to one subscription now, outside the outbox
// (notify test uses it).
func (n *Notifier) Send(ctx context.Context, s Subscription, e Event) error {
	switch s.Channel {
	case Webhook:
		return n.cfg.Webhook.Send(ctx, s, e)
	case Email:
		return n.cfg.Email.Send(ctx, s, e)
	}
	return fmt.Errorf("notify: channel %q: %w", s.Channel, errors.ErrUnsupported)
}

// TestEvent is the event notify test sends.
func TestEvent(s Subscription, now time.Time) Event {
	return Event{Key: fmt.Sprintf("test/%d/%d", s.ID, now.UnixNano()), Type: Test, Time: now,
		Summary: fmt.Sprintf("A test of Ringmaster notification %d (%s). Nothing needs doing.", s.ID, s.Scope())}
}
