package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/internal/inputfile"
	"github.com/ringmaster-fleet/ringmaster/notify"
	"github.com/ringmaster-fleet/ringmaster/orchestrator/scheduler"
	"github.com/ringmaster-fleet/ringmaster/plugins/registry"
	"github.com/ringmaster-fleet/ringmaster/reports"
	"github.com/ringmaster-fleet/ringmaster/server"
	"github.com/ringmaster-fleet/ringmaster/store"
	"github.com/ringmaster-fleet/ringmaster/store/dbcopy"
)

// The one place the CLI opens the database and builds the stores over it,
// and the application services over those.
// A command opens it on first use (--db, $RINGMASTER_DB, else
// ./ringmaster.db) and run closes it after the command.

// open opens the database, once per command.
func (a *app) open(ctx context.Context) (store.DB, error) {
	if a.db != nil {
		return a.db, nil
	}
	limit := a.fileLimit().Max
	if limit <= 0 {
		limit = inputfile.DefaultMax
	}
	db, err := store.Open(ctx, a.dbFile(), store.Options{Now: a.now, Logger: a.log, MaxAlertSource: limit})
	if err != nil {
		return nil, err
	}
	a.db = db
	return db, nil
}

// migrateAll opens the database and migrates every store's tables.
func (a *app) migrateAll(ctx context.Context) error {
	db, err := a.open(ctx)
	if err != nil {
		return err
	}
	if _, err := db.Campaigns(ctx); err != nil {
		return err
	}
	if _, err := db.Alerts(ctx); err != nil {
		return err
	}
	if _, err := db.History(ctx); err != nil {
		return err
	}
	if _, err := db.Notifications(ctx); err != nil {
		return err
	}
	_, err = db.Tokens(ctx) // the audit trail's tables too
	return err
}

// copyDB copies the SQLite file from into the PostgreSQL database to
// (db copy), opening both itself: the source for reading only.
func (a *app) copyDB(ctx context.Context, from, to string, progress func(string, int64)) (dbcopy.Report, error) {
	return dbcopy.Copy(ctx, from, to, dbcopy.Options{Now: a.now, Logger: a.log, Progress: progress})
}

// dbFile is the database: --db, else $RINGMASTER_DB, else
// ./ringmaster.db; a file's path, or a postgres:// URL.
func (a *app) dbFile() string {
	for _, path := range []string{a.dbPath, a.getenv("RINGMASTER_DB")} {
		if path != "" {
			return path
		}
	}
	return "ringmaster.db"
}

func (a *app) close() {
	if a.db != nil {
		if err := a.db.Close(); err != nil {
			a.log.Error("close database", "err", err)
		}
		a.db = nil
	}
}

// opened opens the database, once per command, and returns what get
// builds over it: one of its stores, each migrated on first use.
func opened[S any](ctx context.Context, a *app, get func(store.DB) (S, error)) (S, error) {
	db, err := a.open(ctx)
	if err != nil {
		var none S
		return none, err
	}
	return get(db)
}

// inventory is the store of organisations and devices.
func (a *app) inventory(ctx context.Context) (store.Inventory, error) {
	return opened(ctx, a, func(db store.DB) (store.Inventory, error) { return db.Inventory(), nil })
}

// credentials is the store of sealed credentials.
func (a *app) credentials(ctx context.Context) (store.Credentials, error) {
	return opened(ctx, a, func(db store.DB) (store.Credentials, error) { return db.Credentials(), nil })
}

// plugins is the registry of executor plugins.
func (a *app) plugins(ctx context.Context) (store.Plugins, error) {
	return opened(ctx, a, func(db store.DB) (store.Plugins, error) { return db.Plugins(), nil })
}

// campaigns is the campaign store.
func (a *app) campaigns(ctx context.Context) (store.Campaigns, error) {
	return opened(ctx, a, func(db store.DB) (store.Campaigns, error) { return db.Campaigns(ctx) })
}

// alerts is the alert store. A stored alert longer than the file limit is
// not parsed (one stored before files were limited): reading it fails with
// an error naming it.
func (a *app) alerts(ctx context.Context) (store.Alerts, error) {
	return opened(ctx, a, func(db store.DB) (store.Alerts, error) { return db.Alerts(ctx) })
}

// history is the reports' daily history.
func (a *app) history(ctx context.Context) (store.History, error) {
	return opened(ctx, a, func(db store.DB) (store.History, error) { return db.History(ctx) })
}

// notifications is the store of notification subscriptions and their
// outbox.
func (a *app) notifications(ctx context.Context) (store.Notifications, error) {
	return opened(ctx, a, func(db store.DB) (store.Notifications, error) { return db.Notifications(ctx) })
}

