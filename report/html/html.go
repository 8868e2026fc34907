// Package html renders Ringmaster's reports as one self-contained HTML
// file: no scripts, no fonts or styles from elsewhere, charts as inline SVG,
// printable, every table with headers and every colour paired with a
// number or a label. The CLI writes it; a web dashboard can serve it.
package html

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/report"
)

//go:embed report.html.tmpl charts.css
var files embed.FS

// ChartCSS styles the charts Funcs draws (bars, gauges, line charts): the
// report inlines it, the dashboard serves it.
var ChartCSS = func() string {
	b, err := files.ReadFile("charts.css")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// Hatch is the SVG pattern a gauge at risk is filled with; a page showing
// gauges holds it once.
const Hatch = `<svg class="defs" width="0" height="0" aria-hidden="true"><defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#c62828"/><line x1="0" y1="0" x2="0" y2="6" stroke="#fff" stroke-width="2"/></pattern></defs></svg>`

// Funcs are the report's template functions, for another page drawing the
// same figures (the dashboard): pct, date, asof, bar (a progress row's
// stacked bar), gauge (a compliance row's), burndown (a Report's daily
// history) and campaignChart (a campaign's devices left over time).
func Funcs() template.FuncMap { return funcs }

var funcs = template.FuncMap{
	"pct":  func(f float64) string { return fmt.Sprintf("%.1f%%", f) },
	"date": func(t time.Time) string { return dateOr(t) },
	// asof is a row's freshness: its median observation day, and the
	// oldest when older.
	"asof": report.AsOfText,
	"abs": func(n int) int {
		if n < 0 {
			return -n
		}
		return n
	},
	"bar": progressBar,
	"gauge": func(c report.ComplianceRow) template.HTML {
		return gauge(c.CompliantPc, c.AtRisk)
	},
	"median": func(r report.ScorecardRow, alert string) string {
		if m, ok := r.MedianDays[alert]; ok {
			return fmt.Sprintf("%.1f", m)
		}
		return "-"
	},
	"burndown":      burndown,
	"campaignChart": campaignChart,
	"opt": func(f *float64) string {
		if f == nil {
			return "-"
		}
		return fmt.Sprintf("%.1f", *f)
	},
	// finish is a row's forecast finish: its P50 to its P90, and the
	// campaign it is of.
	"finish": func(f *report.OrgForecast) string {
		switch {
		case f == nil:
			return "-"
		case f.P50.IsZero():
			return fmt.Sprintf("not finishing (%s)", f.Campaign)
		case f.P90.IsZero():
			return fmt.Sprintf("%s, or not finishing (%s)", report.ForecastTime(f.P50), f.Campaign)
		}
		return fmt.Sprintf("%s to %s (%s)", report.ForecastTime(f.P50), report.ForecastTime(f.P90), f.Campaign)
	},
	// risk is a row's at-risk and what it rests on.
	"risk": func(at bool, from string) string {
		switch {
		case from == "":
			return "-"
		case at:
			return "at risk (" + from + ")"
		}
		return "no (" + from + ")"
	},
	"ftime":    report.ForecastTime,
	"share":    func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
	"chartCSS": func() template.CSS { return template.CSS(ChartCSS) },
	"hatch":    func() template.HTML { return Hatch },
}

var page = template.Must(template.New("report.html.tmpl").Funcs(funcs).ParseFS(files, "report.html.tmpl"))

// Report is what the page shows.
type Report struct {
	Title      string              `json:"title"`
	Generated  time.Time           `json:"generated_at"`
	Progress   report.Progress     `json:"progress"`
	Compliance []report.Compliance `json:"compliance"`
	Scorecard  report.Scorecard    `json:"scorecard"`
	// History is the daily snapshots (burn-down); Campaign, when one is
	// followed, how its devices finished over time.
	History  []report.Snapshot        `json:"history"`
	Campaign *report.CampaignProgress `json:"campaign"`
	// Sites is the progress per organisation and site (the drill-down);
	// Campaigns every campaign's waves by state.
	Sites     report.Progress          `json:"sites"`
	Campaigns []report.CampaignSummary `json:"campaigns"`
	// Forecasts are the stored forecasts of the campaigns followed (or
	// running), each organisation's beside its progress too.
	Forecasts []report.CampaignForecast `json:"forecasts"`
}

// SitesOf lists an organisation's rows of the per-site progress.
func (r Report) SitesOf(org string) []report.ProgressRow {
	var out []report.ProgressRow
	for _, s := range r.Sites.Rows {
		if s.Org == org {
			out = append(out, s)
		}
	}
	return out
}

// States are the campaign device states, in the order tables show them.
func (Report) States() []string {
	return []string{"pending", "queued", "running", "succeeded", "failed", "skipped", "deferred"}
}

// HistoryRow is one day of the estate's burn-down table.
type HistoryRow struct {
	Day         string
	NotOnTarget int
	Exposed     []int // per alert of the report, in order; -1 before the alert was in the history
}

// HistoryRows lists the estate's daily figures, oldest first.
func (r Report) HistoryRows() []HistoryRow {
	var out []HistoryRow
	for _, s := range report.HistoryOf(r.History, report.TotalOrg) {
		row := HistoryRow{Day: s.Day.Format(time.DateOnly), NotOnTarget: s.Devices - s.OnTarget}
		for _, c := range r.Compliance {
			n, ok := s.Affected[c.Alert]
			if !ok {
				row.Exposed = append(row.Exposed, -1)
				continue
			}
			row.Exposed = append(row.Exposed, n-s.Compliant[c.Alert])
		}
		out = append(out, row)
	}
	return out
}

// Write renders the report.
func Write(w io.Writer, r Report) error {
	return page.Execute(w, r)
}

func dateOr(t time.Time) string {
	if t.IsZero() {
		return "never observed"
	}
	return t.UTC().Format(time.DateOnly)
}

// segment is one part of a stacked bar.
type segment struct {
	label string
	n     int
	class string
}

// progressBar draws an organisation's devices as a stacked bar: migrated,
// in progress, failed, deferred, ineligible, not started. Each segment has
// a title (hover and screen readers) and the table beside it has the
// numbers, so colour is never the only signal.
func progressBar(r report.ProgressRow) template.HTML {
	const width, height = 300.0, 14.0
	segs := []segment{{"on target", r.OnTarget, "ok"}, {"in progress", r.InProgress, "run"}, {"failed", r.Failed, "fail"},
		{"deferred", r.Deferred, "defer"}, {"ineligible", r.Ineligible, "inel"}, {"not started", r.NotStarted, "todo"}}
	out := fmt.Sprintf(`<svg class="bar" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="%s: %d of %d devices on target">`,
		width, height, width, height, template.HTMLEscapeString(r.Org), r.OnTarget, r.Devices)
	x := 0.0
	for _, s := range segs {
		if r.Devices == 0 || s.n == 0 {
			continue
		}
		w := width * float64(s.n) / float64(r.Devices)
		out += fmt.Sprintf(`<rect class="%s" x="%.2f" y="0" width="%.2f" height="%g"><title>%s: %d</title></rect>`, s.class, x, w, height, s.label, s.n)
		x += w
	}
	return template.HTML(out + `</svg>`)
}

// gauge draws compliance as a bar with a mark at 100%, hatched when at
// risk (a pattern, not only a colour).
func gauge(pc float64, atRisk bool) template.HTML {
	const width, height = 200.0, 12.0
	class := "ok"
	if atRisk {
		class = "risk"
	}
	w := width * math.Max(0, math.Min(pc, 100)) / 100
	return template.HTML(fmt.Sprintf(`<svg class="bar" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="%.1f%% compliant"><rect class="track" x="0" y="0" width="%g" height="%g"/><rect class="%s" x="0" y="0" width="%.2f" height="%g"><title>%.1f%% compliant</title></rect></svg>`,
		width, height, width, height, pc, width, height, class, w, height, pc))
}

// series is one line of a chart; dash tells lines apart without colour.
type series struct {
	name   string
	class  string
	dash   string
	values []int
}

// lineChart draws series over labelled points as an SVG line chart, each
// point with a title, the y axis from 0 to the largest value; negative
// values are missing points.
func lineChart(label string, xs []string, ss []series) template.HTML {
	const w, h, left, bottom, top, right = 640.0, 220.0, 50.0, 30.0, 10.0, 20.0
	peak := 1
	for _, s := range ss {
		for _, v := range s.values {
			peak = max(peak, v)
		}
	}
	x := func(i int) float64 {
		if len(xs) < 2 {
			return left + (w-left-right)/2
		}
		return left + (w-left-right)*float64(i)/float64(len(xs)-1)
	}
	y := func(v int) float64 { return top + (h-top-bottom)*(1-float64(v)/float64(peak)) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="%s">`, w, h, w, h, template.HTMLEscapeString(label))
	fmt.Fprintf(&b, `<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/><line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/>`,
		left, top, left, h-bottom, left, h-bottom, w-right, h-bottom)
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="end">%d</text><text x="%g" y="%g" text-anchor="end">0</text>`, left-4, top+4, peak, left-4, h-bottom+4)
	if len(xs) > 0 {
		fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="start">%s</text>`, left, h-8, template.HTMLEscapeString(xs[0]))
		if len(xs) > 1 {
			fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="end">%s</text>`, w-right, h-8, template.HTMLEscapeString(xs[len(xs)-1]))
		}
	}
	for _, s := range ss {
		var pts []string
		for i, v := range s.values {
			if v >= 0 { // a negative value is a missing point
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
			}
		}
		fmt.Fprintf(&b, `<polyline class="%s" stroke-dasharray="%s" points="%s"><title>%s</title></polyline>`,
			s.class, s.dash, strings.Join(pts, " "), template.HTMLEscapeString(s.name))
		for i, v := range s.values {
			if v < 0 {
				continue
			}
			fmt.Fprintf(&b, `<circle class="%s" cx="%.1f" cy="%.1f" r="2.5"><title>%s, %s: %d</title></circle>`,
				s.class, x(i), y(v), template.HTMLEscapeString(s.name), template.HTMLEscapeString(xs[i]), v)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var lineStyles = []struct{ class, dash string }{{"l0", ""}, {"l1", "6 3"}, {"l2", "2 3"}, {"l3", "8 3 2 3"}}

// burndown draws the estate's daily history: devices not yet on the target
// build and, per alert, devices still exposed.
func burndown(r Report) template.HTML {
	rows := r.HistoryRows()
	if len(rows) == 0 {
		return ""
	}
	xs := make([]string, len(rows))
	ss := []series{{name: "devices not on build " + r.Progress.TargetBuild, class: lineStyles[0].class}}
	for i, c := range r.Compliance {
		st := lineStyles[(i+1)%len(lineStyles)]
		ss = append(ss, series{name: "exposed to " + c.Alert, class: st.class, dash: st.dash})
	}
	for i, row := range rows {
		xs[i] = row.Day
		ss[0].values = append(ss[0].values, row.NotOnTarget)
		for j, n := range row.Exposed {
			ss[j+1].values = append(ss[j+1].values, n)
		}
	}
	return lineChart("Burn-down: devices not on the target build and devices exposed to each alert, per day", xs, ss)
}

// campaignChart draws a campaign's devices not yet finished over time.
func campaignChart(c *report.CampaignProgress) template.HTML {
	times, left := c.Remaining(40)
	if len(times) == 0 {
		return ""
	}
	xs := make([]string, len(times))
	for i, t := range times {
		xs[i] = t.UTC().Format("2006-01-02 15:04")
	}
	return lineChart("Campaign "+c.Name+": devices not yet finished over time", xs,
		[]series{{name: "devices of " + c.Name + " not finished", class: lineStyles[0].class, values: left}})
}
