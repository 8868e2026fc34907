package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

var testNow = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

// testStore is a database and its inventory, as the inventory's tests
// use them.
type testStore struct {
	*sqlite.DB
	*sqlite.Inventory
}

func openStore(t *testing.T, path string) testStore {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "ringmaster.db")
	}
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return testStore{s, s.Inventory()}
}

func addOrg(t *testing.T, s testStore, code string) {
	t.Helper()
	if err := s.CreateOrganisation(context.Background(), &inventory.Organisation{Code: code, Name: code + " Trust", TimeZone: "Europe/London"}); err != nil {
		t.Fatal(err)
	}
}

// dump renders every row of every table, for comparing database content.
func dump(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b strings.Builder
	rows, err := db.Query(`SELECT type, name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var typ, name, ddl string
		if err := rows.Scan(&typ, &name, &ddl); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s %s\n", typ, name, ddl)
		if typ == "table" {
			tables = append(tables, name)
		}
	}
	rows.Close()
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM "` + table + `" ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %v\n", table, vals)
		}
		rows.Close()
	}
	return b.String()
}

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	ms, err := sqlite.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t, path)
	last := ms[len(ms)-1].Version
	if got := s.SchemaVersion(); got != last {
		t.Fatalf("schema version %d, want %d", got, last)
	}
	addOrg(t, s, "RXX")
	s.Close()

	// Reopening applies nothing and keeps the data.
	before := dump(t, path)
	s = openStore(t, path)
	s.Close()
	if after := dump(t, path); after != before {
		t.Fatalf("reopening changed the database:\n%s\nvs\n%s", before, after)
	}

	// A database from a newer ringmaster is refused, untouched.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future', 'x')`, last+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before = dump(t, path)
	_, err = sqlite.Open(context.Background(), path, sqlite.Options{})
	if !errors.Is(err, sqlite.ErrSchemaTooNew) {
		t.Fatalf("opening a newer schema: err = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("schema version %d", last+1)) {
		t.Errorf("error does not name the version: %v", err)
	}
	if after := dump(t, path); after != before {
		t.Fatal("refusing a newer schema changed the database")
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	_, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "no", "such", "r.db"), sqlite.Options{})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("err = %v, want a missing-directory error", err)
	}
}
