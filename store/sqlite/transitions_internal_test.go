package sqlite

import (
	"context"
	"strings"
	"testing"
)

// TestTransitionsQueryPlan holds the reads of a campaign's transitions
// to their plans: TransitionsAfter's page (every organisation, or a
// list) is a range of campaign_transitions_campaign from the id after,
// in id order, each device found by its key; a device's transitions are
// a range of campaign_transitions_device. Nothing is sorted, and no
// table is scanned whole.
func TestTransitionsQueryPlan(t *testing.T) {
	ctx := context.Background()
	db := openInternal(t)
	if _, err := db.Campaigns(ctx); err != nil {
		t.Fatal(err)
	}
	device := "SEARCH d USING INDEX campaign_devices_hostname (campaign=? AND rank=? AND hostname=?)"
	for _, tc := range []struct {
		what  string
		query string
		args  []any
		want  []string
	}{
		{"every organisation", transitionsAfterQuery, []any{"c", 10, nil, nil, 50},
			[]string{"SEARCH t USING INDEX campaign_transitions_campaign (campaign=? AND id>?)", device}},
		{"two organisations", transitionsAfterQuery, []any{"c", 10, `["RXX","RYY"]`, `["RXX","RYY"]`, 50},
			[]string{"SEARCH t USING INDEX campaign_transitions_campaign (campaign=? AND id>?)", device}},
		{"a device's", `SELECT ` + transitionCols + ` FROM ` + transitionsJoin + ` WHERE t.campaign = ? AND t.hostname = ? ORDER BY t.id`,
			[]any{"c", "d1.rxx.nhs.uk"},
			[]string{"SEARCH t USING INDEX campaign_transitions_device (campaign=? AND hostname=?)", device}},
	} {
		rows, err := db.SQL().QueryContext(ctx, "EXPLAIN QUERY PLAN "+tc.query, tc.args...)
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
		for _, want := range tc.want {
			if !strings.Contains(p, want) {
				t.Errorf("%s: plan %q lacks %q", tc.what, p, want)
			}
		}
		if strings.Contains(p, "TEMP B-TREE") || strings.Contains(p, "SCAN t") || strings.Contains(p, "SCAN d") {
			t.Errorf("%s: plan %q sorts or scans a table", tc.what, p)
		}
	}
}
