package sqlite

import (
	"context"
	"strings"
	"testing"
)

// TestHeadsQueryPlan holds PendingHeads' statement to its plan: the
// organisations' list scanned, a range of campaign_devices_group for each,
// each device found by id, nothing sorted or scanned whole.
func TestHeadsQueryPlan(t *testing.T) {
	ctx := context.Background()
	db := openInternal(t)
	if _, err := db.Campaigns(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := db.SQL().QueryContext(ctx, "EXPLAIN QUERY PLAN "+headsQuery, `["RXX","RYY"]`, "c", "pending", 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	p := strings.Join(plan, "; ")
	for _, want := range []string{"SEARCH d USING INTEGER PRIMARY KEY (rowid=?)",
		"SEARCH campaign_devices USING COVERING INDEX campaign_devices_group (campaign=? AND state=? AND wave=? AND org=?)"} {
		if !strings.Contains(p, want) {
			t.Errorf("plan %q lacks %q", p, want)
		}
	}
	if strings.Contains(p, "TEMP B-TREE") || strings.Contains(p, "SCAN d") || strings.Contains(p, "SCAN campaign_devices") {
		t.Errorf("plan %q sorts or scans a table", p)
	}
}
