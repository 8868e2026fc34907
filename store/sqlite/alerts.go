// Package sqlite stores High Severity Alerts in the inventory's database,
// with its own schema version (alerts_migrations).
//
// What is derived from the alerts and kept by other stores in the same
// database (the updates the inventory's rollup watches, the reports'
// history) changes in the transaction that adds or removes an alert: Add
// and Remove call the caller's function inside it, so an alert is stored
// or removed together with what follows from it, or not at all.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"slices"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/sqlmigrate"
	"github.com/ringmaster-fleet/ringmaster/internal/sqltx"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// UnreadableError reports a stored alert that can no longer be read: one
// stored by an earlier version, before files and their lists were
// limited. Removing it is the remedy.
type UnreadableError struct {
	ID  string
	Err error
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("alert %s as stored cannot be read: %v", e.ID, e.Err)
}

// Unwrap returns why the alert cannot be read.
func (e *UnreadableError) Unwrap() error { return e.Err }

// Store keeps alerts.
type Store struct {
	db        *sql.DB
	now       func() time.Time
	maxSource int64
}

// Open migrates the alert table in db and returns the store.
func Open(ctx context.Context, db *sql.DB, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	if _, err := sqlmigrate.LoadAndApply(ctx, db, migrationFS, "migrations", "alerts_migrations", now().UTC().Format(time.RFC3339)); err != nil {
		return nil, fmt.Errorf("alert store: %w", err)
	}
	return &Store{db: db, now: now}, nil
}

// SetMaxSource makes Get and List report a stored alert longer than n
// bytes as unreadable without parsing it (n <= 0: no limit): one stored
// before alert files were limited would otherwise be parsed, at length,
// by every report.
func (s *Store) SetMaxSource(n int64) {
	s.maxSource = n
}

// TxFunc does, inside the transaction that adds an alert, what must change
// with it (such as watching the updates it names). The transaction is on
// the store's database; an error rolls the whole change back.
type TxFunc func(ctx context.Context, tx *sql.Tx) error

// Add stores an alert parsed from source and, in the same transaction,
// calls apply (if not nil): the alert is stored only if apply succeeds. An
// alert with the same id is refused (alerts are published once; a
// corrected one gets a new id, or replaces the old after Remove).
func (s *Store) Add(ctx context.Context, a *alerts.Alert, source []byte, apply TxFunc) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add alert %s: %w", a.ID, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	_, err = tx.ExecContext(ctx, `INSERT INTO alerts (id, title, issued, deadline, file, source, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Title, a.Issued, a.Deadline, a.File, string(source), s.now().UnixMicro())
	if isUnique(err) {
		return fmt.Errorf("alert %s: %w", a.ID, errkind.Exists)
	}
	if err != nil {
		return fmt.Errorf("add alert %s: %w", a.ID, err)
	}
	if apply != nil {
		if err := apply(ctx, tx); err != nil {
			return fmt.Errorf("add alert %s: %w", a.ID, err)
		}
	}
	if err := sqltx.Commit(ctx, tx); err != nil {
		return fmt.Errorf("add alert %s: %w", a.ID, err)
	}
	return nil
}

// Remaining is what the alerts left after a removal name.
type Remaining struct {
	// KBs are the updates the remaining alerts name (each one's
	// alerts.Alert.KBs), sorted.
	KBs []string
	// Unreadable are the ids of remaining alerts that could not be read
	// back (see UnreadableError): the updates they name are unknown.
	Unreadable []string
}

// RemoveFunc does, inside the transaction that removes an alert, what must
// change with it, given what the remaining alerts name.
type RemoveFunc func(ctx context.Context, tx *sql.Tx, left Remaining) error

// Remove deletes the alert id and, in the same transaction, calls apply
// (if not nil) with what the remaining alerts name. The alert removed need
// not be readable: removing one that is not is how a database recovers
// from it. An unknown id is an error wrapping errkind.NotFound.
func (s *Store) Remove(ctx context.Context, id string, apply RemoveFunc) error {
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
	if apply != nil {
		var left Remaining
		for a, err := range s.each(ctx, tx, "") {
			var ue *UnreadableError
			switch {
			case errors.As(err, &ue):
				left.Unreadable = append(left.Unreadable, ue.ID)
			case err != nil:
				return fmt.Errorf("remove alert %s: %w", id, err)
			default:
				left.KBs = append(left.KBs, a.KBs()...)
			}
		}
		slices.Sort(left.KBs)
		left.KBs = slices.Compact(left.KBs)
		if err := apply(ctx, tx, left); err != nil {
			return fmt.Errorf("remove alert %s: %w", id, err)
		}
	}
	if err := sqltx.Commit(ctx, tx); err != nil {
		return fmt.Errorf("remove alert %s: %w", id, err)
	}
	return nil
}

// Get returns one alert.
func (s *Store) Get(ctx context.Context, id string) (*alerts.Alert, error) {
	for a, err := range s.each(ctx, s.db, id) {
		return a, err
	}
	return nil, fmt.Errorf("alert %s: %w", id, errkind.NotFound)
}

// List returns every alert, by issue date. An alert that cannot be read
// fails the whole list with an *UnreadableError naming it.
func (s *Store) List(ctx context.Context) ([]*alerts.Alert, error) {
	var out []*alerts.Alert
	for a, err := range s.each(ctx, s.db, "") {
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// querier is what both *sql.DB and *sql.Tx offer for reads.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// each yields the stored alerts (only id's, if not empty), by issue date,
// each parsed or with an *UnreadableError; it ends after any other error.
func (s *Store) each(ctx context.Context, q querier, id string) func(yield func(*alerts.Alert, error) bool) {
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
				if !yield(nil, &UnreadableError{ID: r.id, Err: fmt.Errorf("%d bytes, over the limit of %d", len(r.src), s.maxSource)}) {
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
				err = &UnreadableError{ID: r.id, Err: err}
			}
			if !yield(a, err) {
				return
			}
		}
	}
}

// isUnique reports a violated UNIQUE or PRIMARY KEY constraint, by code.
func isUnique(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE)
}
