package dbcopy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ringmaster-fleet/ringmaster/store"
	"github.com/ringmaster-fleet/ringmaster/store/postgres"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

// Options tune Copy.
type Options struct {
	// Now is the clock: the reports compared are computed at Now, and
	// the queued devices handed to the controller are stamped with it
	// (see Report.Requeued). Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Progress, if set, is told of each table as it is copied, and every
	// 100,000 rows of a long one.
	Progress func(table string, rows int64)
}

// Report is what a copy did and what it checked.
type Report struct {
	From string `json:"from"`
	To   string `json:"to"` // the server and database, never the password
	// Tables are the rows of each table: in the source, and copied.
	Tables []TableRows `json:"tables"`
	// Requeued counts the devices that were queued in a running or
	// paused campaign: their jobs are not copied, so they are stored as
	// running under a lease that has lapsed, and the first control pass
	// on the target re-queues each (a new generation and job, its
	// checkpoint kept), as it does for a node that died.
	Requeued int64 `json:"requeued"`
	// Checks are the comparisons made between source and target, each
	// passed (Copy returns an error for a failed one).
	Checks []Check       `json:"checks"`
	Took   time.Duration `json:"-"`
}

// TableRows is one table's rows.
type TableRows struct {
	Table  string `json:"table"`
	Source int64  `json:"source"`
	Copied int64  `json:"copied"`
}

// Check is one comparison of source and target.
type Check struct {
	Name   string `json:"name"`
	Detail string `json:"detail"` // what was compared
}

// ErrNotEmpty is a target that already holds rows: Copy writes only into
// an empty database.
var ErrNotEmpty = errors.New("the target database is not empty")

// ErrMismatch is a check that found the target different from the
// source.
var ErrMismatch = errors.New("the copy differs from the source")

// ErrInvalid is a bad request: a source that is not an SQLite file, a
// target that is not PostgreSQL.
var ErrInvalid = errors.New("invalid copy")

// Copy copies everything the SQLite database file from holds into the
// empty PostgreSQL database to (a postgres:// URL or libpq's settings),
// in one transaction of the target: a failure leaves it as empty as it
// was. The source is opened for reading only and read in one
// transaction, a consistent snapshot; no node should run on it meanwhile
// (what it does after the snapshot would not be copied). After the copy
// every table's rows, the device rollup, the campaign counts and the
// reports (progress, scorecard, compliance, history, campaign summaries)
// are compared; a difference is an error wrapping ErrMismatch.
func Copy(ctx context.Context, from, to string, opts Options) (Report, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := Report{From: from}
	start := time.Now()
	if err := checkArgs(from, to); err != nil {
		return r, err
	}
	src, err := sqlite.Open(ctx, from, sqlite.Options{ReadOnly: true, Now: opts.Now, Logger: opts.Logger})
	if err != nil {
		if errors.Is(err, sqlite.ErrSchemaOld) {
			return r, fmt.Errorf("source: %w; bring it up to date first (ringmaster --db %s db migrate)", err, from)
		}
		return r, fmt.Errorf("source: %w", err)
	}
	defer src.Close()
	for _, c := range []func(context.Context) error{
		func(ctx context.Context) error { _, err := src.Campaigns(ctx); return err },
		func(ctx context.Context) error { _, err := src.Alerts(ctx); return err },
		func(ctx context.Context) error { _, err := src.History(ctx); return err },
		func(ctx context.Context) error { _, err := src.Notifications(ctx); return err },
		func(ctx context.Context) error { _, err := src.Tokens(ctx); return err },
	} {
		if err := c(ctx); err != nil {
			if errors.Is(err, sqlite.ErrSchemaOld) {
				return r, fmt.Errorf("source %s: %w; bring it up to date first (ringmaster --db %s db migrate)", from, err, from)
			}
			return r, fmt.Errorf("source %s: %w", from, err)
		}
	}
	dst, err := postgres.Open(ctx, to, postgres.Options{Now: opts.Now, MaxConns: 4, QueueConns: 1})
	if err != nil {
		return r, fmt.Errorf("target: %w", err)
	}
	defer dst.Close()
	r.To = dst.Where()

	if err := copyAll(ctx, src.SQL(), dst, opts, &r); err != nil {
		return r, err
	}
	// The reports are read through the stores, which see only what is
	// committed.
	if err := compareReports(ctx, &store.SQLite{DB: src}, &store.Postgres{DB: dst}, opts.Now, &r); err != nil {
		return r, fmt.Errorf("%w; the copy is committed in %s: do not run nodes on it, empty it and copy again", err, r.To)
	}
	r.Took = time.Since(start)
	opts.Logger.Info("database copied", "from", from, "to", r.To, "took", r.Took, "requeued", r.Requeued)
	return r, nil
}

