// Package sqlite is Ringmaster's embedded storage engine: one SQLite
// database file (modernc.org/sqlite, pure Go, no cgo) in WAL mode with
// foreign keys on, one connection (SQLite has one writer; River on SQLite
// wants the same), and every store over it:
//
//	db, err := sqlite.Open(ctx, path, sqlite.Options{Now: now, Logger: log})
//	db.Inventory()      *Inventory    organisations, devices, imports, the rollup (inventory.Store)
//	db.Credentials()    *Credentials  sealed credentials and the key check (credential.Store)
//	db.Plugins()        *Plugins      the executor plugin registry (host.Registry)
//	db.Campaigns(ctx)   *Campaigns    campaigns and device runs (orchestrator.Store and more)
//	db.Alerts(ctx)      *Alerts       High Severity Alerts (alerts.Store)
//	db.History(ctx)     *History      the reports' daily snapshots (report.HistoryStore)
//	db.Tokens(ctx)      *Tokens       API tokens, their secrets' hashes only (access.TokenStore)
//	db.Audit(ctx)       *Audit        the audit trail, append-only (audit.Store)
//	db.SQL()            *sql.DB       for the job queue (River) only
//
// Each component's schema is versioned by migrations embedded under
// migrations/<component>/ and recorded in its own table, as when each had
// its own package: inventory in schema_migrations (applied by Open),
// campaigns in orchestrator_migrations, alerts in alerts_migrations,
// history in report_migrations, notifications in notifications_migrations
// and API tokens with the audit trail in access_migrations (applied by the
// first call for their store). The audit trail's triggers refuse every
// UPDATE and DELETE of it. A database newer than the binary is refused
// (ErrSchemaTooNew).
// On a read-only filesystem Open opens the file immutable, for reading.
//
// Because every store shares this package, what must change together
// does so in one transaction without a transaction crossing an API:
// Alerts.Add watches the alert's updates in the inventory's rollup, and
// Alerts.Remove stops watching them and forgets the alert's daily figures.
//
// It is the one place that maps SQLite's errors to errkind's (by extended
// result code, never by message) and the only package of its name in the
// module; only cmd/... and tests import it. The SQL is kept standard
// (BIGINT microsecond times, COALESCE, IN) so a PostgreSQL engine can
// follow; SQLite-specific pragmas and the bulk-load path are confined here.
package sqlite
