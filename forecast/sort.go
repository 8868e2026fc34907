package forecast

import (
	"slices"
	"time"
)

func sortDurations(d []time.Duration) { slices.Sort(d) }

func sortTimes(t []time.Time) { slices.SortFunc(t, func(a, b time.Time) int { return a.Compare(b) }) }

func sortOrgs(o []Org) {
	slices.SortFunc(o, func(a, b Org) int {
		if a.Org < b.Org {
			return -1
		}
		if a.Org > b.Org {
			return 1
		}
		return 0
	})
}
