package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
	"github.com/ringmaster-fleet/ringmaster/store/storetest"
)

// openDB opens a fresh database file on the suite's clock, closed when t
// ends.
func openDB(t *testing.T, now func() time.Time) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ringmaster.db"), sqlite.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openStores opens every store over one fresh database, as
// cmd/ringmaster's wiring does.
func openStores(t *testing.T, now func() time.Time) storetest.Stores {
	t.Helper()
	ctx := context.Background()
	db := openDB(t, now)
	c, err := db.Campaigns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, err := db.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := db.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.Notifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := db.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := db.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	trail, err := db.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return storetest.Stores{Inventory: db.Inventory(), Campaigns: c, Alerts: a, History: h, Credentials: db.Credentials(), Plugins: db.Plugins(),
		Notifications: n, Nodes: nodes, Tokens: tokens, Audit: trail}
}

// TestConformance runs every store's conformance suite against the SQLite
// engine.
func TestConformance(t *testing.T) {
	for _, suite := range []struct {
		name string
		run  func(*testing.T, storetest.Open)
	}{
		{"Inventory", storetest.Inventory},
		{"Campaigns", storetest.Campaigns},
		{"Alerts", storetest.Alerts},
		{"History", storetest.History},
		{"Credentials", storetest.Credentials},
		{"Plugins", storetest.Plugins},
		{"Notifications", storetest.Notifications},
		{"Nodes", storetest.Nodes},
		{"Tokens", storetest.Tokens},
		{"Audit", storetest.Audit},
	} {
		t.Run(suite.name, func(t *testing.T) { suite.run(t, openStores) })
	}
}
