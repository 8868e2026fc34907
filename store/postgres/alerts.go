package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// Alerts keeps High Severity Alerts, with its own schema version
// (alerts_migrations). What is derived from the alerts and kept by the
// other stores in the same database changes in the transaction that adds
// or removes an alert: Add watches the updates the alert names in the
// inventory's rollup, and Remove stops watching those only it named and
// forgets its figures in the daily history, so an alert is stored or
// removed together with what follows from it, or not at all. It
// implements alerts.Store.
type Alerts struct {
	pool      *pgxpool.Pool
	now       func() time.Time
	maxSource int64
}

var _ alerts.Store = (*Alerts)(nil)

// SetMaxSource makes Get and List report a stored alert longer than n
// bytes as unreadable without parsing it (n <= 0: no limit): one stored
// before alert files were limited would otherwise be parsed, at length,
// by every report. Call it before the store is shared.
func (s *Alerts) SetMaxSource(n int64) {
	s.maxSource = n
}

// Add stores an alert parsed from source and, in the same transaction,
// makes the inventory's rollup watch the updates it names, so reports
// count them from the moment it is stored. An alert with the same id is
// refused with an error wrapping errkind.Exists.
func (s *Alerts) Add(ctx context.Context, a *alerts.Alert, source []byte) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO alerts (id, title, issued, deadline, file, source, added_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			a.ID, a.Title, a.Issued, a.Deadline, a.File, string(source), stamp(s.now()))
		if uniqueViolation(err) {
			return fmt.Errorf("alert %s: %w", a.ID, errkind.Exists)
		}
		if err != nil {
			return fmt.Errorf("add alert %s: %w", a.ID, err)
		}
		if _, err := watchKBsTx(ctx, tx, a.KBs()); err != nil {
			return fmt.Errorf("add alert %s: watch the updates it names: %w", a.ID, err)
		}
		return nil
	})
}

// Remove deletes the alert id and, in the same transaction, stops watching
// the updates only it named (unless a remaining alert cannot be read: the
// updates that one names are unknown, so all stay watched) and deletes its
// figures from the daily history. The alert removed need not be readable.
// An unknown id is an error wrapping errkind.NotFound. Alerts are locked
// while one is removed, so two removals at once each see what the other
// leaves.
func (s *Alerts) Remove(ctx context.Context, id string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE alerts IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("remove alert %s: %w", id, err)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM alerts WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("remove alert %s: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("alert %s: %w", id, errkind.NotFound)
		}
		var kbs []string
		unreadable := false
		for a, err := range s.each(ctx, tx, "") {
			var ue *alerts.UnreadableError
			switch {
			case errors.As(err, &ue):
				unreadable = true
			case err != nil:
				return fmt.Errorf("remove alert %s: %w", id, err)
			default:
				kbs = append(kbs, a.KBs()...)
			}
		}
		slices.Sort(kbs)
		kbs = slices.Compact(kbs)
		// While a remaining alert cannot be read, the updates it names are
		// unknown: keep watching them all.
		if !unreadable {
			if _, err := retainWatchedKBsTx(ctx, tx, kbs); err != nil {
				return fmt.Errorf("remove alert %s: stop watching the updates only it named: %w", id, err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM report_history_alerts WHERE alert = $1`, id); err != nil {
			return fmt.Errorf("remove alert %s: forget its figures: %w", id, err)
		}
		return nil
	})
}

// Get returns one alert.
func (s *Alerts) Get(ctx context.Context, id string) (*alerts.Alert, error) {
	for a, err := range s.each(ctx, s.pool, id) {
		return a, err
	}
	return nil, fmt.Errorf("alert %s: %w", id, errkind.NotFound)
}

// List returns every alert, by issue date. An alert that cannot be read
// fails the whole list with an *UnreadableError naming it.
func (s *Alerts) List(ctx context.Context) ([]*alerts.Alert, error) {
	var out []*alerts.Alert
	for a, err := range s.each(ctx, s.pool, "") {
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// each yields the stored alerts (only id's, if not empty), by issue date,
// each parsed or with an *UnreadableError; it ends after any other error.
func (s *Alerts) each(ctx context.Context, q querier, id string) func(yield func(*alerts.Alert, error) bool) {
	return func(yield func(*alerts.Alert, error) bool) {
		query, args := `SELECT id, file, source FROM alerts ORDER BY issued COLLATE "C", id COLLATE "C"`, []any(nil)
		if id != "" {
			query, args = `SELECT id, file, source FROM alerts WHERE id = $1`, []any{id}
		}
		// Read them all before parsing any: a transaction's connection
		// serves the caller between yields.
		type row struct{ id, file, src string }
		rows, _ := q.Query(ctx, query, args...)
		stored, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.id, &x.file, &x.src)
			return x, err
		})
		if err != nil {
			yield(nil, fmt.Errorf("read alerts: %w", err))
			return
		}
		for _, r := range stored {
			if s.maxSource > 0 && int64(len(r.src)) > s.maxSource {
				if !yield(nil, &alerts.UnreadableError{ID: r.id, Err: fmt.Errorf("%d bytes, over the limit of %d", len(r.src), s.maxSource)}) {
					return
				}
				continue
			}
			a, err := alerts.ParseContext(ctx, r.file, []byte(r.src))
			if ctxErr := ctx.Err(); ctxErr != nil {
				yield(nil, ctxErr)
				return
			}
			if err != nil {
				err = &alerts.UnreadableError{ID: r.id, Err: err}
			}
			if !yield(a, err) {
				return
			}
		}
	}
}
