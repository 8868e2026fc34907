package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

// TestDevicePageUsesIndex: a page of a campaign's devices (the pending
// ones the controller reads, a listing by state, a listing of all) is a
// range scan in dispatch order, of campaign_devices_group per wave and
// organisation or of the table's own row ids, never a scan of the table
// or a sort of every member (a campaign may hold a million).
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
		{"campaign = 'c' AND state = 'failed' AND wave = 1 AND org = 'RXX' AND ord > 10 ORDER BY ord", "campaign_devices_group"},
		{"campaign = 'c' AND state = 'pending' AND wave = 0 AND org = 'RXX' AND ord > 10 AND reason = 'x' ORDER BY ord", "campaign_devices_group"},
		{"campaign = 'c' AND rank = 5 AND hostname = 'x'", "campaign_devices_hostname (campaign=? AND rank=? AND hostname=?)"},
		{"campaign = 'c' AND +state = 'pending' AND (rank, hostname) IN (VALUES (1, 'a'), (2, 'b'))", "campaign_devices_hostname (campaign=? AND rank=? AND hostname=?)"},
		{"campaign = 'c' AND rank = 5 AND hostname = 'x' AND generation = 1 AND state = 'running'", "campaign_devices_hostname (campaign=? AND rank=? AND hostname=?)"},
		{"id > (SELECT num << 32 FROM campaigns WHERE name = 'c') + 10 AND id < (SELECT (num + 1) << 32 FROM campaigns WHERE name = 'c') ORDER BY id",
			"INTEGER PRIMARY KEY (rowid>? AND rowid<?)"},
	} {
		rows, err := db.SQL().QueryContext(ctx, "EXPLAIN QUERY PLAN SELECT hostname FROM campaign_devices WHERE "+tc.where+" LIMIT 100")
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
		if !strings.Contains(p, "INDEX "+tc.index) && !strings.Contains(p, "USING "+tc.index) || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%s: plan %q, want a range of %s and no sort", tc.where, p, tc.index)
		}
	}
}
