package report

import (
	"testing"
	"time"
)

// TestFreshness: a row's "as of" is the median observation day, with the
// oldest beside it when older, so one device observed months ago does not
// make an organisation look stale.
func TestFreshness(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name string
		add  map[time.Time]int
		want string
	}{
		{"nothing observed", nil, ""},
		{"all on one day", map[time.Time]int{day(28): 40}, "2026-11-28"},
		{"one stale laptop among 40", map[time.Time]int{day(1): 1, day(27): 19, day(28): 20}, "2026-11-27 (oldest 2026-11-01)"},
		{"half stale", map[time.Time]int{day(1): 20, day(28): 20}, "2026-11-01"},
		{"stale majority", map[time.Time]int{day(1): 30, day(28): 10}, "2026-11-01"},
		{"zero days and counts are not counted", map[time.Time]int{{}: 5, day(28): 3, day(2): 0}, "2026-11-28"},
	}
	for _, tt := range tests {
		var f freshness
		oldest := time.Time{}
		for d, n := range tt.add {
			f.add(d, n)
			if !d.IsZero() && n > 0 && (oldest.IsZero() || d.Before(oldest)) {
				oldest = d
			}
		}
		if got := asOfCell(f.median(), oldest); got != tt.want {
			t.Errorf("%s: as of %q, want %q", tt.name, got, tt.want)
		}
	}
}
