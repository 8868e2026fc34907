package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/sqltx"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Times are stored as BIGINT microseconds since the Unix epoch.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// Options tune a Store.
type Options struct {
	// Now is the clock; tests inject a fixed one. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// CacheMiB is SQLite's page cache per connection (default 64).
	CacheMiB int
}

// Store is the SQLite-backed inventory.
type Store struct {
	db     *sql.DB
	path   string
	now    func() time.Time
	log    *slog.Logger
	schema int

	cacheKiB int
	readOnly bool
}

// Open opens (creating if needed) the database at path and migrates it.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CacheMiB <= 0 {
		opts.CacheMiB = 64
	}
	if dir := filepath.Dir(path); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("open database %s: directory %s does not exist", path, dir)
		}
	}
	s, err := open(ctx, path, opts, false)
	if err != nil && readOnlyFS(path) {
		// On a read-only filesystem (a snapshot, a backup mounted for
		// inspection) SQLite cannot create the WAL's shared-memory file, so
		// even reads fail. Nothing can write there, so the file cannot change
		// under us: open it immutable, for reading.
		if ro, rerr := open(ctx, path, opts, true); rerr == nil {
			opts.Logger.Info("database opened read-only: its filesystem is read-only", "path", path)
			return ro, nil
		}
	}
	return s, err
}

