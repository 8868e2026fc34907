package sqlite

import (
	"context"
	"database/sql"
	"embed"

	"github.com/ringmaster-fleet/ringmaster/internal/sqlmigrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migration is one embedded schema change.
type Migration = sqlmigrate.Migration

// ErrSchemaTooNew reports a database written by a newer Ringmaster.
var ErrSchemaTooNew = sqlmigrate.ErrTooNew

// Migrations returns the embedded migrations in version order. File names
// are NNNN_name.sql; versions must be 1, 2, 3 ... without gaps.
func Migrations() ([]Migration, error) { return sqlmigrate.Load(migrationFS, "migrations") }

// migrate applies pending migrations, each in its own transaction, and
// records them in schema_migrations. It refuses a database whose schema is
// newer than the embedded migrations.
func migrate(ctx context.Context, db *sql.DB, now string) (int, error) {
	ms, err := Migrations()
	if err != nil {
		return 0, err
	}
	return sqlmigrate.Apply(ctx, db, "schema_migrations", ms, now)
}
