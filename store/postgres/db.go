package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// Options configure Open.
type Options struct {
	// Now is the clock; tests inject one. Default time.Now.
	Now func() time.Time
	// MaxConns is the pool's size (default pgxpool's: the larger of 4 and
	// the number of CPUs).
	MaxConns int32
}

// DB is one PostgreSQL database and the stores over it.
type DB struct {
	pool  *pgxpool.Pool
	now   func() time.Time
	plugs *Plugins
	hist  *History
	notes *Notifications
	camps *Campaigns
}

// Open connects to the database at url (postgres://user:pass@host/db?...,
// or key=value settings as libpq takes them) and applies the pending
// migrations of every store.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's error quotes the URL, password included: say only what
		// is wrong with it.
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			return nil, fmt.Errorf("open database: the PostgreSQL URL does not parse: %w", pe.Unwrap())
		}
		return nil, errors.New("open database: the PostgreSQL URL does not parse")
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	// The stores' transactions are written for READ COMMITTED (a claim
	// skipping rows another node holds, migrations under a lock taken by
	// their first statement), whatever the server's default is.
	cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "read committed"
	if opts.Now == nil {
		opts.Now = time.Now
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", where(cfg), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open database %s: %w", where(cfg), err)
	}
	d := &DB{pool: pool, now: opts.Now}
	for _, c := range components {
		if _, err := migrate(ctx, pool, c, d.now()); err != nil {
			pool.Close()
			return nil, fmt.Errorf("open database %s: %w", where(cfg), err)
		}
	}
	d.plugs = &Plugins{pool: pool, now: d.now}
	d.hist = &History{pool: pool, now: d.now}
	d.notes = &Notifications{pool: pool, now: d.now}
	d.camps = &Campaigns{pool: pool, now: d.now}
	return d, nil
}

// where names a database for an error without its password.
func where(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// Close closes the pool.
func (d *DB) Close() { d.pool.Close() }

// Pool is the connection pool, for what shares the database without
// being a store here: the job queue (River's driver and migrations).
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

// Plugins is the registry of executor plugins.
func (d *DB) Plugins() *Plugins { return d.plugs }

// History is the reports' daily history.
func (d *DB) History() *History { return d.hist }

// Notifications is the store of notification subscriptions and their
// outbox.
func (d *DB) Notifications() *Notifications { return d.notes }

// Campaigns is the campaign store.
func (d *DB) Campaigns() *Campaigns { return d.camps }

// removeOne runs a DELETE of one record, what names it: none deleted is
// an error wrapping errkind.NotFound.
func removeOne(ctx context.Context, pool *pgxpool.Pool, what, sql string, args ...any) error {
	tag, err := pool.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("remove %s: %w", what, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", what, errkind.NotFound)
	}
	return nil
}
