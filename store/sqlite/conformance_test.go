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

// TestConformance runs every store's conformance suite against the SQLite
// engine.
func TestConformance(t *testing.T) {
	t.Run("Campaigns", func(t *testing.T) {
		storetest.Campaigns(t, func(t *testing.T, now func() time.Time) storetest.CampaignStore {
			s, err := openDB(t, now).Campaigns(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
}
