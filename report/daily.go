package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ScopeHistory is the daily history as a reader of some organisations
// sees it: the snapshots of the organisations keep accepts and, for each
// day, a total (Org TotalOrg) recomputed as their sum; the recorded total
// is the whole estate's, so it is never kept. A day with none of their
// snapshots has no total. The result is ordered by day then organisation.
func ScopeHistory(all []Snapshot, keep func(org string) bool) []Snapshot {
	var out []Snapshot
	totals := map[time.Time]*Snapshot{}
	for _, s := range all {
		if s.Org == TotalOrg || !keep(s.Org) {
			continue
		}
		out = append(out, s)
		t := totals[s.Day]
		if t == nil {
			t = &Snapshot{Day: s.Day, Org: TotalOrg, Affected: map[string]int{}, Compliant: map[string]int{}}
			totals[s.Day] = t
		}
		t.Devices += s.Devices
		t.OnTarget += s.OnTarget
		t.Supported += s.Supported
		for a, n := range s.Affected {
			t.Affected[a] += n
		}
		for a, n := range s.Compliant {
			t.Compliant[a] += n
		}
	}
	for _, t := range totals {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(x, y Snapshot) int {
		if c := x.Day.Compare(y.Day); c != 0 {
			return c
		}
		return strings.Compare(x.Org, y.Org)
	})
	return out
}

// Daily is the daily history over a span of days: each organisation's
// snapshot per day, and the day's total over them (Org TotalOrg).
type Daily struct {
	// From and To are the first and last days asked for (UTC dates,
	// YYYY-MM-DD); From is empty when the history is read from its start.
	From string `json:"from,omitempty"`
	To   string `json:"to"`
	// Alerts are the alerts with figures in the snapshots, sorted.
	Alerts []string `json:"alerts"`
	// Snapshots are ordered by day then organisation.
	Snapshots []Snapshot `json:"snapshots"`
}

// NewDaily picks the snapshots of the days from from to to (UTC dates;
// a zero from: from the first).
func NewDaily(all []Snapshot, from, to time.Time) Daily {
	from, to = from.UTC().Truncate(24*time.Hour), to.UTC().Truncate(24*time.Hour)
	d := Daily{To: to.Format(time.DateOnly), Alerts: []string{}, Snapshots: []Snapshot{}}
	if !from.IsZero() {
		d.From = from.Format(time.DateOnly)
	}
	alerts := map[string]bool{}
	for _, s := range all {
		if s.Day.Before(from) || s.Day.After(to) {
			continue
		}
		d.Snapshots = append(d.Snapshots, s)
		for a := range s.Affected {
			alerts[a] = true
		}
	}
	d.Alerts = append(d.Alerts, slices.Sorted(maps.Keys(alerts))...)
	return d
}

// WriteDaily writes the daily history as a table, CSV or JSON: a row per
// day and organisation, with each alert's affected and compliant devices
// (empty cells on a day before the alert was in the history).
func WriteDaily(w io.Writer, d Daily, format string) error {
	header := []string{"DAY", "ORG", "DEVICES", "ON TARGET", "SUPPORTED"}
	for _, a := range d.Alerts {
		header = append(header, a+" AFFECTED", a+" COMPLIANT")
	}
	csvHeader := make([]string, len(header))
	for i, h := range header {
		csvHeader[i] = csvName(h)
	}
	var rows [][]string
	for _, s := range d.Snapshots {
		row := []string{s.Day.UTC().Format(time.DateOnly), s.Org, strconv.Itoa(s.Devices), strconv.Itoa(s.OnTarget), strconv.Itoa(s.Supported)}
		for _, a := range d.Alerts {
			if n, ok := s.Affected[a]; ok {
				row = append(row, strconv.Itoa(n), strconv.Itoa(s.Compliant[a]))
			} else {
				row = append(row, "", "")
			}
		}
		rows = append(rows, row)
	}
	from := d.From
	if from == "" {
		from = "the first recorded day"
	}
	title := fmt.Sprintf("Daily history: %s to %s\n", from, d.To)
	return writeForm(w, format, d, title, header, csvHeader, rows)
}
