// Package postgres is Ringmaster's PostgreSQL storage engine, for an
// estate run by several nodes (github.com/jackc/pgx/v5, one pool):
//
//	db, err := postgres.Open(ctx, "postgres://...", postgres.Options{Now: now})
//	db.Plugins()        *Plugins        the executor plugin registry (host.Registry)
//	db.History()        *History        the reports' daily snapshots (report.HistoryStore)
//	db.Notifications()  *Notifications  subscriptions and their outbox (notify.Store)
//	db.Pool()           *pgxpool.Pool   for the job queue (River's riverpgxv5) only
//
// It is being built store by store against the same conformance suites
// the SQLite engine passes (store/storetest): the plugin registry, the
// history and the notifications pass their suites; the inventory,
// credentials, campaigns and alerts follow, and until they do nothing
// selects this engine. The notification outbox is claimed with FOR UPDATE
// SKIP LOCKED, so several nodes deliver without sending an event twice.
//
// Each store's schema is versioned by migrations embedded under
// migrations/<store>/ and recorded in its own table (plugins_migrations,
// report_migrations, notifications_migrations). Open applies them, each
// store's in one transaction under an advisory lock, so nodes starting
// together apply each once; a database newer than the binary is refused
// (ErrSchemaTooNew). Times are stored as timestamptz (microseconds) and
// returned in UTC.
package postgres
