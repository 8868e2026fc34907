package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/report"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

// openAlerts returns the database, its inventory (with a few devices whose
// updates are known) and its alert store, as the CLI opens them.
func openAlerts(t *testing.T) (*sqlite.DB, *sqlite.Alerts) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ringmaster.db"), sqlite.Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	inv := db.Inventory()
	csv := "hostname,org,os_build,kbs\n" +
		"a1.raa.nhs.uk,RAA,10.0.18363,KB4512508\n" +
		"a2.raa.nhs.uk,RAA,10.0.18363,KB4524570;KB5100042\n" +
		"a3.raa.nhs.uk,RAA,10.0.17763,KB4500000\n"
	r, err := format.NewCSVReader(strings.NewReader(csv), "inv.csv", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Import(ctx, r, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	as, err := db.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return db, as
}

func dejablue(t *testing.T) (*alerts.Alert, []byte) {
	t.Helper()
	data, err := os.ReadFile("../../alerts/testdata/dejablue.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, err := alerts.Parse("dejablue.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return a, data
}

// big is an alert naming 5,000 updates for one build.
func big(t *testing.T) (*alerts.Alert, []byte) {
	t.Helper()
	kbs := make([]string, 5000)
	for i := range kbs {
		kbs[i] = fmt.Sprintf("KB51%05d", i)
	}
	data := []byte("id: HSA-BIG\ntitle: big\nissued: 2020-01-14\ndeadline: 2020-01-28\nremediation:\n  \"10.0.18363\": [" + strings.Join(kbs, ", ") + "]\n")
	a, err := alerts.Parse("big.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return a, data
}

// failing makes every statement op (INSERT, DELETE) on table fail, until
// the function it returns is called.
func failing(t *testing.T, db *sql.DB, table, op string) func() {
	t.Helper()
	if _, err := db.Exec(`CREATE TRIGGER failing BEFORE ` + op + ` ON ` + table + ` BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := db.Exec(`DROP TRIGGER failing`); err != nil {
			t.Fatal(err)
		}
	}
}

// watched returns the updates the inventory watches, and those in the
// rollup, sorted.
func watched(t *testing.T, db *sqlite.DB) (kbs, inRollup []string) {
	t.Helper()
	for _, q := range []struct {
		sql string
		dst *[]string
	}{{`SELECT kb FROM watched_kbs ORDER BY kb`, &kbs}, {`SELECT DISTINCT watched_kbs FROM device_rollup ORDER BY 1`, &inRollup}} {
		rows, err := db.SQL().Query(q.sql)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			*q.dst = append(*q.dst, s)
		}
		rows.Close()
	}
	return kbs, inRollup
}

// TestAddWatchesInTheSameTransaction checks that an alert is stored with
// its updates watched, or, when watching them fails, not at all.
func TestAddWatchesInTheSameTransaction(t *testing.T) {
	ctx := context.Background()
	db, as := openAlerts(t)
	a, data := big(t)
	restore := failing(t, db.SQL(), "watched_kbs", "INSERT")
	err := as.Add(ctx, a, data)
	if err == nil || !strings.Contains(err.Error(), "refused by the test") || !strings.Contains(err.Error(), a.ID) {
		t.Fatalf("add while watching fails: %v", err)
	}
	restore()
	if _, err := as.Get(ctx, a.ID); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("alert stored although watching its updates failed: %v", err)
	}
	if kbs, _ := watched(t, db); len(kbs) != 0 {
		t.Fatalf("%d updates watched although the alert was not stored", len(kbs))
	}

	if err := as.Add(ctx, a, data); err != nil {
		t.Fatal(err)
	}
	got, err := as.Get(ctx, a.ID)
	if err != nil || len(got.Satisfying("10.0.18363")) != 5000 {
		t.Fatalf("get: %v", err)
	}
	kbs, rollup := watched(t, db)
	if len(kbs) != 5000 || !slices.Equal(rollup, []string{"", "KB5100042"}) {
		t.Fatalf("watched %d updates, rollup has %q", len(kbs), rollup)
	}
	if err := as.Add(ctx, a, data); !errors.Is(err, errkind.Exists) {
		t.Fatalf("add again: %v", err)
	}
}

// TestRemoveAlert checks that removing an alert stops watching the updates
// only it named and forgets its daily figures, in the same transaction,
// and that an unknown alert or a failure leaves everything as it was.
func TestRemoveAlert(t *testing.T) {
	ctx := context.Background()
	db, as := openAlerts(t)
	d, ddata := dejablue(t)
	b, bdata := big(t)
	for _, x := range []struct {
		a    *alerts.Alert
		data []byte
	}{{d, ddata}, {b, bdata}} {
		if err := as.Add(ctx, x.a, x.data); err != nil {
			t.Fatal(err)
		}
	}
	h, err := db.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	if err := h.Record(ctx, []report.Snapshot{{Day: day, Org: "RAA", Devices: 3,
		Affected: map[string]int{d.ID: 2, b.ID: 1}, Compliant: map[string]int{d.ID: 1, b.ID: 0}}}); err != nil {
		t.Fatal(err)
	}
	figures := func() []string {
		snaps, err := h.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, sn := range snaps {
			for id := range sn.Affected {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		return ids
	}

	tests := []struct {
		name        string
		id          string
		fail        string // table whose DELETE fails
		wantErr     error
		wantAlerts  []string
		wantWatched int
		wantRollup  []string
	}{
		{"unknown alert", "HSA-NOPE", "", errkind.NotFound, []string{"HSA-2019-0042", "HSA-BIG"}, 5006, []string{"", "KB4512508", "KB4524570,KB5100042"}},
		{"unwatching fails", "HSA-BIG", "watched_kbs", nil,
			[]string{"HSA-2019-0042", "HSA-BIG"}, 5006, []string{"", "KB4512508", "KB4524570,KB5100042"}},
		{"forgetting fails", "HSA-BIG", "report_history_alerts", nil,
			[]string{"HSA-2019-0042", "HSA-BIG"}, 5006, []string{"", "KB4512508", "KB4524570,KB5100042"}},
		{"remove", "HSA-BIG", "", nil, []string{"HSA-2019-0042"}, 6, []string{"", "KB4512508", "KB4524570"}},
		{"again", "HSA-BIG", "", errkind.NotFound, []string{"HSA-2019-0042"}, 6, []string{"", "KB4512508", "KB4524570"}},
		{"the last", "HSA-2019-0042", "", nil, nil, 0, []string{""}},
	}
	for _, tt := range tests {
		restore := func() {}
		if tt.fail != "" {
			restore = failing(t, db.SQL(), tt.fail, "DELETE")
		}
		err := as.Remove(ctx, tt.id)
		restore()
		switch {
		case tt.fail != "":
			if err == nil || !strings.Contains(err.Error(), "refused by the test") {
				t.Fatalf("%s: %v, want the failure", tt.name, err)
			}
		case !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil):
			t.Fatalf("%s: %v, want %v", tt.name, err, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), tt.id) {
			t.Errorf("%s: error does not name the alert: %v", tt.name, err)
		}
		list, err := as.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range list {
			ids = append(ids, a.ID)
		}
		kbs, rollup := watched(t, db)
		if !slices.Equal(ids, tt.wantAlerts) || len(kbs) != tt.wantWatched || !slices.Equal(rollup, tt.wantRollup) {
			t.Errorf("%s: alerts %v, %d watched, rollup %q; want %v, %d, %q", tt.name, ids, len(kbs), rollup, tt.wantAlerts, tt.wantWatched, tt.wantRollup)
		}
		if got := figures(); !slices.Equal(got, tt.wantAlerts) {
			t.Errorf("%s: daily figures of %v, want %v", tt.name, got, tt.wantAlerts)
		}
	}
}

// TestUnreadableAlert checks that an alert stored under laxer rules is
// named by the error of every read, that while it is stored removing
// another keeps every update watched (those it names are unknown), and
// that it can be removed.
func TestUnreadableAlert(t *testing.T) {
	ctx := context.Background()
	db, as := openAlerts(t)
	d, data := dejablue(t)
	if err := as.Add(ctx, d, data); err != nil {
		t.Fatal(err)
	}
	// As an earlier version could store it: 1,001 builds.
	var src strings.Builder
	src.WriteString("id: HSA-OLD\ntitle: old\nissued: 2019-01-08\ndeadline: 2019-01-22\nremediation:\n")
	for i := range 1001 {
		fmt.Fprintf(&src, "  \"10.0.%d\": [KB4480966]\n", i)
	}
	if _, err := db.SQL().Exec(`INSERT INTO alerts (id, title, issued, deadline, file, source, added_at) VALUES ('HSA-OLD', 'old', '2019-01-08', '2019-01-22', 'old.yaml', ?, 0)`,
		src.String()); err != nil {
		t.Fatal(err)
	}
	var ue *alerts.UnreadableError
	if _, err := as.List(ctx); !errors.As(err, &ue) || ue.ID != "HSA-OLD" || !strings.Contains(err.Error(), "1001 builds") {
		t.Fatalf("list: %v", err)
	}
	if _, err := as.Get(ctx, "HSA-OLD"); !errors.As(err, &ue) {
		t.Fatalf("get: %v", err)
	}
	as.SetMaxSource(1000)
	if _, err := as.Get(ctx, "HSA-OLD"); !errors.As(err, &ue) || !strings.Contains(err.Error(), "over the limit of 1000") {
		t.Fatalf("get over the size limit: %v", err)
	}
	as.SetMaxSource(0)
	before, _ := watched(t, db)
	if err := as.Remove(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if after, _ := watched(t, db); len(before) == 0 || !slices.Equal(after, before) {
		t.Fatalf("removing an alert while another is unreadable: watched %v, then %v; want unchanged", before, after)
	}
	if err := as.Remove(ctx, "HSA-OLD"); err != nil {
		t.Fatal(err)
	}
	if list, err := as.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("list after removing: %v %v", list, err)
	}
	if after, _ := watched(t, db); len(after) != 0 {
		t.Fatalf("watched %v after removing every alert", after)
	}
}
