// Package sqlmigrate applies embedded, numbered SQL migrations to a
// database, each in its own transaction, recording them in a table of the
// caller's choosing, so that several stores can share one database file and
// each keep its own schema version. Several processes may migrate one file
// at once: migrations run under SQLite's write lock (Locked), which River's
// migrations use too.
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
// is above the last migration, and changes nothing then. Several processes
// may apply the same migrations to one database file at once: each
// migration is applied under the write lock (Locked) after reading the
// version again, so one process applies it and the others find it done.
func Apply(ctx context.Context, db *sql.DB, table string, ms []Migration, now string) (int, error) {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
		version     INTEGER PRIMARY KEY,
		name        TEXT NOT NULL,
		applied_at  TEXT NOT NULL
	)`); err != nil {
		return 0, fmt.Errorf("create %s: %w", table, err)
	}
	// Reading first keeps a database that is up to date (every open but
	// the first) free of writes.
	current, err := version(ctx, db, table, len(ms))
	for err == nil && current < len(ms) {
		var reached int
		err = Locked(ctx, db, func(tx *sql.Tx) error {
			v, err := version(ctx, tx, table, len(ms))
			if err != nil {
				return err
			}
			if v < len(ms) { // not applied by another process meanwhile
				m := ms[v]
				if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
					return fmt.Errorf("apply migration %04d_%s: %w", m.Version, m.Name, err)
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (version, name, applied_at) VALUES (?, ?, ?)`, m.Version, m.Name, now); err != nil {
					return fmt.Errorf("record migration %04d_%s: %w", m.Version, m.Name, err)
				}
				v = m.Version
			}
			reached = v
			return nil
		})
		if err == nil {
			current = reached
		}
	}
	return current, err
}

// Current returns the schema version recorded in table without writing
// anything: 0 when the table does not exist (nothing applied). It refuses
// a version above known (ErrTooNew). A database opened for reading only
// is checked with it instead of Apply.
func Current(ctx context.Context, db *sql.DB, table string, known int) (int, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	return version(ctx, db, table, known)
}

// version reads the schema version recorded in table, refusing one above
// known (ErrTooNew).
func version(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, table string, known int) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM `+table).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if v > known {
		return v, fmt.Errorf("%w: the database is at schema version %d (%s), this ringmaster knows up to %d; use a newer ringmaster", ErrTooNew, v, table, known)
	}
	return v, nil
}

// lockTable holds the one row Locked writes to take the write lock.
const lockTable = "sqlmigrate_lock"

// Locked runs f in a transaction that is the database's only writer from
// its start to its commit, so that what f reads (a schema version) still
// holds when it writes. Its first statement writes a row of lockTable,
// which takes SQLite's write lock before anything is read, waiting out
// the connection's busy_timeout for another writer, whether the pool
// begins transactions DEFERRED or IMMEDIATE. A second process in Locked
// waits, then sees what the first committed. f's error rolls back.
func Locked(ctx context.Context, db *sql.DB, f func(*sql.Tx) error) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+lockTable+` (id INTEGER PRIMARY KEY)`); err != nil {
		return fmt.Errorf("create %s: %w", lockTable, err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO `+lockTable+` (id) VALUES (1)`); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("take the migration lock: %w", err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit under the migration lock: %w", err)
	}
	return nil
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
