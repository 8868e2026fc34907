package sqlmigrate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/ringmaster-fleet/ringmaster/internal/sqlmigrate"
)

var migrations = []sqlmigrate.Migration{
	{Version: 1, Name: "devices", SQL: `CREATE TABLE devices (hostname TEXT PRIMARY KEY, org TEXT NOT NULL);
		CREATE INDEX devices_org ON devices (org);`},
	{Version: 2, Name: "sites", SQL: `ALTER TABLE devices ADD COLUMN site TEXT`},
	{Version: 3, Name: "notes", SQL: `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`},
}

// open opens path as a process would: its own pool of one connection that
// waits for a busy database, beginning transactions as txlock says. (The
// file is switched to WAL first, by newFile: two processes racing to
// switch a new file is the inventory store's to handle.)
func open(t *testing.T, path, txlock string) *sql.DB {
	t.Helper()
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)"
	if txlock != "" {
		dsn += "&_txlock=" + txlock
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// newFile makes an empty database file in WAL mode.
func newFile(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	db := open(t, path, "")
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode=WAL`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q, %v", mode, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConcurrentApply: two processes (two pools) migrating a fresh file at
// once both succeed, whether their transactions begin DEFERRED or
// IMMEDIATE, and each migration is applied once. (Reading the version
// outside the transaction that applied the next one failed with "table
// devices already exists".)
func TestConcurrentApply(t *testing.T) {
	for _, txlock := range []string{"", "immediate"} {
		t.Run("txlock="+txlock, func(t *testing.T) {
			for round := range 20 {
				path := newFile(t, fmt.Sprintf("r%d.db", round))
				dbs := []*sql.DB{open(t, path, txlock), open(t, path, txlock)}
				start := make(chan struct{})
				errs := make([]error, len(dbs))
				versions := make([]int, len(dbs))
				var wg sync.WaitGroup
				for i, db := range dbs {
					wg.Go(func() {
						<-start
						versions[i], errs[i] = sqlmigrate.Apply(context.Background(), db, "schema_migrations", migrations, "now")
					})
				}
				close(start)
				wg.Wait()
				for i, err := range errs {
					if err != nil || versions[i] != len(migrations) {
						t.Fatalf("round %d, process %d: version %d, %v", round, i, versions[i], err)
					}
				}
				var applied int
				if err := dbs[0].QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&applied); err != nil || applied != len(migrations) {
					t.Fatalf("round %d: %d migrations recorded (%v), want %d", round, applied, err, len(migrations))
				}
			}
		})
	}
}

// TestApplyRefusesNewer: a database migrated further than this program
// knows is refused, and left as it is.
func TestApplyRefusesNewer(t *testing.T) {
	db := open(t, newFile(t, "r.db"), "")
	ctx := context.Background()
	if _, err := sqlmigrate.Apply(ctx, db, "schema_migrations", migrations, "now"); err != nil {
		t.Fatal(err)
	}
	v, err := sqlmigrate.Apply(ctx, db, "schema_migrations", migrations[:2], "now")
	if !errors.Is(err, sqlmigrate.ErrTooNew) || v != 3 {
		t.Fatalf("version %d, err %v; want 3 and ErrTooNew", v, err)
	}
	if v, err := sqlmigrate.Apply(ctx, db, "schema_migrations", migrations, "now"); err != nil || v != 3 {
		t.Fatalf("again: version %d, err %v; want 3", v, err)
	}
}