// jobs is where the scheduler's River keeps its jobs: the database's own
// (see scheduler.Jobs).
func (a *app) jobs(ctx context.Context) (scheduler.Jobs, error) {
	db, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	switch db := db.(type) {
	case *store.SQLite:
		listen, err := db.ListenSQL(ctx)
		if err != nil {
			return nil, err
		}
		return scheduler.SQLiteJobs(db.SQL(), listen), nil
	case *store.Postgres:
		return scheduler.PostgresJobs(db.QueuePool()), nil
	default:
		return nil, fmt.Errorf("the job queue cannot run on %s (a %T)", db.Where(), db)
	}
}

// The services the commands call, over those stores.

// campaignApp is the campaigns application over this database, resolving
// playbooks as the CLI does (a file, else a built-in by name).
func (a *app) campaignApp(ctx context.Context) (*campaigns.Service, error) {
	return a.campaignAppWith(ctx, a.playbookFiles().Source)
}

// campaignAppWith is the campaigns application resolving playbooks with pb.
func (a *app) campaignAppWith(ctx context.Context, pb campaigns.Playbooks) (*campaigns.Service, error) {
	s, err := a.campaigns(ctx)
	if err != nil {
		return nil, err
	}
	inv, err := a.inventory(ctx)
	if err != nil {
		return nil, err
	}
	as, err := a.alerts(ctx)
	if err != nil {
		return nil, err
	}
	db, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	nodes, err := db.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	return campaigns.New(campaigns.Config{Store: s, Inventory: inv, Alerts: as, Nodes: nodes, Playbooks: pb, Now: a.now}), nil
}

// reports builds the reports service over the database's stores.
func (a *app) reports(ctx context.Context) (*reports.Service, error) {
	inv, err := a.inventory(ctx)
	if err != nil {
		return nil, err
	}
	as, err := a.alerts(ctx)
	if err != nil {
		return nil, err
	}
	hs, err := a.history(ctx)
	if err != nil {
		return nil, err
	}
	cs, err := a.campaigns(ctx)
	if err != nil {
		return nil, err
	}
	return reports.New(reports.Config{Inventory: inv, Alerts: as, History: hs, Campaigns: cs, Now: a.now})
}

// snapshots configures the daily history's snapshotter, on the
// scheduler's clock when one is set (the demo's compressed time).
func (a *app) snapshots(ctx context.Context) (reports.SnapshotterConfig, error) {
	svc, err := a.reports(ctx)
	if err != nil {
		return reports.SnapshotterConfig{}, err
	}
	hs, err := a.history(ctx)
	if err != nil {
		return reports.SnapshotterConfig{}, err
	}
	var clock reports.Clock = nowClock(a.now)
	if a.clock != nil {
		clock = a.clock
	}
	return reports.SnapshotterConfig{Reports: svc, History: hs, Clock: clock, Logger: a.log}, nil
}

// notifier delivers notifications on the wall clock.
func (a *app) notifier(ctx context.Context) (*notify.Notifier, error) {
	store, err := a.notifications(ctx)
	if err != nil {
		return nil, err
	}
	return notify.New(notify.Config{Store: store, Logger: a.log,
		Webhook: &notify.Poster{Timeout: 10 * time.Second}, Email: &notify.Mailer{Timeout: 30 * time.Second, TLS: smtpTLS}})
}

// pluginRegistry is the plugin registry over this database; the built-in
// executors' names are taken.
func (a *app) pluginRegistry(ctx context.Context) (*registry.Registry, error) {
	s, err := a.plugins(ctx)
	if err != nil {
		return nil, err
	}
	return registry.New(registry.Config{Store: s, Builtins: slices.Sorted(maps.Keys(builtinExecutors)), Logger: a.log})
}

// issuer creates, lists and revokes API tokens on this database.
func (a *app) issuer(ctx context.Context) (access.Issuer, error) {
	db, err := a.open(ctx)
	if err != nil {
		return access.Issuer{}, err
	}
	ts, err := db.Tokens(ctx)
	if err != nil {
		return access.Issuer{}, err
	}
	return access.Issuer{Tokens: ts, Orgs: db.Inventory(), Now: a.now}, nil
}

// apiServer is the HTTP API over this database's stores and services, as
// cfg says what serve chose (its campaigns service, playbooks, metrics,
// River's web UI, upload limit).
func (a *app) apiServer(ctx context.Context, cfg server.Config) (*server.Server, error) {
	db, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	ts, err := db.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	trail, err := db.Audit(ctx)
	if err != nil {
		return nil, err
	}
	as, err := a.alerts(ctx)
	if err != nil {
		return nil, err
	}
	rs, err := a.reports(ctx)
	if err != nil {
		return nil, err
	}
	cfg.Tokens, cfg.Audit, cfg.Inventory, cfg.Alerts, cfg.Reports = ts, trail, db.Inventory(), as, rs
	cfg.Now, cfg.Log, cfg.Version = a.now, a.log, version
	return server.New(cfg)
}
