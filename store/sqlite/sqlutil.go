package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/sqltx"
)

// What every store here does the same way: times, transactions and the
// mapping of SQLite's errors onto errkind.

// Times are stored as BIGINT microseconds since the Unix epoch.
func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros is micros with the zero time stored as NULL (a time not yet
// known, such as when a wave completed).
func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// execer is what both *sql.DB and *sql.Tx offer.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// querier is what both *sql.DB and *sql.Tx offer for reads.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// withTx runs f in a transaction on db and commits it (sqltx.Commit: a
// cancelled context is reported as such), or rolls it back when f fails.
func withTx(ctx context.Context, db *sql.DB, f func(*sql.Tx) error) error {
	return txDo(ctx, db, f)
}

// withConnTx is withTx on one connection.
func withConnTx(ctx context.Context, conn *sql.Conn, f func(*sql.Tx) error) error {
	return txDo(ctx, conn, f)
}

func txDo(ctx context.Context, db interface {
	BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
}, f func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return sqltx.Commit(ctx, tx)
}

// constraint maps a violated constraint, by SQLite's extended result code
// (never by its message), to its kind: a UNIQUE or PRIMARY KEY constraint
// to errkind.Exists, a FOREIGN KEY one to errkind.InUse (a row others
// refer to). It returns "" for any other error, and for nil.
func constraint(err error) errkind.Kind {
	var coded interface{ Code() int }
	if !errors.As(err, &coded) {
		return ""
	}
	switch coded.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return errkind.Exists
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return errkind.InUse
	}
	return ""
}

// marks returns n comma-separated placeholders.
func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// anys turns values into query arguments.
func anys[T any](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// rollbackJournal switches the database from WAL to a rollback journal
// for one large write on conn, when no other connection has the database
// open (else it stays in WAL and reports false). In WAL mode every page of
// a large write is written twice, to the WAL and at the checkpoint to the
// database; with a rollback journal, pages added at the file's end go
// straight to the database and the journal keeps only the pages that
// existed before, so the write stays all-or-nothing at half the writes.
// The returned func switches back to WAL.
func rollbackJournal(ctx context.Context, conn *sql.Conn, log *slog.Logger) (restore func(), ok bool) {
	var mode string
	if err := conn.QueryRowContext(ctx, `PRAGMA journal_mode=DELETE`).Scan(&mode); err != nil || mode != "delete" {
		log.Debug("large write stays in WAL mode", "mode", mode, "err", err)
		return nil, false
	}
	return func() {
		var mode string
		err := conn.QueryRowContext(context.WithoutCancel(ctx), `PRAGMA journal_mode=WAL`).Scan(&mode)
		if err != nil || mode != "wal" {
			// The next Open switches back to WAL; nothing is lost meanwhile.
			log.Warn("could not switch the database back to WAL mode", "mode", mode, "err", err)
		}
	}, true
}
