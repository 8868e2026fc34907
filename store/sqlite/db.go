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
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Options tune a DB.
type Options struct {
	// Now is the clock; tests inject a fixed one. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// CacheMiB is SQLite's page cache per connection (default 64).
	CacheMiB int
	// ReadOnly opens an existing file for reading only (SQLite's
	// mode=ro): nothing is written to it, not even a migration. A store
	// whose schema in the file is older than this binary's, or absent, is
	// refused with an error wrapping ErrSchemaOld. What copies a database
	// elsewhere (db copy) reads its source so.
	ReadOnly bool
}

// DB is one Ringmaster database file and the stores over it. Open applies
// the inventory's migrations (organisations, devices, credentials,
// plugins); the campaigns', alerts' and history's are applied by the first
// call that asks for their store, so a command that reads only the
// inventory works on a database it may not change (read-only, or newer
// components absent).
type DB struct {
	db *sql.DB
	// rdb is a pool of read-only connections: in WAL mode readers do not
	// wait for the one writer, so what only reads (listings, the
	// controller's view, reports) does not queue behind the workers'
	// writes on db. It is db itself for a read-only file.
	rdb *sql.DB
	// listen is ListenSQL's pool, opened on first use.
	listenMu sync.Mutex
	listen   *sql.DB
	path     string
	now      func() time.Time
	log      *slog.Logger
	schema   int
	cacheKiB int
	readOnly bool
	// checkOnly: opened with Options.ReadOnly, so migrations are checked,
	// never applied.
	checkOnly bool

	// group commits the small writes of many workers (campaign devices'
	// begin, heartbeat and finish; what their runs observed) in shared
	// transactions.
	group *writeGroup

	inv   *Inventory
	creds *Credentials
	plugs *Plugins

	mu       sync.Mutex
	migrated map[string]bool // components whose migrations this DB applied
}

// Open opens (creating if needed) the database at path and migrates the
// inventory's schema. On a read-only filesystem it opens the file
// immutable, for reading (see ReadOnly).
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CacheMiB <= 0 {
		opts.CacheMiB = 64
	}
	if opts.ReadOnly {
		if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
			return nil, fmt.Errorf("open database %s for reading: no such file", path)
		}
		return openReadOnly(ctx, path, opts)
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

func open(ctx context.Context, path string, opts Options, readOnly bool) (*DB, error) {
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
	db, err := openDB("file:" + path + "?" + q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// One connection: SQLite has one writer, and River on SQLite wants this too.
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	d := &DB{db: db, path: path, now: opts.Now, log: opts.Logger, cacheKiB: opts.CacheMiB * 1024, readOnly: readOnly,
		migrated: map[string]bool{}}
	if err := connect(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	v, err := migrate(ctx, db, inventoryMigrations, d.now())
	if err != nil {
		db.Close()
		if readOnly {
			return nil, fmt.Errorf("open database %s on a read-only filesystem: %w", path, err)
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	d.schema = v
	d.rdb = db
	if !readOnly {
		if d.rdb, err = openReaders(ctx, path, opts, readers); err != nil {
			db.Close()
			return nil, err
		}
	}
	d.group = &writeGroup{db: db}
	d.inv = &Inventory{db: db, rdb: d.rdb, group: d.group, now: d.now, log: d.log, cacheKiB: d.cacheKiB}
	d.creds = &Credentials{db: db, now: d.now, inv: d.inv}
	d.plugs = &Plugins{db: db, now: d.now}
	return d, nil
}

// openReadOnly opens path with SQLite's mode=ro and query_only: it sees
// what other processes commit (unlike the immutable open of a read-only
// filesystem) and writes nothing. Every component's schema must be
// current (see checkSchema).
func openReadOnly(ctx context.Context, path string, opts Options) (*DB, error) {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "foreign_keys(1)", "query_only(1)", fmt.Sprintf("cache_size(-%d)", opts.CacheMiB*1024)} {
		q.Add("_pragma", p)
	}
	q.Set("mode", "ro")
	db, err := openDB("file:" + path + "?" + q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s for reading: %w", path, err)
	}
	db.SetMaxOpenConns(readers)
	db.SetMaxIdleConns(readers)
	d := &DB{db: db, rdb: db, path: path, now: opts.Now, log: opts.Logger, cacheKiB: opts.CacheMiB * 1024, readOnly: true,
		checkOnly: true, migrated: map[string]bool{}}
	if err := connect(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s for reading: %w", path, err)
	}
	v, err := checkSchema(ctx, db, inventoryMigrations)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s for reading: %w", path, err)
	}
	d.schema = v
	d.group = &writeGroup{db: db}
	d.inv = &Inventory{db: db, rdb: db, group: d.group, now: d.now, log: d.log, cacheKiB: d.cacheKiB}
	d.creds = &Credentials{db: db, now: d.now, inv: d.inv}
	d.plugs = &Plugins{db: db, now: d.now}
	return d, nil
}

// openDB is a pool of connections to dsn that keep the statements run on
// them prepared (see connector).
func openDB(dsn string) (*sql.DB, error) {
	c, err := newConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// readers is how many read-only connections a DB keeps.
const readers = 4

// openReaders opens the pool of read-only connections (query_only): they
// never write, so they take no lock a writer waits for. Idle ones close
// after a while, so that a large write can still find itself alone with
// the file (rollbackJournal).
func openReaders(ctx context.Context, path string, opts Options, conns int) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "foreign_keys(1)", "query_only(1)", fmt.Sprintf("cache_size(-%d)", opts.CacheMiB*1024)} {
		q.Add("_pragma", p)
	}
	rdb, err := openDB("file:" + path + "?" + q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s for reading: %w", path, err)
	}
	rdb.SetMaxOpenConns(conns)
	rdb.SetMaxIdleConns(conns)
	rdb.SetConnMaxIdleTime(30 * time.Second)
	if err := connect(ctx, rdb); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("open database %s for reading: %w", path, err)
	}
	return rdb, nil
}

