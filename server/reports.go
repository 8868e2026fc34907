package server

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/report"
	rhtml "github.com/ringmaster-fleet/ringmaster/report/html"
	"github.com/ringmaster-fleet/ringmaster/reports"
)

// reportCache is how long a report's response is kept per scope and
// query: figures computed over the estate stay fresh to the half minute.
const reportCache = 30 * time.Second

// Alerts is what the API reads and changes of the High Severity Alerts
// (alerts.Store).
type Alerts interface {
	Get(ctx context.Context, id string) (*alerts.Alert, error)
	List(ctx context.Context) ([]*alerts.Alert, error)
	Add(ctx context.Context, a *alerts.Alert, source []byte) error
	Remove(ctx context.Context, id string) error
}

func (s *Server) reportRoutes() {
	rs := s.cfg.Reports
	type progressIn struct {
		Selector string `query:"selector" doc:"only devices matching this selector"`
		Campaign string `query:"campaign" doc:"split devices not yet migrated by their state in this campaign"`
		Target   string `query:"target_build" doc:"the build (or later) that counts as migrated (default 10.0.19045)"`
		BySite   bool   `query:"by_site" doc:"a row per organisation and site"`
	}
	handleRendered(s, Op{ID: "report-progress", Method: "GET", Path: "/api/v1/reports/progress", Summary: "The Windows 10 migration per organisation (or site) in scope", Tag: "reports", Role: access.Viewer, Formats: []string{"text/csv"}, Cache: reportCache},
		func(ctx context.Context, c *Call, in *progressIn) (report.Progress, error) {
			sel, err := selectorParam(in.Selector)
			if err != nil {
				return report.Progress{}, err
			}
			tb, err := versionParam("target_build", in.Target, reports.DefaultTargetBuild)
			if err != nil {
				return report.Progress{}, err
			}
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return report.Progress{}, err
			}
			return rs.ProgressIn(ctx, orgs, reports.ProgressOptions{Selector: sel, Campaign: in.Campaign, TargetBuild: tb, BySite: in.BySite})
		}, func(w io.Writer, p report.Progress, f string) error { return report.WriteProgress(w, p, f) })
	type scorecardIn struct {
		Selector  string `query:"selector"`
		Supported string `query:"supported_build" doc:"the oldest Windows 10 build that counts as supported"`
		Sort      string `query:"sort" doc:"org, supported, not_seen or an alert id"`
	}
	handleRendered(s, Op{ID: "report-scorecard", Method: "GET", Path: "/api/v1/reports/scorecard", Summary: "The leadership scorecard: a row per organisation in scope", Tag: "reports", Role: access.Viewer, Formats: []string{"text/csv"}, Cache: reportCache},
		func(ctx context.Context, c *Call, in *scorecardIn) (report.Scorecard, error) {
			sel, err := selectorParam(in.Selector)
			if err != nil {
				return report.Scorecard{}, err
			}
			sb, err := versionParam("supported_build", in.Supported, reports.DefaultSupportedBuild)
			if err != nil {
				return report.Scorecard{}, err
			}
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return report.Scorecard{}, err
			}
			return rs.ScorecardIn(ctx, orgs, reports.ScorecardOptions{Selector: sel, SupportedBuild: sb, Sort: in.Sort})
		}, func(w io.Writer, sc report.Scorecard, f string) error { return report.WriteScorecard(w, sc, f) })
	type alertsIn struct {
		After string `query:"after" doc:"the cursor of the page before (its next): an alert's id"`
		Limit int    `query:"limit" doc:"alerts in a page: 1 to 1000, default 500"`
	}
	type estateIn struct {
		Selector  string `query:"selector" doc:"only devices matching this selector"`
		Campaign  string `query:"campaign" doc:"follow this campaign: split devices not yet migrated by their state in it, and draw its burn-down"`
		Target    string `query:"target_build" doc:"the build (or later) that counts as migrated (default 10.0.19045)"`
		Supported string `query:"supported_build" doc:"the oldest Windows 10 build that counts as supported (default 10.0.19044)"`
	}
	handleRendered(s, Op{ID: "report-estate", Method: "GET", Path: "/api/v1/reports/estate", Summary: "The estate report (the HTML page): progress, sites, scorecard, compliance, daily history and campaigns of the organisations in scope", Tag: "reports", Role: access.Viewer, Formats: []string{"text/html"}, Cache: reportCache},
		func(ctx context.Context, c *Call, in *estateIn) (rhtml.Report, error) {
			sel, err := selectorParam(in.Selector)
			if err != nil {
				return rhtml.Report{}, err
			}
			tb, err := versionParam("target_build", in.Target, reports.DefaultTargetBuild)
			if err != nil {
				return rhtml.Report{}, err
			}
			sb, err := versionParam("supported_build", in.Supported, reports.DefaultSupportedBuild)
			if err != nil {
				return rhtml.Report{}, err
			}
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return rhtml.Report{}, err
			}
			r, err := rs.EstateIn(ctx, orgs, reports.EstateOptions{Selector: sel, Campaign: in.Campaign, TargetBuild: tb, SupportedBuild: sb})
			return estateJSON(r), err
		}, func(w io.Writer, r rhtml.Report, _ string) error { return rhtml.Write(w, r) })
	type historyIn struct {
		Since string `query:"since" doc:"the first day (YYYY-MM-DD, UTC); default the first recorded"`
		Until string `query:"until" doc:"the last day (YYYY-MM-DD, UTC); default today"`
		Days  int    `query:"days" doc:"the number of days up to until (instead of since)"`
	}
	handleRendered(s, Op{ID: "report-history", Method: "GET", Path: "/api/v1/reports/history", Summary: "The daily history: each organisation's figures per day, and their total, in scope", Tag: "reports", Role: access.Viewer, Formats: []string{"text/csv"}, Cache: reportCache},
		func(ctx context.Context, c *Call, in *historyIn) (report.Daily, error) {
			var o reports.HistoryOptions
			var err error
			if o.From, err = dateParam("since", in.Since); err != nil {
				return report.Daily{}, err
			}
			if o.To, err = dateParam("until", in.Until); err != nil {
				return report.Daily{}, err
			}
			o.Days = in.Days
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return report.Daily{}, err
			}
			return rs.HistoryIn(ctx, orgs, o)
		}, func(w io.Writer, d report.Daily, f string) error { return report.WriteDaily(w, d, f) })
	handle(s, Op{ID: "alerts-list", Method: "GET", Path: "/api/v1/alerts", Summary: "List the High Severity Alerts", Tag: "alerts", Role: access.Viewer},
		func(ctx context.Context, c *Call, in *alertsIn) (List[Alert], error) {
			as, err := s.cfg.Alerts.List(ctx)
			if err != nil {
				return List[Alert]{}, err
			}
			out := make([]Alert, 0, len(as))
			for _, a := range as {
				out = append(out, alertOf(a))
			}
			return listOf(out, in.After, in.Limit, func(a Alert) string { return a.ID })
		})
	type alertIn struct {
		ID string `path:"id"`
	}
	handle(s, Op{ID: "alert-show", Method: "GET", Path: "/api/v1/alerts/{id}", Summary: "Show a High Severity Alert", Tag: "alerts", Role: access.Viewer},
		func(ctx context.Context, c *Call, in *alertIn) (Alert, error) {
			a, err := s.cfg.Alerts.Get(ctx, in.ID)
			if err != nil {
				return Alert{}, err
			}
			return alertOf(a), nil
		})
	type complianceIn struct {
		ID       string `path:"id"`
		Selector string `query:"selector"`
	}
	handleRendered(s, Op{ID: "alert-compliance", Method: "GET", Path: "/api/v1/alerts/{id}/compliance", Summary: "Compliance with an alert per organisation in scope", Tag: "alerts", Role: access.Viewer, Formats: []string{"text/csv"}, Cache: reportCache},
		func(ctx context.Context, c *Call, in *complianceIn) (report.Compliance, error) {
			sel, err := selectorParam(in.Selector)
			if err != nil {
				return report.Compliance{}, err
			}
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return report.Compliance{}, err
			}
			cs, err := rs.ComplianceIn(ctx, orgs, sel, in.ID)
			if err != nil {
				return report.Compliance{}, err
			}
			return cs[0].Compliance, nil
		}, func(w io.Writer, cp report.Compliance, f string) error { return report.WriteCompliance(w, cp, f) })
}

