package report

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// ComplianceRow is one organisation's standing against one alert.
type ComplianceRow struct {
	Org         string  `json:"org"`
	Name        string  `json:"name"`
	Devices     int     `json:"devices"`
	Affected    int     `json:"affected"` // on a build the alert names
	Compliant   int     `json:"compliant"`
	CompliantPc float64 `json:"compliant_percent"` // of the affected (100 when none is)
	Exposed     int     `json:"exposed"`
	Unknown     int     `json:"unknown"` // build or updates never observed: counted apart, never as compliant
	Overdue     int     `json:"overdue"` // exposed after the deadline
	// AtRisk: devices are still exposed and, at the pace of the last week
	// of history (PerDay more devices compliant a day), they will not all
	// be remediated by the deadline; without history, the deadline has
	// passed or is less than AtRiskDays away.
	// Where a forecast of the alert's remediation campaign covers the
	// organisation, AtRisk is the forecast's instead (RiskFrom says
	// which).
	AtRisk   bool         `json:"at_risk"`
	RiskFrom string       `json:"at_risk_from"`
	Forecast *OrgForecast `json:"forecast"`
	PerDay   *float64     `json:"patched_per_day"`
	// MedianDays is the median number of days from the alert's issue to a
	// device's remediation, from the daily history (nil without it).
	MedianDays *float64 `json:"median_days_to_patch"`
	// AsOf is the oldest observation of installed updates behind the row,
	// AsOfMedian the day by which half its devices' had been observed.
	AsOf       time.Time `json:"as_of"`
	AsOfMedian time.Time `json:"as_of_median"`
	fresh      freshness
}

// Compliance is an alert's report: a row per organisation and the total.
type Compliance struct {
	Alert       string          `json:"alert"`
	Title       string          `json:"title"`
	Deadline    string          `json:"deadline"`
	DaysLeft    int             `json:"days_left"` // negative after the deadline
	GeneratedAt time.Time       `json:"generated_at"`
	Rows        []ComplianceRow `json:"organisations"`
	Total       ComplianceRow   `json:"total"`
}

// AtRiskDays is how close the deadline must be for exposed devices to put
// an organisation at risk when no history gives a pace.
const AtRiskDays = 7

// ComplianceBuilder accumulates devices into a Compliance.
type ComplianceBuilder struct {
	history Histories
	a       *alerts.Alert
	now     time.Time
	names   map[string]string
	rows    map[string]*ComplianceRow
	total   ComplianceRow
	fc      forecasts
}

// ForecastOrg gives the forecast of the alert's remediation campaign for
// an organisation: its at-risk then rests on it.
func (b *ComplianceBuilder) ForecastOrg(org string, f OrgForecast) { b.fc.add(org, f) }

// ForecastTotal gives the whole remediation campaign's, for the total.
func (b *ComplianceBuilder) ForecastTotal(f OrgForecast) { b.fc.total = &f }

// NewCompliance starts an alert's compliance report.
func NewCompliance(a *alerts.Alert, orgs []inventory.Organisation, now time.Time) *ComplianceBuilder {
	b := &ComplianceBuilder{a: a, now: now, names: map[string]string{}, rows: map[string]*ComplianceRow{},
		total: ComplianceRow{Org: "TOTAL", Name: "all organisations"}}
	for _, o := range orgs {
		b.names[o.Code] = o.Name
	}
	return b
}

// UseHistory gives the daily snapshots the pace and the days to patch are
// measured from.
func (b *ComplianceBuilder) UseHistory(h Histories) { b.history = h }

// Add counts one device, as observed.
func (b *ComplianceBuilder) Add(d *inventory.Device) {
	c := inventory.CohortOf(d)
	b.AddCohort(&c)
}

// AddCohort counts devices alike, as observed.
func (b *ComplianceBuilder) AddCohort(c *inventory.Cohort) {
	r := b.rows[c.Org]
	if r == nil {
		r = &ComplianceRow{Org: c.Org, Name: b.names[c.Org]}
		b.rows[c.Org] = r
	}
	n := c.Devices
	st := b.a.CheckCohort(c)
	overdue := st == alerts.Exposed && !b.now.Before(b.a.DeadlineAt().AddDate(0, 0, 1))
	for _, row := range []*ComplianceRow{r, &b.total} {
		row.Devices += n
		switch st {
		case alerts.Compliant:
			row.Affected += n
			row.Compliant += n
		case alerts.Exposed:
			row.Affected += n
			row.Exposed += n
			if overdue {
				row.Overdue += n
			}
		case alerts.Unknown:
			row.Unknown += n
		}
		if c.KBsKnown && !c.ObservedDay.IsZero() && (row.AsOf.IsZero() || c.ObservedDay.Before(row.AsOf)) {
			row.AsOf = c.ObservedDay
		}
		if c.KBsKnown {
			row.fresh.add(c.ObservedDay, n)
		}
	}
}