// quiesceReaders closes the idle read-only connections.
func quiesceReaders(rdb *sql.DB) {
	rdb.SetMaxIdleConns(0)
	rdb.SetMaxIdleConns(readers)
}

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
func (d *DB) Close() error {
	var err error
	if d.rdb != d.db {
		err = d.rdb.Close()
	}
	d.listenMu.Lock()
	if d.listen != nil && d.listen != d.db {
		err = errors.Join(err, d.listen.Close())
	}
	d.listen = nil
	d.listenMu.Unlock()
	return errors.Join(err, d.db.Close())
}

// SQL is the handle, for what shares the database without being a store
// here: the job queue (River's driver and migrations).
func (d *DB) SQL() *sql.DB { return d.db }

// ListenSQL is a read-only connection of its own beside SQL's one writer,
// for what shares the database and polls it: River's notification reads
// (scheduler.Config.ListenDB). It never waits for a connection behind the
// long scans of the shared readers (a report, a campaign's targets), nor
// for the writer. It is opened on the first call and closed with the DB;
// on a read-only file it is SQL itself.
func (d *DB) ListenSQL(ctx context.Context) (*sql.DB, error) {
	d.listenMu.Lock()
	defer d.listenMu.Unlock()
	if d.listen != nil {
		return d.listen, nil
	}
	if d.readOnly {
		d.listen = d.db
		return d.listen, nil
	}
	l, err := openReaders(ctx, d.path, Options{CacheMiB: 1}, 1)
	if err != nil {
		return nil, err
	}
	d.listen = l
	return l, nil
}

// Path is the database file.
func (d *DB) Path() string { return d.path }

// SchemaVersion is the version of the inventory's last migration applied
// (schema_migrations).
func (d *DB) SchemaVersion() int { return d.schema }

// ReadOnly reports whether the database was opened for reading only,
// because its filesystem is read-only; every write then fails.
func (d *DB) ReadOnly() bool { return d.readOnly }

// Now is the time by the database's clock (Options.Now).
func (d *DB) Now() time.Time { return d.now() }

// Inventory is the store of organisations and devices.
func (d *DB) Inventory() *Inventory { return d.inv }

// Credentials is the store of sealed credentials.
func (d *DB) Credentials() *Credentials { return d.creds }

// Plugins is the registry of executor plugins.
func (d *DB) Plugins() *Plugins { return d.plugs }

// Campaigns is the campaign store, its tables migrated on first use
// (orchestrator_migrations).
func (d *DB) Campaigns(ctx context.Context) (*Campaigns, error) {
	if err := d.ensure(ctx, campaignMigrations); err != nil {
		return nil, fmt.Errorf("campaign store: %w", err)
	}
	return &Campaigns{db: d.db, rdb: d.rdb, group: d.group, now: d.now, cacheKiB: d.cacheKiB, log: d.log}, nil
}

// History is the reports' daily history, its tables migrated on first use
// (report_migrations).
func (d *DB) History(ctx context.Context) (*History, error) {
	if err := d.ensure(ctx, historyMigrations); err != nil {
		return nil, fmt.Errorf("report history: %w", err)
	}
	return &History{db: d.db, now: d.now}, nil
}

// Notifications is the store of notification subscriptions and their
// outbox, its tables migrated on first use (notifications_migrations).
func (d *DB) Notifications(ctx context.Context) (*Notifications, error) {
	if err := d.ensure(ctx, notifyMigrations); err != nil {
		return nil, fmt.Errorf("notification store: %w", err)
	}
	return &Notifications{db: d.db, now: d.now}, nil
}

// Alerts is the store of High Severity Alerts, its table migrated on first
// use (alerts_migrations).
func (d *DB) Alerts(ctx context.Context) (*Alerts, error) {
	if err := d.ensure(ctx, alertMigrations); err != nil {
		return nil, fmt.Errorf("alert store: %w", err)
	}
	return &Alerts{d: d, db: d.db, now: d.now, inv: d.inv}, nil
}

// ensure applies a component's migrations once per DB.
func (d *DB) ensure(ctx context.Context, c component) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.migrated[c.table] {
		return nil
	}
	if d.checkOnly {
		if _, err := checkSchema(ctx, d.db, c); err != nil {
			return err
		}
		d.migrated[c.table] = true
		return nil
	}
	if _, err := migrate(ctx, d.db, c, d.now()); err != nil {
		return err
	}
	d.migrated[c.table] = true
	return nil
}

// Check verifies the whole database file: SQLite's integrity_check, or
// quick_check when quick (which skips matching indexes to their tables).
// It returns the problems found, none when the file is sound. A query only
// notices damage in the pages it reads, so a report can succeed over a file
// whose other pages are damaged: Check is how an operator finds out.
func (d *DB) Check(ctx context.Context, quick bool) ([]string, error) {
	pragma := "integrity_check(100)"
	if quick {
		pragma = "quick_check(100)"
	}
	rows, err := d.db.QueryContext(ctx, "PRAGMA "+pragma)
	if err != nil {
		return nil, fmt.Errorf("check database %s: %w", d.path, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, fmt.Errorf("check database %s: %w", d.path, err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check database %s: %w", d.path, err)
	}
	return problems, nil
}
