package report

import (
	"fmt"
	"slices"
	"time"
)

// freshness counts a row's devices by the UTC day of the oldest
// observation behind each, so the row can say how fresh it is by the
// median day as well as the oldest: one device observed long ago (a
// laptop in a drawer) then shows as the outlier it is instead of making
// its whole organisation look stale.
// It is keyed by the day's number since the Unix epoch (a cheap key to
// hash: rows add hundreds of thousands of cohorts).
type freshness map[int64]int

// add counts n devices observed on day, a UTC midnight (a zero day is not
// counted).
func (f *freshness) add(day time.Time, n int) {
	if day.IsZero() || n <= 0 {
		return
	}
	if *f == nil {
		*f = freshness{}
	}
	(*f)[day.Unix()/secondsPerDay] += n
}

const secondsPerDay = 24 * 60 * 60

// median is the day by which at least half the counted devices had been
// observed, going from the oldest (the lower median); zero when none.
func (f freshness) median() time.Time {
	days := make([]int64, 0, len(f))
	total := 0
	for d, n := range f {
		days = append(days, d)
		total += n
	}
	slices.Sort(days)
	seen := 0
	for _, d := range days {
		if seen += f[d]; 2*seen >= total {
			return time.Unix(d*secondsPerDay, 0).UTC()
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

// Ago says coarsely how long before now t was ("40s ago", "12m ago", "5h
// ago", "3d ago"); "" for a zero t, and t itself when it is after now.
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return t.UTC().Format(time.RFC3339)
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}
