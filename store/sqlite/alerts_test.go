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
	asqlite "github.com/ringmaster-fleet/ringmaster/alerts/sqlite"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	isqlite "github.com/ringmaster-fleet/ringmaster/inventory/sqlite"
)

var testNow = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

// open returns the inventory (with a few devices whose updates are known)
// and the alert store in one database, as the CLI opens them.
func open(t *testing.T) (*isqlite.Store, *asqlite.Store) {
	t.Helper()
	ctx := context.Background()
	inv, err := isqlite.Open(ctx, filepath.Join(t.TempDir(), "ringmaster.db"), isqlite.Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inv.Close() })
	csv := "hostname,org,os_build,kbs\n" +
		"a1.raa.nhs.uk,RAA,10.0.18363,KB4512508\n" +
		"a2.raa.nhs.uk,RAA,10.0.18363,KB4524570;KB5100042\n" +
		"a3.raa.nhs.uk,RAA,10.0.17763,KB4500000\n"
	r, err := format.NewCSVReader(strings.NewReader(csv), "inv.csv", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Import(ctx, r, isqlite.ImportOptions{ImportOptions: inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"}}); err != nil {
		t.Fatal(err)
	}
	as, err := asqlite.Open(ctx, inv.DB(), func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	return inv, as
}

func dejablue(t *testing.T) (*alerts.Alert, []byte) {
	t.Helper()
	data, err := os.ReadFile("../testdata/dejablue.yaml")
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

// watch is the CLI's way of adding an alert: its updates are watched in
// the transaction that stores it.
func watch(inv *isqlite.Store, a *alerts.Alert) asqlite.TxFunc {
	return func(ctx context.Context, tx *sql.Tx) error {
		_, err := inv.WatchKBsTx(ctx, tx, a.KBs())
		return err
	}
}

// watched returns the updates the inventory watches, and those in the
// rollup, sorted.
func watched(t *testing.T, inv *isqlite.Store) (kbs, inRollup []string) {
	t.Helper()
	for _, q := range []struct {
		sql string
		dst *[]string
	}{{`SELECT kb FROM watched_kbs ORDER BY kb`, &kbs}, {`SELECT DISTINCT watched_kbs FROM device_rollup ORDER BY 1`, &inRollup}} {
		rows, err := inv.DB().Query(q.sql)
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

// TestAddAppliesInTheSameTransaction checks that an alert is stored with
// its updates watched, or, when watching them fails, not at all.
func TestAddAppliesInTheSameTransaction(t *testing.T) {
	ctx := context.Background()
	inv, as := open(t)
	a, data := big(t)
	fail := errors.New("the rollup could not be updated")
	err := as.Add(ctx, a, data, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := inv.WatchKBsTx(ctx, tx, a.KBs()); err != nil {
			return err
		}
		return fail
	})
	if !errors.Is(err, fail) {
		t.Fatalf("add with a failing apply: %v", err)
	}
	if _, err := as.Get(ctx, a.ID); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("alert stored although applying it failed: %v", err)
	}
	if kbs, _ := watched(t, inv); len(kbs) != 0 {
		t.Fatalf("%d updates watched although the alert was not stored", len(kbs))
	}

	if err := as.Add(ctx, a, data, watch(inv, a)); err != nil {
		t.Fatal(err)
	}
	got, err := as.Get(ctx, a.ID)
	if err != nil || len(got.Satisfying("10.0.18363")) != 5000 {
		t.Fatalf("get: %v", err)
	}
	kbs, rollup := watched(t, inv)
	if len(kbs) != 5000 || !slices.Equal(rollup, []string{"", "KB5100042"}) {
		t.Fatalf("watched %d updates, rollup has %q", len(kbs), rollup)
	}
	if err := as.Add(ctx, a, data, watch(inv, a)); !errors.Is(err, errkind.Exists) {
		t.Fatalf("add again: %v", err)
	}
}

// TestRemove checks that removing an alert stops watching the updates
// only it named, in the same transaction, and that an unknown alert or a
// failure leaves everything as it was.
func TestRemove(t *testing.T) {
	ctx := context.Background()
	inv, as := open(t)
	retain := func(ctx context.Context, tx *sql.Tx, left asqlite.Remaining) error {
		_, err := inv.RetainWatchedKBsTx(ctx, tx, left.KBs)
		return err
	}
	d, ddata := dejablue(t)
	b, bdata := big(t)
	for _, x := range []struct {
		a    *alerts.Alert
		data []byte
	}{{d, ddata}, {b, bdata}} {
		if err := as.Add(ctx, x.a, x.data, watch(inv, x.a)); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name        string
		id          string
		apply       asqlite.RemoveFunc
		wantErr     error
		wantAlerts  []string
		wantWatched int
		wantRollup  []string
	}{
		{"unknown alert", "HSA-NOPE", retain, errkind.NotFound, []string{"HSA-2019-0042", "HSA-BIG"}, 5006, []string{"", "KB4512508", "KB4524570,KB5100042"}},
		{"apply fails", "HSA-BIG", func(context.Context, *sql.Tx, asqlite.Remaining) error { return os.ErrPermission }, os.ErrPermission,
			[]string{"HSA-2019-0042", "HSA-BIG"}, 5006, []string{"", "KB4512508", "KB4524570,KB5100042"}},
		{"remove", "HSA-BIG", retain, nil, []string{"HSA-2019-0042"}, 6, []string{"", "KB4512508", "KB4524570"}},
		{"again", "HSA-BIG", retain, errkind.NotFound, []string{"HSA-2019-0042"}, 6, []string{"", "KB4512508", "KB4524570"}},
		{"the last", "HSA-2019-0042", retain, nil, nil, 0, []string{""}},
	}
	for _, tt := range tests {
		err := as.Remove(ctx, tt.id, tt.apply)
		if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
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
		kbs, rollup := watched(t, inv)
		if !slices.Equal(ids, tt.wantAlerts) || len(kbs) != tt.wantWatched || !slices.Equal(rollup, tt.wantRollup) {
			t.Errorf("%s: alerts %v, %d watched, rollup %q; want %v, %d, %q", tt.name, ids, len(kbs), rollup, tt.wantAlerts, tt.wantWatched, tt.wantRollup)
		}
	}
}

// TestUnreadableAlert checks that an alert stored under laxer rules is
// named by the error of every read, and can be removed.
func TestUnreadableAlert(t *testing.T) {
	ctx := context.Background()
	inv, as := open(t)
	d, data := dejablue(t)
	if err := as.Add(ctx, d, data, watch(inv, d)); err != nil {
		t.Fatal(err)
	}
	// As an earlier version could store it: 1,001 builds.
	var src strings.Builder
	src.WriteString("id: HSA-OLD\ntitle: old\nissued: 2019-01-08\ndeadline: 2019-01-22\nremediation:\n")
	for i := range 1001 {
		fmt.Fprintf(&src, "  \"10.0.%d\": [KB4480966]\n", i)
	}
	if _, err := inv.DB().Exec(`INSERT INTO alerts (id, title, issued, deadline, file, source, added_at) VALUES ('HSA-OLD', 'old', '2019-01-08', '2019-01-22', 'old.yaml', ?, 0)`,
		src.String()); err != nil {
		t.Fatal(err)
	}
	var ue *asqlite.UnreadableError
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
	// Removing another alert tells the caller which remaining one could
	// not be read.
	err := as.Remove(ctx, d.ID, func(_ context.Context, _ *sql.Tx, left asqlite.Remaining) error {
		if !slices.Equal(left.Unreadable, []string{"HSA-OLD"}) || len(left.KBs) != 0 {
			return fmt.Errorf("remaining %+v", left)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := as.Remove(ctx, "HSA-OLD", nil); err != nil {
		t.Fatal(err)
	}
	if list, err := as.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("list after removing: %v %v", list, err)
	}
}
