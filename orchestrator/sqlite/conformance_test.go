package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	invsqlite "github.com/ringmaster-fleet/ringmaster/inventory/sqlite"
	"github.com/ringmaster-fleet/ringmaster/orchestrator/sqlite"
	"github.com/ringmaster-fleet/ringmaster/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Campaigns(t, func(t *testing.T, now func() time.Time) storetest.CampaignStore {
		inv, err := invsqlite.Open(context.Background(), filepath.Join(t.TempDir(), "r.db"), invsqlite.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { inv.Close() })
		s, err := sqlite.Open(context.Background(), inv.DB(), now)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
