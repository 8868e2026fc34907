// Package sqlmigrate applies embedded, numbered SQL migrations to a
// database, each in its own transaction, recording them in a table of the
// caller's choosing, so that several stores can share one database file and
// each keep its own schema version.
package sqlmigrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// ErrTooNew reports a database written by a newer program.
var ErrTooNew = errors.New("database schema is newer than this ringmaster")

// Load reads dir's NNNN_name.sql files from fsys, in version order;
// versions must run 1, 2, 3 ... without gaps.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %04d_%s: want version %d (versions run 1, 2, 3 ... without gaps)", m.Version, m.Name, i+1)
		}
	}
	return out, nil
}

// Apply runs the migrations not yet recorded in table and returns the
// schema version reached. It refuses (ErrTooNew) a database whose version
// is above the last migration, and changes nothing then.
func Apply(ctx context.Context, db *sql.DB, table string, ms []Migration, now string) (int, error) {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
		version     INTEGER PRIMARY KEY,
		name        TEXT NOT NULL,
		applied_at  TEXT NOT NULL
	)`); err != nil {
		return 0, fmt.Errorf("create %s: %w", table, err)
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM `+table).Scan(&current); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if current > len(ms) {
		return current, fmt.Errorf("%w: the database is at schema version %d (%s), this ringmaster knows up to %d; use a newer ringmaster", ErrTooNew, current, table, len(ms))
	}
	for _, m := range ms[current:] {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return current, err
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			_ = tx.Rollback()
			return current, fmt.Errorf("apply migration %04d_%s: %w", m.Version, m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (version, name, applied_at) VALUES (?, ?, ?)`, m.Version, m.Name, now); err != nil {
			_ = tx.Rollback()
			return current, fmt.Errorf("record migration %04d_%s: %w", m.Version, m.Name, err)
		}
		if err := tx.Commit(); err != nil {
			return current, fmt.Errorf("commit migration %04d_%s: %w", m.Version, m.Name, err)
		}
		current = m.Version
	}
	return current, nil
}

// LoadAndApply loads dir's migrations from fsys and applies them, recorded
// in table: what a store does when it opens.
func LoadAndApply(ctx context.Context, db *sql.DB, fsys fs.FS, dir, table, now string) (int, error) {
	ms, err := Load(fsys, dir)
	if err != nil {
		return 0, err
	}
	return Apply(ctx, db, table, ms, now)
}
