package report

import (
	"slices"
	"time"
)

// freshness counts a row's devices by the UTC day of the oldest
// observation behind each, so the row can say how fresh it is by the
// median day as well as the oldest: one device observed long ago (a
// laptop in a drawer) then shows as the outlier it is instead of making
// its whole organisation look stale.
type freshness map[time.Time]int

// add counts n devices observed on day (a zero day is not counted).
func (f *freshness) add(day time.Time, n int) {
	if day.IsZero() || n <= 0 {
		return
	}
	if *f == nil {
		*f = freshness{}
	}
	(*f)[day] += n
}

// median is the day by which at least half the counted devices had been
// observed, going from the oldest (the lower median); zero when none.
func (f freshness) median() time.Time {
	days := make([]time.Time, 0, len(f))
	total := 0
	for d, n := range f {
		days = append(days, d)
		total += n
	}
	slices.SortFunc(days, func(a, b time.Time) int { return a.Compare(b) })
	seen := 0
	for _, d := range days {
		if seen += f[d]; 2*seen >= total {
			return d
		}
	}
	return time.Time{}
}

// AsOfText renders a row's freshness as tables, CSV and the HTML report
// show it: the median day, and the oldest after it when older
// ("2026-11-30 (oldest 2026-05-01)"); "" when nothing was observed.
func AsOfText(median, oldest time.Time) string { return asOfCell(median, oldest) }

func asOfCell(median, oldest time.Time) string {
	switch {
	case oldest.IsZero():
		return ""
	case median.IsZero() || !oldest.Before(median):
		return oldest.UTC().Format(time.DateOnly)
	}
	return median.UTC().Format(time.DateOnly) + " (oldest " + oldest.UTC().Format(time.DateOnly) + ")"
}