// render gives v as JSON, or as the format the caller asked for written
// by write (report's "csv").
func (c *Call) render(v any, write func(w io.Writer, format string) error) any {
	if c.format == "" || c.format == "application/json" {
		return v
	}
	return Rendered{ContentType: c.format + "; charset=utf-8", Write: func(w io.Writer) error { return write(w, shortFormat(c.format)) }}
}

// estateJSON is r with empty lists where it has none, as its schema has
// them (an array, not null).
func estateJSON(r rhtml.Report) rhtml.Report {
	r.Compliance = nonNil(r.Compliance)
	r.History = nonNil(r.History)
	r.Campaigns = nonNil(r.Campaigns)
	if r.Campaign != nil {
		cp := *r.Campaign
		cp.Finished = nonNil(cp.Finished)
		r.Campaign = &cp
	}
	return r
}

// dateParam reads a day, YYYY-MM-DD (UTC); "" is the zero time.
func dateParam(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return t, &BadRequestError{Where: "query parameter " + name, Err: fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)}
	}
	return t, nil
}

func selectorParam(s string) (inventory.Selector, error) {
	sel, err := inventory.ParseSelector(s)
	if err != nil {
		return sel, &BadRequestError{Where: "query parameter selector", Err: err}
	}
	return sel, nil
}

func versionParam(name, s, def string) (inventory.Version, error) {
	if s == "" {
		s = def
	}
	v, _, err := inventory.ParseVersion(s)
	if err != nil {
		return v, &BadRequestError{Where: "query parameter " + name, Err: err}
	}
	return v, nil
}
