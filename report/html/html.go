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
	"time"

	"github.com/ringmaster-fleet/ringmaster/report"
)

//go:embed report.html.tmpl
var files embed.FS

var page = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"pct":  func(f float64) string { return fmt.Sprintf("%.1f%%", f) },
	"date": func(t time.Time) string { return dateOr(t) },
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
}).ParseFS(files, "report.html.tmpl"))

// Report is what the page shows.
type Report struct {
	Title      string
	Generated  time.Time
	Progress   report.Progress
	Compliance []report.Compliance
	Scorecard  report.Scorecard
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
