package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/sqltx"
)

// Alerts keeps High Severity Alerts, with its own schema version
// (alerts_migrations). What is derived from the alerts and kept by the
// other stores in the same database changes in the transaction that adds
// or removes an alert: Add watches the updates the alert names in the
// inventory's rollup, and Remove stops watching those only it named and
// forgets its figures in the daily history, so an alert is stored or
// removed together with what follows from it, or not at all. It implements
// alerts.Store.
type Alerts struct {
	d         *DB
	db        *sql.DB
	now       func() time.Time
	inv       *Inventory
	maxSource int64
}

var _ alerts.Store = (*Alerts)(nil)

// SetMaxSource makes Get and List report a stored alert longer than n
// bytes as unreadable without parsing it (n <= 0: no limit): one stored
// before alert files were limited would otherwise be parsed, at length,
// by every report.
func (s *Alerts) SetMaxSource(n int64) {
	s.maxSource = n
}

// Add stores an alert parsed from source and, in the same transaction,
// makes the inventory's rollup watch the updates it names, so reports count
// them from the moment it is stored. An alert with the same id is refused
// with an error wrapping errkind.Exists (alerts are published once; a
// corrected one gets a new id, or replaces the old after Remove).
func (s *Alerts) Add(ctx context.Context, a *alerts.Alert, source []byte) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add alert %s: %w", a.ID, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	_, err = tx.ExecContext(ctx, `INSERT INTO alerts (id, title, issued, deadline, file, source, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Title, a.Issued, a.Deadline, a.File, string(source), micros(s.now()))
	if constraint(err) == errkind.Exists {
		return fmt.Errorf("alert %s: %w", a.ID, errkind.Exists)
	}
	if err != nil {
		return fmt.Errorf("add alert %s: %w", a.ID, err)
	}
	if _, err := s.inv.watchKBsTx(ctx, tx, a.KBs()); err != nil {
		return fmt.Errorf("add alert %s: watch the updates it names: %w", a.ID, err)
	}
	if err := sqltx.Commit(ctx, tx); err != nil {
		return fmt.Errorf("add alert %s: %w", a.ID, err)
	}
	return nil
}

// remaining is what the alerts left after a removal name.
type remaining struct {
	// kbs are the updates the remaining alerts name (each one's
	// alerts.Alert.KBs), sorted.
	kbs []string
	// unreadable are the ids of remaining alerts that could not be read
	// back (see alerts.UnreadableError): the updates they name are
	// unknown.
	unreadable []string
}

// Remove deletes the alert id and, in the same transaction, stops watching
// the updates only it named (unless a remaining alert cannot be read: the
// updates that one names are unknown, so all stay watched) and deletes its
// figures from the daily history. The alert removed need not be readable:
// removing one that is not is how a database recovers from it. An unknown
// id is an error wrapping errkind.NotFound.
func (s *Alerts) Remove(ctx context.Context, id string) error {
	// The history's tables take part: they must exist first.
	if _, err := s.d.History(ctx); err != nil {
		return fmt.Errorf("remove alert %s: %w", id, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("remove alert %s: %w", id, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	res, err := tx.ExecContext(ctx, `DELETE FROM alerts WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("remove alert %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("remove alert %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("alert %s: %w", id, errkind.NotFound)
	}
	var left remaining
	for a, err := range s.each(ctx, tx, "") {
		var ue *alerts.UnreadableError
		switch {
		case errors.As(err, &ue):
			left.unreadable = append(left.unreadable, ue.ID)
		case err != nil:
			return fmt.Errorf("remove alert %s: %w", id, err)
		default:
			left.kbs = append(left.kbs, a.KBs()...)
		}
	}
	slices.Sort(left.kbs)
	left.kbs = slices.Compact(left.kbs)
	// While a remaining alert cannot be read, the updates it names are
	// unknown: keep watching them all.
	if len(left.unreadable) == 0 {
		if _, err := s.inv.retainWatchedKBsTx(ctx, tx, left.kbs); err != nil {
			return fmt.Errorf("remove alert %s: stop watching the updates only it named: %w", id, err)
		}
	}
	if _, err := forgetAlert(ctx, tx, id); err != nil {
		return fmt.Errorf("remove alert %s: %w", id, err)
	}
	if err := sqltx.Commit(ctx, tx); err != nil {
		return fmt.Errorf("remove alert %s: %w", id, err)
	}
	return nil
}

// Get returns one alert.
func (s *Alerts) Get(ctx context.Context, id string) (*alerts.Alert, error) {
	for a, err := range s.each(ctx, s.db, id) {
		return a, err
	}
	return nil, fmt.Errorf("alert %s: %w", id, errkind.NotFound)
}

// List returns every alert, by issue date. An alert that cannot be read
// fails the whole list with an *UnreadableError naming it.
func (s *Alerts) List(ctx context.Context) ([]*alerts.Alert, error) {
	var out []*alerts.Alert
	for a, err := range s.each(ctx, s.db, "") {
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
		query, args := `SELECT id, file, source FROM alerts ORDER BY issued, id`, []any(nil)
		if id != "" {
			query, args = `SELECT id, file, source FROM alerts WHERE id = ?`, []any{id}
		}
		// Read them all before parsing any: the transaction's one
		// connection serves the caller between yields.
		type row struct{ id, file, src string }
		var stored []row
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			yield(nil, fmt.Errorf("read alerts: %w", err))
			return
		}
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.file, &r.src); err != nil {
				rows.Close()
				yield(nil, fmt.Errorf("read alerts: %w", err))
				return
			}
			stored = append(stored, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
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
