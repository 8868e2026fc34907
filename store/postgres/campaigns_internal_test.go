package postgres

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ringmaster-fleet/ringmaster/internal/pgtest"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// campaignSize is the campaign TestCampaignsReadFromIndexes creates:
// RINGMASTER_BENCH_DEVICES (a national one is 1,180,000), else 30,000.
func campaignSize(t *testing.T) int {
	if s := os.Getenv("RINGMASTER_BENCH_DEVICES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("RINGMASTER_BENCH_DEVICES: %v", err)
		}
		return n
	}
	return 30_000
}

// TestCampaignsReadFromIndexes creates a campaign of 300 organisations
// (with COPY), moves some of its devices, and checks that what the
// controller and the listings read by page comes from an index, never a
// scan of the campaign's devices: the pending page, the heads of every
// organisation, a page of devices by state, the running devices of Due
// and Orphans, and a page of its transitions (from
// campaign_transitions_campaign, each device by its key). It logs how
// long the create and each read took.
func TestCampaignsReadFromIndexes(t *testing.T) {
	ctx := context.Background()
	n := campaignSize(t)
	db, err := Open(ctx, pgtest.URL(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	s := db.Campaigns()
	var orgs []string
	for i := range 300 {
		orgs = append(orgs, fmt.Sprintf("R%03d", i))
	}
	members := func(yield func(orchestrator.Member) bool) {
		for i := range n {
			org := orgs[i%len(orgs)]
			m := orchestrator.Member{Hostname: fmt.Sprintf("pc%07d.%s.nhs.uk", i, strings.ToLower(org)), Org: org,
				Site: fmt.Sprintf("%s-s%d", org, i%7), Wave: min(2, i*3/n), Order: i}
			if !yield(m) {
				return
			}
		}
	}
	began := time.Now()
	c := orchestrator.Campaign{Name: "national", SpecFile: "n.yaml", Spec: "name: national", PlaybookFile: "p.yaml", Playbook: "name: p"}
	if err := s.Create(ctx, c, []string{"pilot", "early", "rest"}, members); err != nil {
		t.Fatal(err)
	}
	t.Logf("created a campaign of %d devices in %s", n, time.Since(began).Round(time.Millisecond))
	if _, err := s.ChangeStatus(ctx, "national", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	// Some devices run, some fail.
	heads, err := s.PendingHeads(ctx, "national", 0, orgs, 2)
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for i, h := range heads {
		if len(h) != min(2, n/len(orgs)) {
			t.Fatalf("%s: %d heads", orgs[i], len(h))
		}
		for _, m := range h {
			hosts = append(hosts, m.Hostname)
		}
	}
	cur, _ := s.Campaign(ctx, "national")
	ds, err := s.Apply(ctx, "national", cur.Seq, orchestrator.Plan{Dispatch: hosts}, time.Now(), "controller", nil)
	if err != nil || len(ds) != len(hosts) {
		t.Fatalf("dispatched %d of %d: %v", len(ds), len(hosts), err)
	}
	for i, d := range ds {
		if _, err := s.Begin(ctx, "national", d.Hostname, d.Generation, time.Now(), time.Hour); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := s.Finish(ctx, "national", d.Hostname, d.Generation, orchestrator.DeviceFailed, "rolled_back:0xC1900101", "", time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := db.Pool().Exec(ctx, `ANALYZE campaign_devices, campaign_transitions`); err != nil {
		t.Fatal(err)
	}

	devQ, devArgs := devicesQuery("national", orchestrator.DeviceFilter{State: orchestrator.DeviceFailed}, -1, 50)
	for _, tc := range []struct {
		what  string
		sql   string
		args  []any
		index string // the index it must read, when it is not campaign_devices'
	}{
		{"pending page", pendingQuery, []any{"national", "pending", 1, "R007", 100, 50}, ""},
		{"pending heads", headsQuery, []any{orgs, "national", "pending", 1, 20}, ""},
		{"failed devices page", devQ, devArgs, ""},
		{"orphans", orphansQuery, []any{"national", time.Now()}, ""},
		{"due", dueQuery, []any{[]string{"running", "paused"}, time.Now(), time.Now()}, ""},
		{"transitions page", transitionsAfterQuery, []any{"national", 100, int64(1) << 62, nil, 50}, "campaign_transitions_campaign"},
		{"transitions page of two organisations", transitionsAfterQuery, []any{"national", 100, int64(1) << 62, []string{"R007", "R100"}, 50},
			"campaign_transitions_campaign"},
	} {
		// Generic plans, as a prepared statement gets after a few runs,
		// and custom ones.
		for _, generic := range []bool{false, true} {
			mode := "auto"
			if generic {
				mode = "force_generic_plan"
			}
			plan := explain(t, db, mode, tc.sql, tc.args)
			if strings.Contains(plan, "Seq Scan on campaign_devices") || !strings.Contains(plan, "Index") {
				t.Errorf("%s (%s) scans the campaign's devices:\n%s", tc.what, mode, plan)
			}
			if tc.index != "" && (strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "Sort") ||
				!strings.Contains(plan, "Index Scan using "+tc.index)) {
				t.Errorf("%s (%s) does not read a range of %s, in order:\n%s", tc.what, mode, tc.index, plan)
			}
		}
		began := time.Now()
		rows, err := db.Pool().Query(ctx, tc.sql, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for rows.Next() {
			got++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d rows in %s", tc.what, got, time.Since(began).Round(time.Microsecond))
	}
	began = time.Now()
	counts, err := s.Counts(ctx, "national")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, c := range counts {
		total += c.Devices
	}
	if total != n {
		t.Fatalf("counts sum to %d, want %d", total, n)
	}
	t.Logf("counts: %d rows in %s", len(counts), time.Since(began).Round(time.Microsecond))
}

// explain is the plan PostgreSQL chooses for sql as a prepared
// statement run with args, in plan_cache_mode mode, as text.
func explain(t *testing.T, db *DB, mode, sql string, args []any) string {
	t.Helper()
	ctx := context.Background()
	var lines []string
	err := pgx.BeginFunc(ctx, db.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = `+mode); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `PREPARE explained AS `+sql); err != nil {
			return err
		}
		defer tx.Exec(ctx, `DEALLOCATE explained`)
		lits := make([]string, len(args))
		for i, a := range args {
			lits[i] = literal(a)
		}
		rows, _ := tx.Query(ctx, `EXPLAIN EXECUTE explained (`+strings.Join(lits, ", ")+`)`)
		var err error
		lines, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatalf("explain %s: %v", sql, err)
	}
	return strings.Join(lines, "\n")
}

// literal is a as an SQL literal, for the arguments of an EXECUTE.
func literal(a any) string {
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	switch v := a.(type) {
	case nil:
		return "NULL"
	case string:
		return quote(v)
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = quote(s)
		}
		return "ARRAY[" + strings.Join(q, ", ") + "]::text[]"
	case time.Time:
		return quote(v.UTC().Format(time.RFC3339Nano)) + "::timestamptz"
	default:
		return fmt.Sprint(v)
	}
}
