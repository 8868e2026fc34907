package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

// TestDevicePageUsesIndex: a page of a campaign's devices, by state or
// not, is a range scan of an index in dispatch order, never a scan of the
// table or a sort of every member (a campaign may hold a million).
func TestDevicePageUsesIndex(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "r.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Campaigns(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ where, index string }{
		{"campaign = 'c' AND ord > 10 AND state = 'failed'", "campaign_devices_state"},
		{"campaign = 'c' AND ord > 10", "campaign_devices_ord"},
	} {
		rows, err := db.SQL().QueryContext(ctx, "EXPLAIN QUERY PLAN SELECT hostname FROM campaign_devices WHERE "+tc.where+" ORDER BY ord LIMIT 100")
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ")
		if !strings.Contains(p, "USING INDEX "+tc.index) || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%s: plan %q, want a range of %s and no sort", tc.where, p, tc.index)
		}
	}
}
