// Package postgres is Ringmaster's PostgreSQL storage engine, for an
// estate run by several nodes (github.com/jackc/pgx/v5, one pool):
//
//	db, err := postgres.Open(ctx, "postgres://...", postgres.Options{Now: now})
//	db.Plugins()        *Plugins        the executor plugin registry (host.Registry)
//	db.History()        *History        the reports' daily snapshots (report.HistoryStore)
//	db.Notifications()  *Notifications  subscriptions and their outbox (notify.Store)
//	db.Inventory()      *Inventory      organisations, devices, imports, the rollup (inventory.Store)
//	db.Credentials()    *Credentials    sealed credentials and the key's check value (credential.Store)
//	db.Alerts()         *Alerts         High Severity Alerts (alerts.Store)
//	db.Pool()           *pgxpool.Pool   for the job queue (River's riverpgxv5) only
//
// It is being built store by store against the same conformance suites
// the SQLite engine passes (store/storetest): the plugin registry, the
// history, the notifications, the inventory, the credentials and the
// alerts pass their suites; the campaigns follow, and until they do
// nothing selects this engine. The notification outbox is claimed with
// FOR UPDATE SKIP LOCKED, so several nodes deliver without sending an
// event twice.
//
// The inventory's rollup is kept by statement triggers as signed counts
// per key, folded by each writer without waiting for another (see
// migrations/inventory), so observations from workers on several nodes
// and imports running together keep it exact without contending for a
// cohort's row. An import streams its devices with COPY into a temporary
// table and writes them with one upsert, holding the stored devices it
// merges into until it commits. Observations, labels and removals merge
// under the devices' row locks, taken NOWAIT and tried again, so they
// never deadlock with an import; changing the watched updates waits for
// the device writes under way (an advisory lock they share).
//
// Each store's schema is versioned by migrations embedded under
// migrations/<store>/ and recorded in its own table (plugins_migrations,
// report_migrations, notifications_migrations, inventory_migrations, which
// holds the credentials' tables too, and alerts_migrations). Open applies
// them, each store's in one transaction under an advisory lock, so nodes
// starting together apply each once; a database newer than the binary is
// refused (ErrSchemaTooNew). Times are stored as timestamptz (microseconds) and
// returned in UTC.
package postgres
