package dbcopy

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/report"
)

// TestSameJSON: a report section that differs is an ErrMismatch naming
// the section and showing both sides where they part.
func TestSameJSON(t *testing.T) {
	a := report.Snapshot{Org: "RXX", Devices: 10, OnTarget: 4}
	if err := sameJSON("history", a, a); err != nil {
		t.Fatalf("the same section: %v", err)
	}
	b := a
	b.OnTarget = 5
	err := sameJSON("history", a, b)
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "history report differs") ||
		!strings.Contains(err.Error(), `"on_target\":4`) || !strings.Contains(err.Error(), `"on_target\":5`) {
		t.Fatalf("err = %v", err)
	}
}

// TestAsRequeued: a live campaign's queued devices count as running, as
// the copy stores them; another campaign's stay queued.
func TestAsRequeued(t *testing.T) {
	cs := []report.CampaignSummary{
		{Name: "live", Status: "paused", Waves: []report.WaveSummary{{States: map[string]int{"queued": 2, "running": 1, "pending": 5, "failed": 0}}}},
		{Name: "gone", Status: "cancelled", Waves: []report.WaveSummary{{States: map[string]int{"queued": 3}}}},
	}
	asRequeued(cs)
	if want := map[string]int{"queued": 0, "running": 3, "pending": 5, "failed": 0}; !reflect.DeepEqual(cs[0].Waves[0].States, want) {
		t.Errorf("live campaign: %v, want %v", cs[0].Waves[0].States, want)
	}
	if want := map[string]int{"queued": 3}; !reflect.DeepEqual(cs[1].Waves[0].States, want) {
		t.Errorf("cancelled campaign: %v, want %v", cs[1].Waves[0].States, want)
	}
}
