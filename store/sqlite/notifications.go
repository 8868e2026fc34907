package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/notify"
)

// Notifications keeps notification subscriptions and the outbox of their
// deliveries, with its own schema version (notifications_migrations). It
// implements notify.Store.
type Notifications struct {
	db  *sql.DB
	now func() time.Time
}

var _ notify.Store = (*Notifications)(nil)

const subscriptionColumns = `id, org, channel, url, format, secret_file, recipient, smtp, sender, username, password_file, allow_plain, created_at`

// AddSubscription stores a subscription with a new ID.
func (s *Notifications) AddSubscription(ctx context.Context, n notify.Subscription) (notify.Subscription, error) {
	n.CreatedAt = s.now().UTC().Truncate(time.Microsecond)
	res, err := s.db.ExecContext(ctx, `INSERT INTO notify_subscriptions (org, channel, url, format, secret_file, recipient, smtp, sender,
		username, password_file, allow_plain, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.Org, n.Channel, n.URL, n.Format, n.SecretFile, n.To, n.SMTP, n.From, n.Username, n.PasswordFile, n.AllowPlain, micros(n.CreatedAt))
	if err != nil {
		return notify.Subscription{}, fmt.Errorf("add notification: %w", err)
	}
	if n.ID, err = res.LastInsertId(); err != nil {
		return notify.Subscription{}, fmt.Errorf("add notification: %w", err)
	}
	return n, nil
}

func scanSubscription(row interface{ Scan(...any) error }) (notify.Subscription, error) {
	var n notify.Subscription
	var created int64
	err := row.Scan(&n.ID, &n.Org, &n.Channel, &n.URL, &n.Format, &n.SecretFile, &n.To, &n.SMTP, &n.From, &n.Username,
		&n.PasswordFile, &n.AllowPlain, &created)
	n.CreatedAt = time.UnixMicro(created).UTC()
	return n, err
}

// Subscriptions lists every subscription by ID.
func (s *Notifications) Subscriptions(ctx context.Context) ([]notify.Subscription, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+subscriptionColumns+` FROM notify_subscriptions ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	defer rows.Close()
	var out []notify.Subscription
	for rows.Next() {
		n, err := scanSubscription(rows)
		if err != nil {
			return nil, fmt.Errorf("list notifications: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// Subscription returns one subscription.
func (s *Notifications) Subscription(ctx context.Context, id int64) (notify.Subscription, error) {
	n, err := scanSubscription(s.db.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM notify_subscriptions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return n, fmt.Errorf("notification %d: %w", id, errkind.NotFound)
	}
	if err != nil {
		return n, fmt.Errorf("notification %d: %w", id, err)
	}
	return n, nil
}

// RemoveSubscription deletes a subscription and its deliveries.
func (s *Notifications) RemoveSubscription(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM notify_subscriptions WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("remove notification %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("notification %d: %w", id, errkind.NotFound)
	}
	return nil
}

// Enqueue records a delivery of the event to each subscription that has
// none for its key, in one transaction.
func (s *Notifications) Enqueue(ctx context.Context, key string, event []byte, subs []int64, now time.Time) (int, error) {
	added := 0
	err := withTx(ctx, s.db, func(tx *sql.Tx) error {
		for _, id := range subs {
			res, err := tx.ExecContext(ctx, `INSERT INTO notify_deliveries (subscription, event_key, event, next_at, created_at)
				SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM notify_subscriptions WHERE id = ?)
				ON CONFLICT (subscription, event_key) DO NOTHING`, id, key, string(event), micros(now), micros(now), id)
			if err != nil {
				return fmt.Errorf("enqueue %s for notification %d: %w", key, id, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			added += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}

// Claim leases up to n due deliveries, oldest first.
func (s *Notifications) Claim(ctx context.Context, now, until time.Time, n int) ([]notify.Delivery, error) {
	var out []notify.Delivery
	err := withTx(ctx, s.db, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, subscription, event_key, event, attempts FROM notify_deliveries
			WHERE next_at IS NOT NULL AND next_at <= ? AND delivered_at IS NULL AND (lease_until IS NULL OR lease_until <= ?)
			ORDER BY next_at, id LIMIT ?`, micros(now), micros(now), n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d notify.Delivery
			var ev string
			if err := rows.Scan(&d.ID, &d.Subscription, &d.Key, &ev, &d.Attempts); err != nil {
				return err
			}
			d.Event = []byte(ev)
			out = append(out, d)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		for _, d := range out {
			if _, err := tx.ExecContext(ctx, `UPDATE notify_deliveries SET lease_until = ? WHERE id = ?`, micros(until), d.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	return out, nil
}

// Settle records an attempt's result and frees the delivery's lease; a
// delivery already delivered stays as it is.
func (s *Notifications) Settle(ctx context.Context, id int64, r notify.Result) error {
	var err error
	if r.Err == "" {
		_, err = s.db.ExecContext(ctx, `UPDATE notify_deliveries SET attempts = attempts + 1, delivered_at = ?, next_at = NULL,
			lease_until = NULL, last_error = '' WHERE id = ? AND delivered_at IS NULL`, micros(r.At), id)
	} else {
		_, err = s.db.ExecContext(ctx, `UPDATE notify_deliveries SET attempts = attempts + 1, next_at = ?, lease_until = NULL,
			last_error = ? WHERE id = ? AND delivered_at IS NULL`, nullMicros(r.Next), r.Err, id)
	}
	if err != nil {
		return fmt.Errorf("settle notification delivery %d: %w", id, err)
	}
	return nil
}

// Pending counts the deliveries still to make, per subscription.
func (s *Notifications) Pending(ctx context.Context) (map[int64]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT subscription, COUNT(*) FROM notify_deliveries WHERE next_at IS NOT NULL GROUP BY subscription`)
	if err != nil {
		return nil, fmt.Errorf("pending notifications: %w", err)
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}
