package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/audit"
	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/credential"
	"github.com/ringmaster-fleet/ringmaster/credentials"
	"github.com/ringmaster-fleet/ringmaster/discovery"
	"github.com/ringmaster-fleet/ringmaster/estate"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/notify"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/report"
	"github.com/ringmaster-fleet/ringmaster/reports"
	"github.com/ringmaster-fleet/ringmaster/store/postgres"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
	"github.com/ringmaster-fleet/ringmaster/targets"
)

// Each store's type is its domain contract together with everything its
// consumers declare they take of it: what the wiring hands on, and what
// the conformance suites (store/storetest) hold every engine to.

// Inventory is the store of organisations, devices, their observed facts
// and labels, connection profiles, and the rollup reports read.
type Inventory interface {
	inventory.Store
	orchestrator.Inventory // the controller's reads
	campaigns.Inventory
	reports.Inventory
	estate.Store
	estate.Devices
	estate.Importer
	estate.DeviceStore
	discovery.Recorder
	targets.Organisations
	targets.Profiles
}

// Campaigns is the campaign store: the scheduler's, campaign commands'
// and read models', and reports'.
type Campaigns interface {
	orchestrator.Store
	campaigns.Store
	reports.Campaigns
	// StateCounts counts a campaign's devices per wave and state (the
	// benchmarks read it; reports count from Counts, which has each
	// device's organisation).
	StateCounts(ctx context.Context, name string) ([]orchestrator.StateCount, error)
}

// Alerts is the store of High Severity Alerts.
type Alerts interface {
	alerts.Store
	reports.Alerts
}

// History is the store of the reports' daily history.
type History interface {
	report.HistoryStore
	reports.History
	reports.Recorder
}

// Credentials is the store of sealed credentials.
type Credentials interface {
	credential.Store
	credentials.Store
	targets.Credentials
}

// Plugins is the registry of executor plugins.
type Plugins interface {
	host.Registry
	targets.Plugins
}

// Notifications is the store of notification subscriptions and their
// outbox.
type Notifications interface {
	notify.Store
}

// Nodes is the registry of scheduler nodes on the database.
type Nodes interface {
	orchestrator.Nodes
}

// Tokens is the store of API tokens.
type Tokens interface {
	access.TokenStore
}

// Audit is the audit trail: append and read, nothing else.
type Audit interface {
	audit.Store
}

// Options configure Open.
type Options struct {
	// Now is the clock; tests inject one. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// MaxAlertSource, if positive, is the longest stored alert that is
	// parsed: a longer one (stored before files were limited) is reported
	// by name instead.
	MaxAlertSource int64
}

// DB is one Ringmaster database and the stores over it, whichever engine
// holds it.
type DB interface {
	// Where names the database for people: the SQLite file's path, or
	// the PostgreSQL server and database without a password.
	Where() string
	Inventory() Inventory
	Credentials() Credentials
	Plugins() Plugins
	// The stores below are migrated on first use on SQLite (so that a
	// command reading only the inventory works on a file it may not
	// change); on PostgreSQL every store is migrated by Open.
	Campaigns(ctx context.Context) (Campaigns, error)
	Alerts(ctx context.Context) (Alerts, error)
	History(ctx context.Context) (History, error)
	Notifications(ctx context.Context) (Notifications, error)
	Nodes(ctx context.Context) (Nodes, error)
	Tokens(ctx context.Context) (Tokens, error)
	Audit(ctx context.Context) (Audit, error)
	Close() error
}

// IsPostgres reports whether where names a PostgreSQL database: a
// postgres:// or postgresql:// URL, or libpq's key=value settings
// ("host=db dbname=ringmaster sslmode=verify-full"), rather than an SQLite
// file. (Settings taken for a file's name would create a file named with
// the password.)
func IsPostgres(where string) bool {
	if strings.HasPrefix(where, "postgres://") || strings.HasPrefix(where, "postgresql://") {
		return true
	}
	fields := strings.Fields(where)
	for _, f := range fields {
		key, _, ok := strings.Cut(f, "=")
		if !ok || !libpqKeys[key] {
			return false
		}
	}
	return len(fields) > 0
}

// libpqKeys are libpq's connection settings that name a database or how
// to reach it.
var libpqKeys = map[string]bool{"host": true, "hostaddr": true, "port": true, "dbname": true, "user": true, "password": true,
	"passfile": true, "sslmode": true, "sslrootcert": true, "sslcert": true, "sslkey": true, "service": true,
	"connect_timeout": true, "application_name": true, "target_session_attrs": true, "pool_max_conns": true}

