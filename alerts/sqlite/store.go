// Package sqlite stores High Severity Alerts in the inventory's database,
// with its own schema version (alerts_migrations).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/internal/sqlmigrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Errors.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// Store keeps alerts.
type Store struct {
	db  *sql.DB
	now func() time.Time
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

// Add stores an alert parsed from source; an alert with the same id is
// refused (alerts are published once; a corrected one gets a new id).
func (s *Store) Add(ctx context.Context, a *alerts.Alert, source []byte) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO alerts (id, title, issued, deadline, file, source, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Title, a.Issued, a.Deadline, a.File, string(source), s.now().UnixMicro())
	if err != nil && strings.Contains(err.Error(), "UNIQUE") {
		return fmt.Errorf("alert %s: %w", a.ID, ErrExists)
	}
	return err
}

// Get returns one alert.
func (s *Store) Get(ctx context.Context, id string) (*alerts.Alert, error) {
	var file, src string
	err := s.db.QueryRowContext(ctx, `SELECT file, source FROM alerts WHERE id = ?`, id).Scan(&file, &src)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("alert %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return alerts.Parse(file, []byte(src))
}

// List returns every alert, by issue date.
func (s *Store) List(ctx context.Context) ([]*alerts.Alert, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT file, source FROM alerts ORDER BY issued, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*alerts.Alert
	for rows.Next() {
		var file, src string
		if err := rows.Scan(&file, &src); err != nil {
			return nil, err
		}
		a, err := alerts.Parse(file, []byte(src))
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
