package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// Options configure Open.
type Options struct {
	// Now is the clock; tests inject one. Default time.Now.
	Now func() time.Time
	// MaxConns is the stores' pool's size: default the URL's
	// pool_max_conns, else 16 (enough for a node's control pass and
	// hundreds of workers' short writes; pgxpool's own default, the
	// number of CPUs, queued them).
	MaxConns int32
	// QueueConns is the size of the job queue's own pool (QueuePool),
	// default 10.
	QueueConns int32
}

// DB is one PostgreSQL database and the stores over it.
type DB struct {
	pool   *pgxpool.Pool
	queue  *pgxpool.Pool // River's, apart from the stores' (see QueuePool)
	where  string
	now    func() time.Time
	plugs  *Plugins
	hist   *History
	notes  *Notifications
	inv    *Inventory
	creds  *Credentials
	alert  *Alerts
	camps  *Campaigns
	tokens *Tokens
	audit  *Audit
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
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = 16
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
	d := &DB{pool: pool, where: where(cfg), now: opts.Now}
	for _, c := range components {
		if _, err := migrate(ctx, pool, c, d.now()); err != nil {
			pool.Close()
			return nil, fmt.Errorf("open database %s: %w", where(cfg), err)
		}
	}
	qcfg := cfg.Copy()
	qcfg.MaxConns = cmp.Or(opts.QueueConns, 10)
	if d.queue, err = pgxpool.NewWithConfig(ctx, qcfg); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open database %s: %w", where(cfg), err)
	}
	d.plugs = &Plugins{pool: pool, now: d.now}
	d.hist = &History{pool: pool, now: d.now}
	d.notes = &Notifications{pool: pool, now: d.now}
	d.inv = &Inventory{pool: pool, now: d.now}
	d.creds = &Credentials{pool: pool, now: d.now}
	d.alert = &Alerts{pool: pool, now: d.now}
	d.camps = &Campaigns{pool: pool, now: d.now}
	d.tokens = &Tokens{pool: pool}
	d.audit = &Audit{pool: pool}
	return d, nil
}

// where names a database for an error without its password.
func where(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// Close closes the pools.
func (d *DB) Close() {
	d.queue.Close()
	d.pool.Close()
}

// Where names the database for people: user, server and database, never
// the password.
func (d *DB) Where() string { return d.where }

// Pool is the stores' connection pool.
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

// QueuePool is a pool of its own for the job queue (River's driver and
// migrations): River's leader election, fetches and notifications never
// wait behind the stores' queries for a connection, which is how River
// sharing an exhausted pool loses its leader (riverqueue/river#695). Jobs
// are still inserted in the stores' transactions, on Pool.
func (d *DB) QueuePool() *pgxpool.Pool { return d.queue }

// Plugins is the registry of executor plugins.
func (d *DB) Plugins() *Plugins { return d.plugs }

// History is the reports' daily history.
func (d *DB) History() *History { return d.hist }

// Notifications is the store of notification subscriptions and their
// outbox.
func (d *DB) Notifications() *Notifications { return d.notes }

// Inventory is the store of organisations and devices.
func (d *DB) Inventory() *Inventory { return d.inv }

// Credentials is the store of sealed credentials.
func (d *DB) Credentials() *Credentials { return d.creds }

// Alerts is the store of High Severity Alerts.
func (d *DB) Alerts() *Alerts { return d.alert }

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
