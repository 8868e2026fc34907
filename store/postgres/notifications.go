package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/notify"
)

// Notifications keeps notification subscriptions and the outbox of their
// deliveries, which several nodes may claim from at once. It implements
// notify.Store.
type Notifications struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

var _ notify.Store = (*Notifications)(nil)

const subscriptionColumns = `id, org, channel, url, format, secret_file, recipient, smtp, sender, username, password_file, allow_plain, created_at`

// AddSubscription stores a subscription with a new ID.
func (s *Notifications) AddSubscription(ctx context.Context, n notify.Subscription) (notify.Subscription, error) {
	n.CreatedAt = s.now().UTC().Truncate(time.Microsecond)
	err := s.pool.QueryRow(ctx, `INSERT INTO notify_subscriptions (org, channel, url, format, secret_file, recipient, smtp, sender,
		username, password_file, allow_plain, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		n.Org, string(n.Channel), n.URL, string(n.Format), n.SecretFile, n.To, n.SMTP, n.From, n.Username, n.PasswordFile, n.AllowPlain,
		n.CreatedAt).Scan(&n.ID)
	if err != nil {
		return notify.Subscription{}, fmt.Errorf("add notification: %w", err)
	}
	return n, nil
}

func scanSubscription(row pgx.CollectableRow) (notify.Subscription, error) {
	var n notify.Subscription
	var channel, format string
	err := row.Scan(&n.ID, &n.Org, &channel, &n.URL, &format, &n.SecretFile, &n.To, &n.SMTP, &n.From, &n.Username,
		&n.PasswordFile, &n.AllowPlain, &n.CreatedAt)
	n.Channel, n.Format, n.CreatedAt = notify.Channel(channel), notify.Format(format), n.CreatedAt.UTC()
	return n, err
}

// Subscriptions lists every subscription by ID.
func (s *Notifications) Subscriptions(ctx context.Context) ([]notify.Subscription, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+subscriptionColumns+` FROM notify_subscriptions ORDER BY id`)
	out, err := pgx.CollectRows(rows, scanSubscription)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return out, nil
}

// Subscription returns one subscription.
func (s *Notifications) Subscription(ctx context.Context, id int64) (notify.Subscription, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+subscriptionColumns+` FROM notify_subscriptions WHERE id = $1`, id)
	n, err := pgx.CollectExactlyOneRow(rows, scanSubscription)
	if errors.Is(err, pgx.ErrNoRows) {
		return n, fmt.Errorf("notification %d: %w", id, errkind.NotFound)
	}
	if err != nil {
		return n, fmt.Errorf("notification %d: %w", id, err)
	}
	return n, nil
}

// RemoveSubscription deletes a subscription and its deliveries.
func (s *Notifications) RemoveSubscription(ctx context.Context, id int64) error {
	return removeOne(ctx, s.pool, fmt.Sprintf("notification %d", id), `DELETE FROM notify_subscriptions WHERE id = $1`, id)
}

// Enqueue records a delivery of the event to each subscription that has
// none for its key, in one transaction.
func (s *Notifications) Enqueue(ctx context.Context, key string, event []byte, subs []int64, now time.Time) (int, error) {
	added := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, id := range subs {
			// FOR KEY SHARE: a subscription removed meanwhile by another
			// node is skipped, not a foreign-key error that would lose the
			// event for every other subscription.
			tag, err := tx.Exec(ctx, `INSERT INTO notify_deliveries (subscription, event_key, event, next_at, created_at)
				SELECT s.id, $2::text, $3::text, $4::timestamptz, $4::timestamptz
				FROM notify_subscriptions s WHERE s.id = $1::bigint FOR KEY SHARE
				ON CONFLICT (subscription, event_key) DO NOTHING`, id, key, string(event), now.UTC())
			if err != nil {
				return fmt.Errorf("enqueue %s for notification %d: %w", key, id, err)
			}
			added += int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}

// Claim leases up to n due deliveries, oldest first. Rows another node is
// claiming at the same moment are skipped, not waited for.
func (s *Notifications) Claim(ctx context.Context, now, until time.Time, n int) ([]notify.Delivery, error) {
	type claimed struct {
		notify.Delivery
		next time.Time
	}
	rows, _ := s.pool.Query(ctx, `UPDATE notify_deliveries SET lease_until = $2 WHERE id IN (
			SELECT id FROM notify_deliveries
			WHERE next_at IS NOT NULL AND next_at <= $1 AND delivered_at IS NULL AND (lease_until IS NULL OR lease_until <= $1)
			ORDER BY next_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING id, subscription, event_key, event, attempts, next_at`, now.UTC(), until.UTC(), n)
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (claimed, error) {
		var c claimed
		var ev string
		err := row.Scan(&c.ID, &c.Subscription, &c.Key, &ev, &c.Attempts, &c.next)
		c.Event = []byte(ev)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	// RETURNING keeps no order: oldest first, as the subquery chose them.
	slices.SortFunc(cs, func(a, b claimed) int {
		if c := a.next.Compare(b.next); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	out := make([]notify.Delivery, len(cs))
	for i, c := range cs {
		out[i] = c.Delivery
	}
	return out, nil
}

// Settle records an attempt's result and frees the delivery's lease. A
// delivery already delivered (by a node whose lease outlived another's)
// stays as it is.
func (s *Notifications) Settle(ctx context.Context, id int64, r notify.Result) error {
	var err error
	if r.Err == "" {
		_, err = s.pool.Exec(ctx, `UPDATE notify_deliveries SET attempts = attempts + 1, delivered_at = $1, next_at = NULL,
			lease_until = NULL, last_error = '' WHERE id = $2 AND delivered_at IS NULL`, r.At.UTC(), id)
	} else {
		var next *time.Time
		if !r.Next.IsZero() {
			t := r.Next.UTC()
			next = &t
		}
		_, err = s.pool.Exec(ctx, `UPDATE notify_deliveries SET attempts = attempts + 1, next_at = $1, lease_until = NULL,
			last_error = $2 WHERE id = $3 AND delivered_at IS NULL`, next, r.Err, id)
	}
	if err != nil {
		return fmt.Errorf("settle notification delivery %d: %w", id, err)
	}
	return nil
}

// Pending counts the deliveries still to make, per subscription.
func (s *Notifications) Pending(ctx context.Context) (map[int64]int, error) {
	out := map[int64]int{}
	var id int64
	var n int
	rows, _ := s.pool.Query(ctx, `SELECT subscription, count(*) FROM notify_deliveries WHERE next_at IS NOT NULL GROUP BY subscription`)
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { out[id] = n; return nil }); err != nil {
		return nil, fmt.Errorf("pending notifications: %w", err)
	}
	return out, nil
}
