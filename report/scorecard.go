package report

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// ScorecardRow is one organisation's line on the leadership scorecard.
type ScorecardRow struct {
	Org     string `json:"org"`
	Name    string `json:"name"`
	Devices int    `json:"devices"`
	// Supported are observed on a supported Windows 10 build; SupportedPc
	// is their share.
	Supported   int     `json:"supported"`
	SupportedPc float64 `json:"supported_percent"`
	// AlertPc is, per alert id, the share of affected devices compliant
	// (100 when none is affected).
	AlertPc map[string]float64 `json:"alert_compliant_percent"`
	// MedianDays is, per alert id, the median days from its issue to a
	// device's remediation, from the daily history (absent without it).
	MedianDays map[string]float64 `json:"median_days_to_patch"`
	// NotSeen30d have not been seen alive for 30 days (or never).
	NotSeen30d int `json:"not_seen_30d"`
	// AsOf is the oldest observation behind the row, AsOfMedian the day
	// by which half its devices had been observed.
	AsOf       time.Time `json:"as_of"`
	AsOfMedian time.Time `json:"as_of_median"`
	fresh      freshness

	supported int
	affected  map[string]int
	compliant map[string]int
}

// Scorecard is the leadership view: a row per organisation and the
// national total.
type Scorecard struct {
	SupportedBuild string         `json:"supported_build"`
	Alerts         []string       `json:"alerts"`
	GeneratedAt    time.Time      `json:"generated_at"`
	Rows           []ScorecardRow `json:"organisations"`
	Total          ScorecardRow   `json:"total"`
}

// ScorecardBuilder accumulates devices into a Scorecard.
type ScorecardBuilder struct {
	history   Histories
	supported inventory.Version
	alerts    []*alerts.Alert
	now       time.Time
	names     map[string]string
	rows      map[string]*ScorecardRow
	total     *ScorecardRow
}

// NewScorecard starts a scorecard: supported is the oldest build that
// counts as a supported Windows 10; alerts are the alerts to score.
func NewScorecard(orgs []inventory.Organisation, supported inventory.Version, as []*alerts.Alert, now time.Time) *ScorecardBuilder {
	b := &ScorecardBuilder{supported: supported, alerts: as, now: now, names: map[string]string{}, rows: map[string]*ScorecardRow{}}
	for _, o := range orgs {
		b.names[o.Code] = o.Name
	}
	b.total = b.newRow("TOTAL", "national total")
	return b
}

func (b *ScorecardBuilder) newRow(org, name string) *ScorecardRow {
	return &ScorecardRow{Org: org, Name: name, AlertPc: map[string]float64{}, affected: map[string]int{}, compliant: map[string]int{}}
}

// UseHistory gives the daily snapshots the days to patch are measured
// from.
func (b *ScorecardBuilder) UseHistory(h Histories) { b.history = h }

// Add counts one device, as observed.
func (b *ScorecardBuilder) Add(d *inventory.Device) {
	c := inventory.CohortOf(d)
	b.AddCohort(&c)
}

// AddCohort counts devices alike, as observed.
func (b *ScorecardBuilder) AddCohort(c *inventory.Cohort) {
	r := b.rows[c.Org]
	if r == nil {
		r = b.newRow(c.Org, b.names[c.Org])
		b.rows[c.Org] = r
	}
	n := c.Devices
	supported := !c.Build.IsZero() && c.Build.IsWindows10() && c.Build.Compare(b.supported) >= 0
	stale := Stale(c.SeenDay, b.now, 30*24*time.Hour)
	standings := make([]alerts.Standing, len(b.alerts))
	for i, a := range b.alerts {
		standings[i] = a.CheckCohort(c)
	}
	for _, row := range []*ScorecardRow{r, b.total} {
		row.Devices += n
		if supported {
			row.supported += n
		}
		if stale {
			row.NotSeen30d += n
		}
		if !c.ObservedDay.IsZero() && (row.AsOf.IsZero() || c.ObservedDay.Before(row.AsOf)) {
			row.AsOf = c.ObservedDay
		}
		row.fresh.add(c.ObservedDay, n)
		for i, a := range b.alerts {
			switch standings[i] {
			case alerts.Compliant:
				row.affected[a.ID] += n
				row.compliant[a.ID] += n
			case alerts.Exposed:
				row.affected[a.ID] += n
			}
		}
	}
}