// Build finishes the report.
func (b *ComplianceBuilder) Build() Compliance {
	days := int(math.Floor(b.a.DeadlineAt().AddDate(0, 0, 1).Sub(b.now).Hours() / 24))
	c := Compliance{Alert: b.a.ID, Title: b.a.Title, Deadline: b.a.Deadline, DaysLeft: days, GeneratedAt: b.now}
	finish := func(r ComplianceRow, total bool) ComplianceRow {
		r.AsOfMedian, r.fresh = r.fresh.median(), nil
		r.CompliantPc = 100
		if r.Affected > 0 {
			r.CompliantPc = float64(r.Compliant) * 100 / float64(r.Affected)
		}
		h := b.history[r.Org]
		pace, paced := h.PatchPace(b.a.ID, b.now)
		if paced {
			r.PerDay = &pace
		}
		switch f := b.fc.of(r.Org, total); {
		case f != nil:
			// At risk when the forecast misses the campaign's deadline
			// or, whatever the campaign's, finishes after the alert's
			// (in more than a tenth of its runs).
			r.Forecast, r.RiskFrom = f, RiskFromForecast
			end := b.a.DeadlineAt().AddDate(0, 0, 1)
			r.AtRisk = r.Exposed > 0 && (f.AtRisk() || f.P90.IsZero() || f.P90.After(end))
		case paced:
			r.RiskFrom = RiskFromPace
			r.AtRisk = r.Exposed > 0 && (days < 0 || pace == 0 || float64(r.Exposed)/pace > float64(days))
		default:
			r.RiskFrom = RiskFromPace
			r.AtRisk = r.Exposed > 0 && days < AtRiskDays
		}
		if m, ok := h.MedianDaysToPatch(b.a.ID, b.a.IssuedAt()); ok {
			r.MedianDays = &m
		}
		return r
	}
	for _, r := range b.rows {
		c.Rows = append(c.Rows, finish(*r, false))
	}
	slices.SortFunc(c.Rows, func(x, y ComplianceRow) int { return strings.Compare(x.Org, y.Org) })
	c.Total = finish(b.total, true)
	return c
}

var complianceHeader = []string{"ORG", "NAME", "DEVICES", "AFFECTED", "COMPLIANT", "%", "EXPOSED", "OVERDUE", "UNKNOWN", "PER DAY",
	"MEDIAN DAYS", "AT RISK", "RISK FROM", "FORECAST LATE", "AS OF"}

func optFloat(f *float64) string {
	if f == nil {
		return ""
	}
	return fmt.Sprintf("%.1f", *f)
}

func (r ComplianceRow) cells() []string {
	risk := "no"
	if r.AtRisk {
		risk = "yes"
	}
	asOf := asOfCell(r.AsOfMedian, r.AsOf)
	late := ""
	if r.Forecast != nil {
		late = fmt.Sprintf("%.0f", r.Forecast.LateAtDeadline)
	}
	return []string{r.Org, r.Name, strconv.Itoa(r.Devices), strconv.Itoa(r.Affected), strconv.Itoa(r.Compliant),
		fmt.Sprintf("%.1f", r.CompliantPc), strconv.Itoa(r.Exposed), strconv.Itoa(r.Overdue), strconv.Itoa(r.Unknown),
		optFloat(r.PerDay), optFloat(r.MedianDays), risk, r.RiskFrom, late, asOf}
}

// WriteCompliance writes an alert's compliance report as a table, CSV or
// JSON.
func WriteCompliance(w io.Writer, c Compliance, format string) error {
	csvHeader := make([]string, len(complianceHeader))
	for i, h := range complianceHeader {
		csvHeader[i] = csvName(h)
		if h == "%" {
			csvHeader[i] = "compliant_percent"
		}
	}
	var rows [][]string
	for _, r := range append(c.Rows, c.Total) {
		rows = append(rows, r.cells())
	}
	title := fmt.Sprintf("%s: %s\ndeadline %s (%d days left); generated %s\n", c.Alert, c.Title, c.Deadline, c.DaysLeft, c.GeneratedAt.UTC().Format(time.RFC3339))
	return writeForm(w, format, c, title, complianceHeader, csvHeader, rows)
}
