// Package report computes the figures managers read: how far each
// organisation's Windows 10 migration is, from what its devices were
// observed to be and how each device stands in a campaign. It knows
// nothing of storage or of how figures are shown: callers feed it devices
// and campaign states, and the CLI (and later a web dashboard) render the
// result as a table, CSV, JSON or HTML. It declares the contract of the
// daily history's store (HistoryStore), which store/sqlite implements.
package report

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
)

// CampaignState is how a device stands in the campaign a report follows.
type CampaignState struct {
	State  string // pending, queued, running, succeeded, failed, skipped, deferred
	Reason string
}

// ProgressOptions say what progress is measured against.
type ProgressOptions struct {
	TargetBuild inventory.Version // devices observed on this build or later count as migrated
	Now         time.Time
	// StaleAfter is how long since a device was last seen before it counts
	// as not seen recently (default 30 days), counted in UTC days.
	StaleAfter time.Duration
	// BySite gives a row per organisation and site instead of per
	// organisation.
	BySite bool
	// Deadline is the followed campaign's (zero without one): where no
	// forecast covers an organisation, one whose pace will not finish by
	// it is at risk (without a pace, one whose deadline is less than
	// AtRiskDays away).
	Deadline time.Time
}

// ReasonCount is how many devices failed for one reason.
type ReasonCount struct {
	Reason  string `json:"reason"`
	Devices int    `json:"devices"`
}

// ProgressRow is one organisation's migration figures (or the total).
type ProgressRow struct {
	Org  string `json:"org"`
	Site string `json:"site,omitempty"`
	Name string `json:"name"`
	// Devices is every device of the organisation in the report's scope.
	Devices int `json:"devices"`
	// OnTarget are observed on the target build or later.
	OnTarget   int     `json:"on_target"`
	OnTargetPc float64 `json:"on_target_percent"`
	// InProgress are queued or running in the campaign.
	InProgress int `json:"in_progress"`
	// Failed and their commonest reasons, in the campaign.
	Failed     int           `json:"failed"`
	TopReasons []ReasonCount `json:"top_failure_reasons"`
	// Deferred could not be reached and wait for a retry.
	Deferred int `json:"deferred"`
	// Ineligible were skipped by the playbook as unable to upgrade.
	Ineligible int `json:"ineligible"`
	// NotStarted are neither on target nor anywhere in the campaign yet.
	NotStarted int `json:"not_started"`
	// NotSeen have not been seen alive for StaleAfter (or never).
	NotSeen int `json:"not_seen_recently"`
	// Unknown have no observed build: they cannot count as migrated.
	Unknown int `json:"build_unknown"`
	// AsOf is the UTC day of the oldest observation behind the row's
	// builds, and AsOfMedian the day by which half its devices' builds
	// had been observed: how fresh the figures are (zero when no build is
	// known).
	AsOf       time.Time `json:"as_of"`
	AsOfMedian time.Time `json:"as_of_median"`
	// PerDay is how many of its devices the campaign finished per day over
	// the last week, and ETA when the rest would be done at that pace
	// (nil without a campaign or without a pace).
	PerDay *float64   `json:"finished_per_day"`
	ETA    *time.Time `json:"eta"`
	// Forecast is the forecast of a campaign covering it (ForecastOrg),
	// nil without one; a row per site has none, but the total.
	Forecast *OrgForecast `json:"forecast"`
	// AtRisk says it will not be done in time: from the forecast where
	// one covers it, else from the pace against the campaign's deadline
	// (RiskFrom says which; empty: neither applies).
	AtRisk   bool   `json:"at_risk"`
	RiskFrom string `json:"at_risk_from,omitempty"`

	reasons  map[string]int
	fresh    freshness
	finished int // by the campaign in the pace window
	inCamp   int // devices in the campaign and not final
}

// Progress is the migration report: a row per organisation and the total.
type Progress struct {
	TargetBuild string        `json:"target_build"`
	GeneratedAt time.Time     `json:"generated_at"`
	Rows        []ProgressRow `json:"organisations"`
	Total       ProgressRow   `json:"total"`
	// BySite says the rows are per organisation and site
	// (ProgressOptions.BySite): the table and CSV then have a SITE column,
	// as the JSON rows have a site.
	BySite bool `json:"-"`
}

// ProgressBuilder accumulates devices into a Progress.
type ProgressBuilder struct {
	opts     ProgressOptions
	names    map[string]string
	rows     map[rowKey]*ProgressRow
	total    ProgressRow
	followed bool // a campaign's pace was given
	fc       forecasts
}

// ForecastOrg gives an organisation's forecast: shown beside its row,
// and what its at-risk rests on.
func (b *ProgressBuilder) ForecastOrg(org string, f OrgForecast) { b.fc.add(org, f) }

// ForecastTotal gives the whole campaign's forecast, for the total.
func (b *ProgressBuilder) ForecastTotal(f OrgForecast) { b.fc.total = &f }

// NewProgress starts a progress report over the given organisations.
func NewProgress(orgs []inventory.Organisation, opts ProgressOptions) *ProgressBuilder {
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = 30 * 24 * time.Hour
	}
	b := &ProgressBuilder{opts: opts, names: map[string]string{}, rows: map[rowKey]*ProgressRow{}}
	for _, o := range orgs {
		b.names[o.Code] = o.Name
	}
	b.total = ProgressRow{Org: "TOTAL", Name: "all organisations", reasons: map[string]int{}}
	return b
}

// PaceWindow is the span over which campaign throughput is measured.
const PaceWindow = 7 * 24 * time.Hour

