package postgres

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ringmaster-fleet/ringmaster/internal/sqlmigrate"
)

//go:embed migrations
var migrationFS embed.FS

// ErrSchemaTooNew reports a database written by a newer Ringmaster.
var ErrSchemaTooNew = sqlmigrate.ErrTooNew

// component is one store's schema with its own version.
type component struct {
	dir   string // under migrations/
	table string // where its applied versions are recorded
}

// components are the stores' schemas, in the order Open applies them.
var components = []component{{"plugins", "plugins_migrations"}, {"history", "report_migrations"},
	{"notifications", "notifications_migrations"},
	{"inventory", "inventory_migrations"},
	{"alerts", "alerts_migrations"},
	{"campaigns", "campaigns_migrations"},
	{"access", "access_migrations"},
}

// migrationLock is the advisory lock every node takes to migrate (any
// constant unlikely to be another application's: "ringmstr" in ASCII).
const migrationLock int64 = 0x72696e676d737472

// migrate applies a component's pending migrations in one transaction
// under the advisory lock, so that nodes starting at once apply each
// once; it returns the version the schema is at. It refuses a database
// whose schema is newer than the embedded migrations.
func migrate(ctx context.Context, pool *pgxpool.Pool, c component, now time.Time) (int, error) {
	ms, err := sqlmigrate.Load(migrationFS, "migrations/"+c.dir)
	if err != nil {
		return 0, err
	}
	var v int
	// Every start but the first finds the schema current: it reads, and
	// takes no lock.
	err = pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+c.table).Scan(&v)
	if err == nil && v == len(ms) {
		return v, nil
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("take the migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+c.table+` (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL)`); err != nil {
			return fmt.Errorf("create %s: %w", c.table, err)
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+c.table).Scan(&v); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if v > len(ms) {
			return fmt.Errorf("%w: the database is at schema version %d (%s), this ringmaster knows up to %d; use a newer ringmaster",
				ErrSchemaTooNew, v, c.table, len(ms))
		}
		for _, m := range ms[v:] {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply migration %s %04d_%s: %w", c.dir, m.Version, m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+c.table+` (version, name, applied_at) VALUES ($1, $2, $3)`, m.Version, m.Name, now); err != nil {
				return fmt.Errorf("record migration %s %04d_%s: %w", c.dir, m.Version, m.Name, err)
			}
			v = m.Version
		}
		return nil
	})
	return v, err
}
