package report

import (
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// A Snapshot is one organisation's figures on one day (the latest taken
// that day): what the daily history keeps so that burn-down charts, the
// pace of patching and the days from alert to patch can be drawn from it.
type Snapshot struct {
	Day       time.Time `json:"day"` // UTC midnight
	Org       string    `json:"org"` // "TOTAL" for the whole estate
	Devices   int       `json:"devices"`
	OnTarget  int       `json:"on_target"` // observed on the target build or later
	Supported int       `json:"supported"` // observed on a supported Windows 10 build
	// Affected and Compliant count, per alert id, the devices on a build
	// the alert names and those of them observed remediated.
	Affected  map[string]int `json:"affected"`
	Compliant map[string]int `json:"compliant"`
}

// TotalOrg is the Org of the snapshot of every organisation together.
const TotalOrg = "TOTAL"

// Snapshots takes today's snapshot of each organisation (and the total)
// from the reports computed now.
func Snapshots(now time.Time, p Progress, sc Scorecard, cs []Compliance) []Snapshot {
	day := now.UTC().Truncate(24 * time.Hour)
	by := map[string]*Snapshot{}
	get := func(org string) *Snapshot {
		s := by[org]
		if s == nil {
			s = &Snapshot{Day: day, Org: org, Affected: map[string]int{}, Compliant: map[string]int{}}
			by[org] = s
		}
		return s
	}
	for _, r := range append(slices.Clone(p.Rows), p.Total) {
		s := get(r.Org)
		s.Devices, s.OnTarget = s.Devices+r.Devices, s.OnTarget+r.OnTarget
	}
	for _, r := range append(slices.Clone(sc.Rows), sc.Total) {
		get(r.Org).Supported += r.Supported
	}
	for _, c := range cs {
		for _, r := range append(slices.Clone(c.Rows), c.Total) {
			s := get(r.Org)
			s.Affected[c.Alert] += r.Affected
			s.Compliant[c.Alert] += r.Compliant
		}
	}
	out := make([]Snapshot, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(x, y Snapshot) int { return strings.Compare(x.Org, y.Org) })
	return out
}

// History is the daily snapshots of one organisation (or the total), oldest
// first.
type History []Snapshot

// Histories are the daily snapshots by organisation (TotalOrg for the
// estate), each oldest first.
type Histories map[string]History

// IndexHistory sorts snapshots into each organisation's history, in one
// pass (reports ask for hundreds of organisations' over a year of days).
func IndexHistory(all []Snapshot) Histories {
	out := Histories{}
	for _, s := range all {
		out[s.Org] = append(out[s.Org], s)
	}
	for _, h := range out {
		slices.SortStableFunc(h, func(x, y Snapshot) int { return x.Day.Compare(y.Day) })
	}
	return out
}

// HistoryOf picks one organisation's snapshots, oldest first.
func HistoryOf(all []Snapshot, org string) History {
	var h History
	for _, s := range all {
		if s.Org == org {
			h = append(h, s)
		}
	}
	slices.SortFunc(h, func(x, y Snapshot) int { return x.Day.Compare(y.Day) })
	return h
}

// PatchPace is how many more devices were observed compliant with the
// alert per day, over the last PaceWindow of history up to now (ok false
// without two snapshots in that span).
func (h History) PatchPace(alert string, now time.Time) (perDay float64, ok bool) {
	var first, last *Snapshot
	for i := range h {
		s := &h[i]
		if now.Sub(s.Day) > PaceWindow+24*time.Hour || s.Day.After(now) {
			continue
		}
		if _, seen := s.Affected[alert]; !seen {
			continue
		}
		if first == nil {
			first = s
		}
		last = s
	}
	if first == nil || last == first {
		return 0, false
	}
	days := last.Day.Sub(first.Day).Hours() / 24
	return math.Max(0, float64(last.Compliant[alert]-first.Compliant[alert])) / days, true
}

// MedianDaysToPatch is the median number of days from the alert's issue to
// the first snapshot that saw a device compliant, over the devices seen
// compliant (ok false when none was). Devices compliant in the first
// snapshot after issue count from that day: history is daily, so the
// figure is exact to the snapshot (an upper bound when snapshots are
// sparse).
func (h History) MedianDaysToPatch(alert string, issued time.Time) (days float64, ok bool) {
	type step struct {
		day int
		n   int
	}
	var steps []step
	prev := 0
	for _, s := range h {
		if s.Day.Before(issued.UTC().Truncate(24 * time.Hour)) {
			continue
		}
		c, seen := s.Compliant[alert]
		if !seen {
			continue
		}
		if c > prev {
			steps = append(steps, step{int(s.Day.Sub(issued).Hours() / 24), c - prev})
		}
		prev = max(prev, c)
	}
	total := 0
	for _, st := range steps {
		total += st.n
	}
	if total == 0 {
		return 0, false
	}
	// The median of the multiset where each step's day appears n times.
	at := func(k int) int {
		i := sort.Search(len(steps), func(i int) bool {
			sum := 0
			for _, st := range steps[:i+1] {
				sum += st.n
			}
			return sum > k
		})
		return steps[i].day
	}
	if total%2 == 1 {
		return float64(at(total / 2)), true
	}
	return float64(at(total/2-1)+at(total/2)) / 2, true
}

// CampaignProgress is how a campaign's devices finished over time, for its
// burn-down: Finished holds, for each device now in a final state, when it
// got there.
type CampaignProgress struct {
	Name     string      `json:"name"`
	Devices  int         `json:"devices"`
	Finished []time.Time `json:"finished"`
}

// Remaining returns, at n+1 evenly spaced times from the campaign's first
// to its last finish, how many devices had not finished.
func (c CampaignProgress) Remaining(n int) (times []time.Time, left []int) {
	if len(c.Finished) == 0 || n < 1 {
		return nil, nil
	}
	fin := slices.SortedFunc(slices.Values(c.Finished), func(x, y time.Time) int { return x.Compare(y) })
	first, last := fin[0], fin[len(fin)-1]
	step := last.Sub(first) / time.Duration(n)
	j := 0
	for i := 0; i <= n; i++ {
		at := first.Add(step * time.Duration(i))
		if i == n {
			at = last
		}
		for j < len(fin) && !fin[j].After(at) {
			j++
		}
		times = append(times, at)
		left = append(left, c.Devices-j)
	}
	return times, left
}

// CampaignSummary is where a campaign stands, wave by wave.
type CampaignSummary struct {
	Name     string        `json:"name"`
	Playbook string        `json:"playbook"`
	Status   string        `json:"status"`
	Waves    []WaveSummary `json:"waves"`
}

// WaveSummary is one wave's devices by state.
type WaveSummary struct {
	Name    string         `json:"name"`
	Status  string         `json:"status"`
	Devices int            `json:"devices"`
	States  map[string]int `json:"states"` // pending, queued, running, succeeded, failed, skipped, deferred
}