// Finished counts a device the campaign finished (succeeded, failed or
// skipped) at the given time; those within PaceWindow of now give the
// pace. Call it for every final transition of the campaign followed.
func (b *ProgressBuilder) Finished(org string, at time.Time) {
	if b.opts.Now.Sub(at) > PaceWindow || at.After(b.opts.Now) {
		return
	}
	b.followed = true
	b.total.finished++
	if b.opts.BySite { // a finished device's site is not given: the total alone
		return
	}
	r := b.rows[rowKey{org: org}]
	if r == nil {
		r = &ProgressRow{Org: org, Name: b.names[org], reasons: map[string]int{}}
		b.rows[rowKey{org: org}] = r
	}
	r.finished++
}

// Add counts one device; st is its campaign state (nil when the report
// follows no campaign or the device is not in it).
func (b *ProgressBuilder) Add(d *inventory.Device, st *CampaignState) {
	c := inventory.CohortOf(d)
	b.AddCohort(&c, st)
}

// AddCohort counts devices alike; st is their campaign state (nil when the
// report follows no campaign or they are not in it).
func (b *ProgressBuilder) AddCohort(c *inventory.Cohort, st *CampaignState) {
	key := rowKey{org: c.Org}
	if b.opts.BySite {
		key.site = c.Site
	}
	r := b.rows[key]
	if r == nil {
		r = &ProgressRow{Org: c.Org, Site: key.site, Name: b.names[c.Org], reasons: map[string]int{}}
		b.rows[key] = r
	}
	for _, row := range []*ProgressRow{r, &b.total} {
		row.add(c, st, b.opts)
	}
}

// rowKey is a progress row's: its organisation, and its site when rows
// are per site.
type rowKey struct{ org, site string }

// Stale says whether a device last seen on seenDay (zero: never) counts as
// not seen recently at now: its last day seen is more than staleAfter
// before today (UTC days, as the rollup counts them).
func Stale(seenDay, now time.Time, staleAfter time.Duration) bool {
	return seenDay.IsZero() || inventory.Day(now).Sub(seenDay) > staleAfter
}

func (r *ProgressRow) add(c *inventory.Cohort, st *CampaignState, o ProgressOptions) {
	n := c.Devices
	r.Devices += n
	known := !c.Build.IsZero()
	onTarget := known && c.Build.Compare(o.TargetBuild) >= 0
	if known {
		if r.AsOf.IsZero() || c.ObservedDay.Before(r.AsOf) {
			r.AsOf = c.ObservedDay
		}
		r.fresh.add(c.ObservedDay, n)
	} else {
		r.Unknown += n
	}
	if Stale(c.SeenDay, o.Now, o.StaleAfter) {
		r.NotSeen += n
	}
	switch {
	case onTarget:
		r.OnTarget += n
	case st == nil:
		r.NotStarted += n
	case st.State == "pending":
		r.NotStarted += n
		r.inCamp += n
	case st.State == "queued" || st.State == "running":
		r.InProgress += n
		r.inCamp += n
	case st.State == "deferred":
		r.Deferred += n
		r.inCamp += n
	case st.State == "skipped" && playbooks.Reason(st.Reason).Ineligible():
		r.Ineligible += n
	case st.State == "failed":
		r.Failed += n
		r.reasons[st.Reason] += n
	default:
		// Succeeded or skipped in the campaign but not observed on the
		// target build: the facts decide, so it has not migrated yet.
		r.NotStarted += n
	}
}

// Build finishes the report: rows sorted by organisation code.
func (b *ProgressBuilder) Build() Progress {
	p := Progress{TargetBuild: b.opts.TargetBuild.String(), GeneratedAt: b.opts.Now, BySite: b.opts.BySite}
	for _, r := range b.rows {
		p.Rows = append(p.Rows, r.finish(b, false))
	}
	slices.SortFunc(p.Rows, func(x, y ProgressRow) int {
		return cmp.Or(strings.Compare(x.Org, y.Org), strings.Compare(x.Site, y.Site))
	})
	p.Total = b.total.finish(b, true)
	return p
}

func (r *ProgressRow) finish(b *ProgressBuilder, total bool) ProgressRow {
	out := *r
	if b.followed {
		perDay := float64(r.finished) / (PaceWindow.Hours() / 24)
		out.PerDay = &perDay
		if perDay > 0 {
			eta := b.opts.Now.Add(time.Duration(float64(r.inCamp) / perDay * 24 * float64(time.Hour)))
			out.ETA = &eta
		}
	}
	if f := b.fc.of(r.Org, total); f != nil && (total || !b.opts.BySite) {
		out.Forecast, out.AtRisk, out.RiskFrom = f, f.AtRisk(), RiskFromForecast
	} else if !b.opts.Deadline.IsZero() && r.inCamp > 0 && (total || !b.opts.BySite) {
		// The pace: done after the deadline at the last week's; without
		// one (none finished this week), the deadline less than
		// AtRiskDays away, as an alert's compliance has it.
		out.RiskFrom = RiskFromPace
		if out.ETA != nil {
			out.AtRisk = out.ETA.After(b.opts.Deadline)
		} else {
			out.AtRisk = b.opts.Deadline.Sub(b.opts.Now) < AtRiskDays*24*time.Hour
		}
	}
	if out.Devices > 0 {
		out.OnTargetPc = float64(out.OnTarget) * 100 / float64(out.Devices)
	}
	out.TopReasons = []ReasonCount{}
	for reason, n := range r.reasons {
		out.TopReasons = append(out.TopReasons, ReasonCount{reason, n})
	}
	slices.SortFunc(out.TopReasons, func(x, y ReasonCount) int {
		return cmp.Or(y.Devices-x.Devices, strings.Compare(x.Reason, y.Reason))
	})
	if len(out.TopReasons) > 3 {
		out.TopReasons = out.TopReasons[:3]
	}
	out.reasons = nil
	out.AsOfMedian, out.fresh = r.fresh.median(), nil
	return out
}
