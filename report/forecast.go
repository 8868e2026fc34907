package report

import (
	"fmt"
	"time"

	"github.com/ringmaster-fleet/ringmaster/forecast"
)

// OrgForecast is what a campaign's forecast (package forecast, made in
// the background and stored) says of one organisation, as the reports
// show it beside its progress: when it will finish, and whether that puts
// it at risk.
type OrgForecast struct {
	Campaign string    `json:"campaign"`
	Made     time.Time `json:"made"` // when the forecast was made
	// P50 and P90 are its finish in half and nine in ten of the
	// forecast's runs; a zero P90 is "not finishing" in more than a
	// tenth of them (within the forecast's horizon, or without a person).
	P50 time.Time `json:"p50,omitzero"`
	P90 time.Time `json:"p90,omitzero"`
	// Unfinished is the share of runs in which it did not finish.
	Unfinished float64 `json:"unfinished"`
	// Deadline is the campaign's (zero without one); LateAtDeadline the
	// devices expected (the mean over runs) not done by it for the
	// schedule, not for failing; MissesDeadline that in at least half
	// the runs some are.
	Deadline       time.Time `json:"deadline,omitzero"`
	LateAtDeadline float64   `json:"late_at_deadline,omitempty"`
	MissesDeadline bool      `json:"misses_deadline,omitempty"`
	// LearnedFrom says what its runs were drawn from.
	LearnedFrom string `json:"learned_from"`
}

// AtRisk says whether the forecast puts the organisation at risk: it
// misses its campaign's deadline, or in most runs it does not finish
// without a person acting.
func (f OrgForecast) AtRisk() bool { return f.MissesDeadline || f.Unfinished >= 0.5 }

// What a row's at-risk rests on (its at_risk_from).
const (
	// RiskFromForecast: the forecast of a campaign that covers it.
	RiskFromForecast = "forecast"
	// RiskFromPace: the pace of the last week against the deadline,
	// where no forecast covers it.
	RiskFromPace = "pace"
)

// forecasts are the forecasts given to a builder, by organisation, and
// the whole campaign's for the total.
type forecasts struct {
	orgs  map[string]OrgForecast
	total *OrgForecast
}

func (f *forecasts) add(org string, of OrgForecast) {
	if f.orgs == nil {
		f.orgs = map[string]OrgForecast{}
	}
	f.orgs[org] = of
}

func (f *forecasts) of(org string, total bool) *OrgForecast {
	if total {
		return f.total
	}
	if of, ok := f.orgs[org]; ok {
		return &of
	}
	return nil
}

// CampaignForecast is a campaign's stored forecast as a report shows it:
// its organisations in the reader's scope and, for a reader of every
// organisation (Whole), the whole campaign's finish.
type CampaignForecast struct {
	Campaign string `json:"campaign"`
	// Whole says the reader sees every organisation: the campaign's
	// finish and waves are shown.
	Whole bool `json:"whole"`
	forecast.Forecast
}

// Org is the forecast of one organisation, as a row shows it.
func (c CampaignForecast) Org(o forecast.Org) OrgForecast {
	return OrgForecast{Campaign: c.Campaign, Made: c.From, P50: o.Finish.P50, P90: o.Finish.P90, Unfinished: o.Finish.Unfinished,
		Deadline: c.Deadline, LateAtDeadline: o.LateAtDeadline, MissesDeadline: o.MissesDeadline, LearnedFrom: o.LearnedFrom}
}

// Total is the whole campaign's, as the total row shows it: it misses
// the deadline when an organisation does.
func (c CampaignForecast) Total() OrgForecast {
	t := OrgForecast{Campaign: c.Campaign, Made: c.From, P50: c.Finish.P50, P90: c.Finish.P90, Unfinished: c.Finish.Unfinished,
		Deadline: c.Deadline, LearnedFrom: c.LearnedFrom}
	for _, o := range c.Orgs {
		t.LateAtDeadline += o.LateAtDeadline
		t.MissesDeadline = t.MissesDeadline || o.MissesDeadline
	}
	return t
}

// Later says whether f finishes after g: more often unfinished, else a
// later P90 (a zero one is not finishing), else a later P50.
func (f OrgForecast) Later(g OrgForecast) bool {
	switch {
	case f.Unfinished != g.Unfinished:
		return f.Unfinished > g.Unfinished
	case !f.P90.Equal(g.P90):
		return f.P90.IsZero() || (!g.P90.IsZero() && f.P90.After(g.P90))
	}
	return f.P50.After(g.P50)
}

// ForecastTaker is a report builder that shows forecasts beside its rows
// (ProgressBuilder, ComplianceBuilder).
type ForecastTaker interface {
	ForecastOrg(org string, f OrgForecast)
	ForecastTotal(f OrgForecast)
}

// GiveForecasts gives b the forecasts: each organisation the one of them
// that finishes it last (Later), and the total the campaign's when there
// is one forecast and it is Whole.
func GiveForecasts(b ForecastTaker, fs []CampaignForecast) {
	last := map[string]OrgForecast{}
	for _, c := range fs {
		for _, o := range c.Orgs {
			of := c.Org(o)
			if cur, ok := last[o.Org]; !ok || of.Later(cur) {
				last[o.Org] = of
			}
		}
	}
	for org, of := range last {
		b.ForecastOrg(org, of)
	}
	if len(fs) == 1 && fs[0].Whole {
		b.ForecastTotal(fs[0].Total())
	}
}

// Missing says how many of the forecast's organisations (in the reader's
// scope) are expected to miss its deadline, and how many devices will
// not be done by then for the schedule.
func (c CampaignForecast) Missing() string {
	n, late := 0, 0.0
	for _, o := range c.Orgs {
		if o.MissesDeadline {
			n++
		}
		late += o.LateAtDeadline
	}
	return fmt.Sprintf("%d of %d organisations expected to miss it, %.0f devices not started or not finished by then", n, len(c.Orgs), late)
}