// Build finishes the scorecard, rows ordered by organisation code.
func (b *ScorecardBuilder) Build() Scorecard {
	s := Scorecard{SupportedBuild: b.supported.String(), GeneratedAt: b.now}
	for _, a := range b.alerts {
		s.Alerts = append(s.Alerts, a.ID)
	}
	finish := func(r *ScorecardRow) ScorecardRow {
		out := *r
		out.AsOfMedian, out.fresh = r.fresh.median(), nil
		if out.Devices > 0 {
			out.SupportedPc = float64(out.supported) * 100 / float64(out.Devices)
			out.Supported = out.supported
		}
		out.AlertPc = map[string]float64{}
		for _, id := range s.Alerts {
			out.AlertPc[id] = 100
			if n := r.affected[id]; n > 0 {
				out.AlertPc[id] = float64(r.compliant[id]) * 100 / float64(n)
			}
		}
		out.affected, out.compliant = nil, nil
		out.MedianDays = map[string]float64{}
		h := b.history[r.Org]
		for _, a := range b.alerts {
			if m, ok := h.MedianDaysToPatch(a.ID, a.IssuedAt()); ok {
				out.MedianDays[a.ID] = m
			}
		}
		return out
	}
	for _, r := range b.rows {
		s.Rows = append(s.Rows, finish(r))
	}
	slices.SortFunc(s.Rows, func(x, y ScorecardRow) int { return cmp.Compare(x.Org, y.Org) })
	s.Total = finish(b.total)
	return s
}

// SortScorecard orders rows by a column: org (default), supported (worst
// first), not_seen (most first), or an alert id (least compliant first).
func SortScorecard(s *Scorecard, by string) error {
	var f func(x, y ScorecardRow) int
	switch {
	case by == "" || by == "org":
		return nil
	case by == "supported":
		f = func(x, y ScorecardRow) int { return cmp.Compare(x.SupportedPc, y.SupportedPc) }
	case by == "not_seen":
		f = func(x, y ScorecardRow) int { return cmp.Compare(y.NotSeen30d, x.NotSeen30d) }
	case slices.Contains(s.Alerts, by):
		f = func(x, y ScorecardRow) int { return cmp.Compare(x.AlertPc[by], y.AlertPc[by]) }
	default:
		return fmt.Errorf("sort by %q: want org, supported, not_seen or an alert id (%s)", by, strings.Join(s.Alerts, ", "))
	}
	slices.SortStableFunc(s.Rows, func(x, y ScorecardRow) int { return cmp.Or(f(x, y), cmp.Compare(x.Org, y.Org)) })
	return nil
}

func (s Scorecard) header() []string {
	h := []string{"ORG", "NAME", "DEVICES", "SUPPORTED WIN10 %"}
	for _, id := range s.Alerts {
		h = append(h, id+" %", id+" MEDIAN DAYS")
	}
	return append(h, "NOT SEEN 30D", "AS OF")
}

func (s Scorecard) cells(r ScorecardRow) []string {
	c := []string{r.Org, r.Name, strconv.Itoa(r.Devices), fmt.Sprintf("%.1f", r.SupportedPc)}
	for _, id := range s.Alerts {
		median := ""
		if m, ok := r.MedianDays[id]; ok {
			median = fmt.Sprintf("%.1f", m)
		}
		c = append(c, fmt.Sprintf("%.1f", r.AlertPc[id]), median)
	}
	asOf := asOfCell(r.AsOfMedian, r.AsOf)
	return append(c, strconv.Itoa(r.NotSeen30d), asOf)
}

// WriteScorecard writes the scorecard as a table, CSV or JSON.
func WriteScorecard(w io.Writer, s Scorecard, format string) error {
	header := s.header()
	csvHeader := make([]string, len(header))
	for i, h := range header {
		csvHeader[i] = strings.ReplaceAll(strings.ToLower(strings.ReplaceAll(h, " %", "_percent")), " ", "_")
	}
	var rows [][]string
	for _, r := range append(s.Rows, s.Total) {
		rows = append(rows, s.cells(r))
	}
	title := fmt.Sprintf("Scorecard: supported Windows 10 is build %s or later; generated %s\n", s.SupportedBuild, s.GeneratedAt.UTC().Format(time.RFC3339))
	return writeForm(w, format, s, title, header, csvHeader, rows)
}
