package report

import (
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// history builds an organisation's snapshots of one alert: compliant
// counts per day, 100 devices affected.
func history(alert string, compliant map[string]int) History {
	var h History
	for d, c := range compliant {
		h = append(h, Snapshot{Day: day(d), Org: "RXX", Affected: map[string]int{alert: 100}, Compliant: map[string]int{alert: c}})
	}
	return HistoryOf(h, "RXX")
}

func TestMedianDaysToPatch(t *testing.T) {
	issued := day("2026-11-01")
	tests := []struct {
		name      string
		compliant map[string]int
		want      float64
		ok        bool
	}{
		{"no history", nil, 0, false},
		{"none patched", map[string]int{"2026-11-02": 0, "2026-11-05": 0}, 0, false},
		// 10 by day 1 (a snapshot before the issue does not count), 20 more
		// by day 3, 30 more by day 10: the 30th and 31st of 60 fall on days
		// 3 and 10; with 61, the 31st is on day 10.
		{"steps", map[string]int{"2026-10-30": 5, "2026-11-02": 10, "2026-11-04": 30, "2026-11-11": 60}, 6.5, true},
		{"odd", map[string]int{"2026-11-02": 10, "2026-11-04": 30, "2026-11-11": 61}, 10, true},
		// An even split between two days gives their mean.
		{"even", map[string]int{"2026-11-02": 10, "2026-11-06": 20}, 3, true},
		// A drop (a device reinstalled) does not count as a patch again.
		{"dip", map[string]int{"2026-11-02": 10, "2026-11-03": 8, "2026-11-04": 11}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := history("HSA-1", tt.compliant).MedianDaysToPatch("HSA-1", issued)
			if got != tt.want || ok != tt.ok {
				t.Errorf("MedianDaysToPatch = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestPatchPace(t *testing.T) {
	now := day("2026-11-20").Add(10 * time.Hour)
	tests := []struct {
		name      string
		compliant map[string]int
		want      float64
		ok        bool
	}{
		{"one snapshot", map[string]int{"2026-11-20": 50}, 0, false},
		{"a week", map[string]int{"2026-11-13": 20, "2026-11-16": 30, "2026-11-20": 55}, 5, true},
		{"older ignored", map[string]int{"2026-10-01": 0, "2026-11-18": 40, "2026-11-20": 50}, 5, true},
		{"stalled", map[string]int{"2026-11-18": 40, "2026-11-20": 40}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := history("HSA-1", tt.compliant).PatchPace("HSA-1", now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("PatchPace = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
