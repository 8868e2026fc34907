// Package postgres is Ringmaster's PostgreSQL storage engine, for an
// estate run by several nodes sharing one database (github.com/jackc/pgx/v5):
//
//	db, err := postgres.Open(ctx, "postgres://...", postgres.Options{Now: now})
//	db.Inventory()      *Inventory      organisations, devices, imports, the rollup (inventory.Store)
//	db.Credentials()    *Credentials    sealed credentials and the key's check value (credential.Store)
//	db.Plugins()        *Plugins        the executor plugin registry (host.Registry)
//	db.Campaigns()      *Campaigns      campaigns, waves, devices' runs (orchestrator.Store, campaigns.Store)
//	db.Alerts()         *Alerts         High Severity Alerts (alerts.Store)
//	db.History()        *History        the reports' daily snapshots (report.HistoryStore)
//	db.Notifications()  *Notifications  subscriptions and their outbox (notify.Store)
//	db.Tokens()         *Tokens         API tokens, their secrets' hashes only (access.TokenStore)
//	db.Audit()          *Audit          the audit trail, append-only (audit.Store)
//	db.QueuePool()      *pgxpool.Pool   the job queue's own pool (River's riverpgxv5)
//
// Every store passes the same conformance suites as the SQLite engine's
// (store/storetest).
//
// Several nodes write at once, so every store is written for it:
//   - The campaign store locks a device's row before it moves it, so two
//     nodes never dispatch or begin a device twice, and hands its pgx.Tx
//     to the scheduler's Enqueue (River's riverpgxv5 driver), so a
//     dispatch and its job commit together.
//   - The inventory's rollup is kept by statement triggers as signed
//     counts per key, folded by each writer without waiting for another
//     (see migrations/inventory), so observations from workers on several
//     nodes and imports running together keep it exact without contending
//     for a cohort's row.
//   - An import streams its devices with COPY into a temporary table and
//     writes them with one upsert, holding the stored devices it merges
//     into until it commits. Observations, labels and removals merge under
//     the devices' row locks, taken NOWAIT and tried again, so they never
//     deadlock with an import; changing the watched updates waits for the
//     device writes under way (an advisory lock they share).
//   - The notification outbox is claimed with FOR UPDATE SKIP LOCKED, so
//     several nodes deliver without sending an event twice.
//   - Audit entries are appended under an advisory lock held to the
//     commit, so they become visible in the order of their seq and a
//     reader paging by seq misses none; triggers refuse every UPDATE,
//     DELETE and TRUNCATE of the trail.
//
// The stores share one pool (Options.MaxConns); River has its own
// (QueuePool), so that its leader election never waits behind the stores.
//
// Each store's schema is versioned by migrations embedded under
// migrations/<store>/ and recorded in its own table (plugins_migrations,
// report_migrations, notifications_migrations, inventory_migrations, which
// holds the credentials' tables too, alerts_migrations,
// campaigns_migrations and access_migrations, the API tokens' and the
// audit trail's). Open applies them, each store's in one
// transaction under an advisory lock, so nodes starting together apply
// each once; a database newer than the binary is refused
// (ErrSchemaTooNew). Times are stored as timestamptz (microseconds) and
// returned in UTC; text is ordered by byte (COLLATE "C"), as SQLite
// orders it.
package postgres