// checkArgs refuses what cannot be a copy from an SQLite file to
// PostgreSQL before anything is opened: opening a missing source would
// create it.
func checkArgs(from, to string) error {
	switch {
	case from == "":
		return fmt.Errorf("%w: no source: name the SQLite file to copy", ErrInvalid)
	case to == "":
		return fmt.Errorf("%w: no target: name the PostgreSQL database to copy into (a postgres:// URL)", ErrInvalid)
	case store.IsPostgres(from):
		return fmt.Errorf("%w: the source must be an SQLite file; it names a PostgreSQL database", ErrInvalid)
	case !store.IsPostgres(to):
		if same(from, to) {
			return fmt.Errorf("%w: the source and the target are the same file, %s; the target must be a PostgreSQL database (a postgres:// URL)", ErrInvalid, to)
		}
		return fmt.Errorf("%w: the target %s is not a PostgreSQL database: give a postgres:// URL (copying between SQLite files is a file copy)", ErrInvalid, to)
	}
	st, err := os.Stat(from)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: the source %s does not exist", ErrInvalid, from)
	case err != nil:
		return fmt.Errorf("source: %w", err)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%w: the source %s is not a file", ErrInvalid, from)
	}
	return nil
}

// same reports whether two paths name one file.
func same(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// copyAll copies every table in one transaction of the target, reading
// the source in one transaction of its own, checks what it wrote and
// commits.
func copyAll(ctx context.Context, srcDB *sql.DB, dst *postgres.DB, opts Options, r *Report) error {
	conn, err := srcDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer conn.Close()
	// One read transaction: every table is read from the same snapshot.
	stx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("source: begin reading: %w", err)
	}
	defer func() { _ = stx.Rollback() }()

	return pgx.BeginFunc(ctx, dst.Pool(), func(tx pgx.Tx) error {
		if err := lockAndCheckEmpty(ctx, tx); err != nil {
			return err
		}
		for _, t := range tables {
			n, err := copyTable(ctx, stx, tx, t, opts.Progress)
			if err != nil {
				return err
			}
			var want int64
			if err := stx.QueryRowContext(ctx, "SELECT count(*) FROM "+t.name).Scan(&want); err != nil {
				return fmt.Errorf("source: count %s: %w", t.name, err)
			}
			r.Tables = append(r.Tables, TableRows{Table: t.name, Source: want, Copied: n})
			opts.Logger.Debug("table copied", "table", t.name, "rows", n)
		}
		if err := checkTables(ctx, tx, r); err != nil {
			return err
		}
		if err := checkRollup(ctx, stx, tx, r); err != nil {
			return err
		}
		if err := checkCampaignCounts(ctx, tx, r); err != nil {
			return err
		}
		n, err := requeue(ctx, tx, opts.Now())
		if err != nil {
			return err
		}
		r.Requeued = n
		return nil
	})
}

// lockAndCheckEmpty takes every table copied into (and River's job
// table, when a node has made it) for the transaction, so that no node
// writes beside the copy, and refuses a target that holds a row in any.
func lockAndCheckEmpty(ctx context.Context, tx pgx.Tx) error {
	names := []string{"device_rollup", "campaign_count_deltas"}
	for _, t := range tables {
		names = append(names, t.name)
	}
	var river bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('river_job') IS NOT NULL`).Scan(&river); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if river {
		names = append(names, "river_job")
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+strings.Join(names, ", ")+" IN EXCLUSIVE MODE NOWAIT"); err != nil {
		return fmt.Errorf("target: lock its tables (is a node running on it?): %w", err)
	}
	var full []string
	for _, n := range names {
		var any bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+n+")").Scan(&any); err != nil {
			return fmt.Errorf("target: %s: %w", n, err)
		}
		if any {
			full = append(full, n)
		}
	}
	if len(full) > 0 {
		return fmt.Errorf("%w: %s holds rows; copy into a new database (CREATE DATABASE ...)", ErrNotEmpty, strings.Join(full, ", "))
	}
	return nil
}

// copyTable streams one table with COPY.
func copyTable(ctx context.Context, stx *sql.Tx, tx pgx.Tx, t table, progress func(string, int64)) (int64, error) {
	rows, err := stx.QueryContext(ctx, t.selectSQL())
	if err != nil {
		return 0, fmt.Errorf("source: read %s: %w", t.name, err)
	}
	defer rows.Close()
	var every func(int64)
	if progress != nil {
		progress(t.name, 0)
		every = func(n int64) { progress(t.name, n) }
	}
	src := newRowSource(t, rows, every)
	n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.names(), src)
	if err != nil {
		return n, fmt.Errorf("copy %s: %w", t.name, err)
	}
	if t.identity {
		id := t.cols[0].name
		if _, err := tx.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', '%s'), max(%s)) FROM %s`, t.name, id, id, t.name)); err != nil {
			return n, fmt.Errorf("copy %s: move its identity past the %ss copied: %w", t.name, id, err)
		}
	}
	return n, nil
}
