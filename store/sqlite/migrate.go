package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
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
	accessMigrations    = component{"access", "access_migrations"}
)

// Migration is one embedded schema change.
type Migration = sqlmigrate.Migration

// ErrSchemaTooNew reports a database written by a newer Ringmaster.
var ErrSchemaTooNew = sqlmigrate.ErrTooNew

// ErrSchemaOld reports a store's schema, in a file opened for reading
// only (Options.ReadOnly), older than this Ringmaster's or absent: opening
// the file for writing once with this version migrates it.
var ErrSchemaOld = errors.New("database schema is older than this ringmaster")

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

// checkSchema reads a component's schema version without writing: an
// older one (or none) is an error wrapping ErrSchemaOld, a newer one
// ErrSchemaTooNew.
func checkSchema(ctx context.Context, db *sql.DB, c component) (int, error) {
	ms, err := c.load()
	if err != nil {
		return 0, err
	}
	v, err := sqlmigrate.Current(ctx, db, c.table, len(ms))
	if err != nil {
		return v, err
	}
	if v < len(ms) {
		return v, fmt.Errorf("%w: the %s tables are at version %d (%s), this ringmaster's at %d", ErrSchemaOld, c.dir, v, c.table, len(ms))
	}
	return v, nil
}
