package sqlite_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/ringmaster-fleet/ringmaster/report"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

// TestHistoryKeepsTheDaysLatest records snapshots on two days, the second
// twice, and reads back one per day and organisation, the later one.
func TestHistoryKeepsTheDaysLatest(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "h.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := db.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d1 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	d2 := d1.AddDate(0, 0, 1)
	snap := func(day time.Time, org string, onTarget, compliant int, alerts ...string) report.Snapshot {
		sn := report.Snapshot{Day: day, Org: org, Devices: 10, OnTarget: onTarget, Supported: onTarget, Affected: map[string]int{}, Compliant: map[string]int{}}
		for _, a := range alerts {
			sn.Affected[a], sn.Compliant[a] = 8, compliant
		}
		return sn
	}
	for _, batch := range [][]report.Snapshot{
		{snap(d1, "RAA", 1, 0), snap(d1, "TOTAL", 1, 0)},
		{snap(d2, "RAA", 3, 2, "HSA-1", "HSA-2"), snap(d2, "TOTAL", 3, 2, "HSA-1", "HSA-2")},
		{snap(d2, "RAA", 5, 4, "HSA-1"), snap(d2, "TOTAL", 5, 4, "HSA-1")}, // later the same day
	} {
		if err := s.Record(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []report.Snapshot{snap(d1, "RAA", 1, 0), snap(d1, "TOTAL", 1, 0), snap(d2, "RAA", 5, 4, "HSA-1"), snap(d2, "TOTAL", 5, 4, "HSA-1")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("history\n got %+v\nwant %+v", got, want)
	}

	// Removing an alert forgets its figures, with the removal.
	if n, err := sqlite.ForgetAlert(ctx, db, "HSA-1"); err != nil || n != 2 {
		t.Fatalf("forget HSA-1: %d rows, %v", n, err)
	}
	if got, err = s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	want = []report.Snapshot{snap(d1, "RAA", 1, 0), snap(d1, "TOTAL", 1, 0), snap(d2, "RAA", 5, 4), snap(d2, "TOTAL", 5, 4)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("history after forgetting HSA-1\n got %+v\nwant %+v", got, want)
	}
}
