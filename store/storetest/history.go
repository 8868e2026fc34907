package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/report"
)

// History runs the daily history's conformance suite. How removing an
// alert forgets its figures is in the Alerts suite.
func History(t *testing.T, open Open) {
	t.Run("KeepsTheDaysLatest", func(t *testing.T) { historyKeepsTheDaysLatest(t, open) })
	t.Run("RecordIsAtomic", func(t *testing.T) { historyRecordIsAtomic(t, open) })
	t.Run("Generation", func(t *testing.T) { historyGenerationChanges(t, open) })
}

var historyDay = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)

func snapshot(day time.Time, org string, onTarget, compliant int, alerts ...string) report.Snapshot {
	sn := report.Snapshot{Day: day, Org: org, Devices: 10, OnTarget: onTarget, Supported: onTarget, Affected: map[string]int{}, Compliant: map[string]int{}}
	for _, a := range alerts {
		sn.Affected[a], sn.Compliant[a] = 8, compliant
	}
	return sn
}

func loadHistory(t *testing.T, s HistoryStore) []report.Snapshot {
	t.Helper()
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func historyGeneration(t *testing.T, s HistoryStore) int64 {
	t.Helper()
	g, err := s.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// historyGenerationChanges: every recording changes the generation, even
// one that stores the same figures again; reading does not, nor does an
// empty batch or a cancelled one.
func historyGenerationChanges(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).History
	seen := map[int64]bool{historyGeneration(t, s): true}
	same := []report.Snapshot{snapshot(historyDay, "RAA", 1, 0, "HSA-1")}
	for i, batch := range [][]report.Snapshot{same, same, {snapshot(historyDay, "RAA", 2, 1)}, {snapshot(historyDay.AddDate(0, 0, 1), "RAB", 1, 1, "HSA-1")}} {
		if err := s.Record(ctx, batch); err != nil {
			t.Fatal(err)
		}
		g := historyGeneration(t, s)
		if seen[g] {
			t.Fatalf("recording batch %d left the generation at %d, seen before", i, g)
		}
		seen[g] = true
		loadHistory(t, s)
		if again := historyGeneration(t, s); again != g {
			t.Fatalf("reading the history changed its generation from %d to %d", g, again)
		}
	}
	g := historyGeneration(t, s)
	if err := s.Record(ctx, nil); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Record(cancelled, []report.Snapshot{snapshot(historyDay, "RAC", 1, 0)}); err == nil {
		t.Fatal("recording with a cancelled context succeeded")
	}
	if again := historyGeneration(t, s); again != g {
		t.Errorf("an empty and a cancelled recording changed the generation from %d to %d", g, again)
	}
}

// historyKeepsTheDaysLatest records snapshots on two days, the second
// twice, and in no order: one per day and organisation is read back, the
// later, by day then organisation, days as UTC midnights.
func historyKeepsTheDaysLatest(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).History
	if got := loadHistory(t, s); len(got) != 0 {
		t.Fatalf("a new history holds %+v", got)
	}
	d1, d2 := historyDay, historyDay.AddDate(0, 0, 1)
	for _, batch := range [][]report.Snapshot{
		{snapshot(d2, "TOTAL", 3, 2, "HSA-1", "HSA-2"), snapshot(d2, "RAA", 3, 2, "HSA-1", "HSA-2")},
		{snapshot(d1, "TOTAL", 1, 0), snapshot(d1, "RAA", 1, 0)},
		{snapshot(d2, "RAA", 5, 4, "HSA-1"), snapshot(d2, "TOTAL", 5, 4, "HSA-1")}, // later the same day
		nil,
	} {
		if err := s.Record(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	want := []report.Snapshot{snapshot(d1, "RAA", 1, 0), snapshot(d1, "TOTAL", 1, 0), snapshot(d2, "RAA", 5, 4, "HSA-1"), snapshot(d2, "TOTAL", 5, 4, "HSA-1")}
	got := loadHistory(t, s)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("history\n got %+v\nwant %+v", got, want)
	}
	for _, sn := range got {
		if !sameUTC(sn.Day, sn.Day.Truncate(24*time.Hour)) {
			t.Errorf("day %v is not a UTC midnight", sn.Day)
		}
	}
}

// historyRecordIsAtomic cancels recording a batch at every point it looks
// at its context: each time nothing of it is kept.
func historyRecordIsAtomic(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).History
	if err := s.Record(ctx, []report.Snapshot{snapshot(historyDay, "RAA", 1, 0, "HSA-1")}); err != nil {
		t.Fatal(err)
	}
	before := loadHistory(t, s)
	var batch []report.Snapshot
	for i := range 20 {
		batch = append(batch, snapshot(historyDay.AddDate(0, 0, i%3), fmt.Sprintf("R%02d", i), i, i, "HSA-1", "HSA-2"))
	}
	batch = append(batch, snapshot(historyDay, "RAA", 9, 9, "HSA-2"))
	looks := cancelAtEveryLook(t, func(c context.Context) error { return s.Record(c, batch) }, func(look int) {
		if got := loadHistory(t, s); !reflect.DeepEqual(got, before) {
			t.Fatalf("cancelled at look %d, the history kept part of the batch: %d snapshots", look, len(got))
		}
	})
	if looks < 3 {
		t.Fatalf("recorded after %d looks at its context: the test proves nothing", looks)
	}
	if got := loadHistory(t, s); len(got) != len(batch) {
		t.Fatalf("after recording, %d snapshots, want %d", len(got), len(batch))
	}
}
