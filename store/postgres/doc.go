// Package postgres is Ringmaster's PostgreSQL storage engine, for an
// estate run by several nodes (github.com/jackc/pgx/v5, one pool):
//
//	db, err := postgres.Open(ctx, "postgres://...", postgres.Options{Now: now})
//	db.Plugins()        *Plugins        the executor plugin registry (host.Registry)
//	db.History()        *History        the reports' daily snapshots (report.HistoryStore)
//	db.Notifications()  *Notifications  subscriptions and their outbox (notify.Store)
//	db.Campaigns()      *Campaigns      campaigns, waves, devices' runs (orchestrator.Store, campaigns.Store)
//	db.Pool()           *pgxpool.Pool   for the job queue (River's riverpgxv5) only
//
// It is being built store by store against the same conformance suites
// the SQLite engine passes (store/storetest): the plugin registry, the
// history, the notifications and the campaigns pass their suites; the
// inventory, credentials and alerts follow, and until they do nothing
// selects this engine. The notification outbox is claimed with FOR UPDATE
// SKIP LOCKED, so several nodes deliver without sending an event twice.
// The campaign store locks a device's row before it moves it, so two
// nodes never dispatch or begin a device twice, and hands its pgx.Tx to
// the scheduler's Enqueue (River's riverpgxv5 driver), so a dispatch and
// its job commit together.
//
// Each store's schema is versioned by migrations embedded under
// migrations/<store>/ and recorded in its own table (plugins_migrations,
// report_migrations, notifications_migrations, campaigns_migrations).
// Open applies them, each store's in one transaction under an advisory
// lock, so nodes starting together apply each once; a database newer than the binary is refused
// (ErrSchemaTooNew). Times are stored as timestamptz (microseconds) and
// returned in UTC.
package postgres