func open(ctx context.Context, path string, opts Options, readOnly bool) (*Store, error) {
	q := url.Values{}
	// busy_timeout first: it makes the pragmas after it wait for a lock.
	pragmas := []string{"busy_timeout(10000)", "foreign_keys(1)", "journal_mode(WAL)", "synchronous(NORMAL)",
		fmt.Sprintf("cache_size(-%d)", opts.CacheMiB*1024)}
	if readOnly {
		pragmas = []string{"foreign_keys(1)", fmt.Sprintf("cache_size(-%d)", opts.CacheMiB*1024)}
		q.Set("mode", "ro")
		q.Set("immutable", "1")
	}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate") // writers take the lock up front: no deadlocked upgrades
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// One connection: SQLite has one writer, and River on SQLite wants this too.
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	s := &Store{db: db, path: path, now: opts.Now, log: opts.Logger, cacheKiB: opts.CacheMiB * 1024, readOnly: readOnly}
	if err := connect(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	v, err := migrate(ctx, db, s.now().UTC().Format(time.RFC3339))
	if err != nil {
		db.Close()
		if readOnly {
			return nil, fmt.Errorf("open database %s on a read-only filesystem: %w", path, err)
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s.schema = v
	return s, nil
}

// ReadOnly reports whether the database was opened for reading only,
// because its filesystem is read-only; every write then fails.
func (s *Store) ReadOnly() bool { return s.readOnly }

// connect opens the pool's connection, which switches a new file to WAL.
// Two processes opening a new file at once (two ringmaster runs) race to
// switch it, and SQLite answers the loser SQLITE_BUSY at once, without
// waiting out busy_timeout: connect tries again, a few times, backing off.
func connect(ctx context.Context, db *sql.DB) error {
	wait := 5 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := db.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || attempt == 8 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
			wait *= 2
		}
	}
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB exposes the handle for packages that share the database (the job queue).
func (s *Store) DB() *sql.DB { return s.db }

// Path is the database file.
func (s *Store) Path() string { return s.path }

// SchemaVersion is the version of the last migration applied.
func (s *Store) SchemaVersion() int { return s.schema }

// isConstraint reports a UNIQUE or PRIMARY KEY violation.
func isConstraint(err error, code int) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == code
}

const (
	errUnique     = sqlite3.SQLITE_CONSTRAINT_UNIQUE
	errForeignKey = sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
)

// CreateOrganisation stores a new organisation after validating it.
func (s *Store) CreateOrganisation(ctx context.Context, o *inventory.Organisation) error {
	return createOrg(ctx, s.db, o, s.now())
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func createOrg(ctx context.Context, db execer, o *inventory.Organisation, now time.Time) error {
	o.Normalise()
	if err := o.Validate(); err != nil {
		return err
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = now
	}
	_, err := db.ExecContext(ctx, `INSERT INTO organisations (code, name, time_zone, tags, created_at) VALUES (?, ?, ?, ?, ?)`,
		o.Code, o.Name, o.TimeZone, strings.Join(o.Tags, ","), micros(o.CreatedAt))
	if isConstraint(err, errUnique) {
		return fmt.Errorf("organisation %s: %w", o.Code, errkind.Exists)
	}
	if err != nil {
		return fmt.Errorf("create organisation %s: %w", o.Code, err)
	}
	return nil
}

// Organisation returns one organisation by code.
func (s *Store) Organisation(ctx context.Context, code string) (inventory.Organisation, error) {
	code = inventory.NormaliseOrgCode(code)
	orgs, err := queryOrgs(ctx, s.db, `WHERE code = ?`, code)
	if err != nil {
		return inventory.Organisation{}, err
	}
	if len(orgs) == 0 {
		return inventory.Organisation{}, fmt.Errorf("organisation %s: %w", code, errkind.NotFound)
	}
	return orgs[0].Organisation, nil
}

// Organisations lists every organisation, by code.
func (s *Store) Organisations(ctx context.Context) ([]inventory.Organisation, error) {
	rows, err := queryOrgs(ctx, s.db, "")
	if err != nil {
		return nil, err
	}
	out := make([]inventory.Organisation, len(rows))
	for i, r := range rows {
		out[i] = r.Organisation
	}
	return out, nil
}

type orgRow struct {
	id int64
	inventory.Organisation
}

func queryOrgs(ctx context.Context, db execer, where string, args ...any) ([]orgRow, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, code, name, time_zone, tags, credential, created_at FROM organisations `+where+` ORDER BY code`, args...)
	if err != nil {
		return nil, fmt.Errorf("list organisations: %w", err)
	}
	defer rows.Close()
	var out []orgRow
	for rows.Next() {
		var r orgRow
		var tags string
		var created sql.NullInt64
		if err := rows.Scan(&r.id, &r.Code, &r.Name, &r.TimeZone, &tags, &r.Credential, &created); err != nil {
			return nil, fmt.Errorf("list organisations: %w", err)
		}
		if tags != "" {
			r.Tags = strings.Split(tags, ",")
		}
		r.CreatedAt = fromMicros(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

// RemoveOrganisation deletes an organisation that has no devices.
func (s *Store) RemoveOrganisation(ctx context.Context, code string) error {
	code = inventory.NormaliseOrgCode(code)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM devices d JOIN organisations o ON o.id = d.org_id WHERE o.code = ?`, code).Scan(&n); err != nil {
		return fmt.Errorf("remove organisation %s: %w", code, err)
	}
	if n > 0 {
		return fmt.Errorf("%w: organisation %s has %d device(s); remove them first (ringmaster inventory remove -l org=%s)", errkind.InUse, code, n, code)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM organisations WHERE code = ?`, code)
	if err != nil {
		return fmt.Errorf("remove organisation %s: %w", code, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("organisation %s: %w", code, errkind.NotFound)
	}
	return sqltx.Commit(ctx, tx)
}

// Check verifies the whole database file: SQLite's integrity_check, or
// quick_check when quick (which skips matching indexes to their tables).
// It returns the problems found, none when the file is sound. A query only
// notices damage in the pages it reads, so a report can succeed over a file
// whose other pages are damaged: Check is how an operator finds out.
func (s *Store) Check(ctx context.Context, quick bool) ([]string, error) {
	pragma := "integrity_check(100)"
	if quick {
		pragma = "quick_check(100)"
	}
	rows, err := s.db.QueryContext(ctx, "PRAGMA "+pragma)
	if err != nil {
		return nil, fmt.Errorf("check database %s: %w", s.path, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, fmt.Errorf("check database %s: %w", s.path, err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check database %s: %w", s.path, err)
	}
	return problems, nil
}
