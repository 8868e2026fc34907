package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/sqlmigrate"
)

// Each component's migrations live in migrations/<dir> and are recorded in
// their own table, as they were when each component had its own package:
// a database written by any earlier version opens unchanged.
//
//go:embed migrations
var migrationFS embed.FS

// component is one schema with its own version.
type component struct {
	dir   string // under migrations/
	table string // where its applied versions are recorded
}

var (
	inventoryMigrations = component{"inventory", "schema_migrations"}
	campaignMigrations  = component{"campaigns", "orchestrator_migrations"}
	alertMigrations     = component{"alerts", "alerts_migrations"}
	historyMigrations   = component{"history", "report_migrations"}
	notifyMigrations    = component{"notifications", "notifications_migrations"}
)

// Migration is one embedded schema change.
type Migration = sqlmigrate.Migration

// ErrSchemaTooNew reports a database written by a newer Ringmaster.
var ErrSchemaTooNew = sqlmigrate.ErrTooNew

// Migrations returns the inventory's embedded migrations (organisations,
// devices, credentials, plugins, the rollup) in version order. File names
// are NNNN_name.sql; versions must be 1, 2, 3 ... without gaps.
func Migrations() ([]Migration, error) { return inventoryMigrations.load() }

func (c component) load() ([]Migration, error) {
	return sqlmigrate.Load(migrationFS, "migrations/"+c.dir)
}

// migrate applies a component's pending migrations, each in its own
// transaction, and records them in its table. It refuses a database whose
// schema is newer than the embedded migrations.
func migrate(ctx context.Context, db *sql.DB, c component, now time.Time) (int, error) {
	ms, err := c.load()
	if err != nil {
		return 0, err
	}
	return sqlmigrate.Apply(ctx, db, c.table, ms, now.UTC().Format(time.RFC3339))
}
