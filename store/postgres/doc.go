// Package postgres is Ringmaster's PostgreSQL storage engine, for an
// estate run by several nodes (github.com/jackc/pgx/v5, one pool):
//
//	db, err := postgres.Open(ctx, "postgres://...", postgres.Options{Now: now, Logger: log})
//	db.Plugins()   *Plugins        the executor plugin registry (host.Registry)
//	db.Pool()      *pgxpool.Pool   for the job queue (River's riverpgxv5) only
//
// It is being built store by store against the same conformance suites
// the SQLite engine passes (store/storetest): the plugin registry passes
// its suite; the inventory, credentials, campaigns, alerts, history and
// notifications follow, and until they do nothing selects this engine.
//
// Each store's schema is versioned by migrations embedded under
// migrations/<store>/ and recorded in its own table (plugins_migrations
// ...). Open applies them, each store's in one transaction under an
// advisory lock, so nodes starting together apply each once; a database
// newer than the binary is refused (ErrSchemaTooNew). Times are stored as
// timestamptz (microseconds) and returned in UTC.
package postgres