// Open opens the database where names: a postgres:// URL (or libpq's
// key=value settings, see IsPostgres) opens PostgreSQL (*Postgres),
// anything else is the path of an SQLite file, created if need be
// (*SQLite).
func Open(ctx context.Context, where string, opts Options) (DB, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if IsPostgres(where) {
		db, err := postgres.Open(ctx, where, postgres.Options{Now: opts.Now})
		if err != nil {
			return nil, err
		}
		db.Alerts().SetMaxSource(opts.MaxAlertSource)
		return &Postgres{db}, nil
	}
	if where == "" {
		return nil, errors.New("open database: no database named: give --db a file or a postgres:// URL")
	}
	db, err := sqlite.Open(ctx, where, sqlite.Options{Now: opts.Now, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	return &SQLite{DB: db, maxAlert: opts.MaxAlertSource}, nil
}

// SQLite is the embedded engine: one file, one node.
type SQLite struct {
	*sqlite.DB
	maxAlert int64
}

// Where is the file's path.
func (d *SQLite) Where() string { return d.Path() }

// Inventory is the store of organisations and devices.
func (d *SQLite) Inventory() Inventory { return d.DB.Inventory() }

// Credentials is the store of sealed credentials.
func (d *SQLite) Credentials() Credentials { return d.DB.Credentials() }

// Plugins is the registry of executor plugins.
func (d *SQLite) Plugins() Plugins { return d.DB.Plugins() }

// Campaigns is the campaign store.
func (d *SQLite) Campaigns(ctx context.Context) (Campaigns, error) {
	return either[Campaigns](d.DB.Campaigns(ctx))
}

// Alerts is the alert store.
func (d *SQLite) Alerts(ctx context.Context) (Alerts, error) {
	as, err := d.DB.Alerts(ctx)
	if err != nil {
		return nil, err
	}
	if d.maxAlert > 0 {
		as.SetMaxSource(d.maxAlert)
	}
	return as, nil
}

// History is the reports' daily history.
func (d *SQLite) History(ctx context.Context) (History, error) {
	return either[History](d.DB.History(ctx))
}

// Notifications is the store of subscriptions and their outbox.
func (d *SQLite) Notifications(ctx context.Context) (Notifications, error) {
	return either[Notifications](d.DB.Notifications(ctx))
}

// Nodes is the registry of scheduler nodes.
func (d *SQLite) Nodes(ctx context.Context) (Nodes, error) {
	return either[Nodes](d.DB.Nodes(ctx))
}

// Tokens is the store of API tokens.
func (d *SQLite) Tokens(ctx context.Context) (Tokens, error) {
	return either[Tokens](d.DB.Tokens(ctx))
}

// Audit is the audit trail.
func (d *SQLite) Audit(ctx context.Context) (Audit, error) {
	return either[Audit](d.DB.Audit(ctx))
}

// Postgres is the engine for an estate run by several nodes: one
// PostgreSQL database they share.
type Postgres struct {
	*postgres.DB
}

// Close closes the pools.
func (d *Postgres) Close() error {
	d.DB.Close()
	return nil
}

// Inventory is the store of organisations and devices.
func (d *Postgres) Inventory() Inventory { return d.DB.Inventory() }

// Credentials is the store of sealed credentials.
func (d *Postgres) Credentials() Credentials { return d.DB.Credentials() }

// Plugins is the registry of executor plugins.
func (d *Postgres) Plugins() Plugins { return d.DB.Plugins() }

// Campaigns is the campaign store.
func (d *Postgres) Campaigns(context.Context) (Campaigns, error) { return d.DB.Campaigns(), nil }

// Alerts is the alert store.
func (d *Postgres) Alerts(context.Context) (Alerts, error) { return d.DB.Alerts(), nil }

// History is the reports' daily history.
func (d *Postgres) History(context.Context) (History, error) { return d.DB.History(), nil }

// Notifications is the store of subscriptions and their outbox.
func (d *Postgres) Notifications(context.Context) (Notifications, error) {
	return d.DB.Notifications(), nil
}

// Nodes is the registry of scheduler nodes.
func (d *Postgres) Nodes(context.Context) (Nodes, error) {
	return d.DB.Nodes(), nil
}

// Tokens is the store of API tokens.
func (d *Postgres) Tokens(context.Context) (Tokens, error) { return d.DB.Tokens(), nil }

// Audit is the audit trail.
func (d *Postgres) Audit(context.Context) (Audit, error) { return d.DB.Audit(), nil }

// either returns an engine's store as the interface S, or its error (a
// nil store as a nil interface, never a typed nil).
func either[S any, T any](s T, err error) (S, error) {
	var none S
	if err != nil {
		return none, err
	}
	v, ok := any(s).(S)
	if !ok {
		return none, fmt.Errorf("store: %T is not a %T", s, &none)
	}
	return v, nil
}
