package html_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	xhtml "golang.org/x/net/html"

	"github.com/ringmaster-fleet/ringmaster/forecast"
	"github.com/ringmaster-fleet/ringmaster/internal/golden"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/report"
	"github.com/ringmaster-fleet/ringmaster/report/html"
)

// TestSelfContained renders a report and checks it is one self-contained
// file: well-formed, no scripts, nothing fetched from elsewhere, a row, a
// chart and a drill-down per organisation, and headers on every table.
func TestSelfContained(t *testing.T) {
	now := time.Date(2027, 1, 12, 20, 0, 0, 0, time.UTC)
	target, _, _ := inventory.ParseVersion("10.0.19045")
	orgs := []inventory.Organisation{{Code: "RAA", Name: "Alpha <Trust> & Co"}, {Code: "RBB", Name: "Beta"}}
	pb := report.NewProgress(orgs, report.ProgressOptions{TargetBuild: target, Now: now})
	sc := report.NewScorecard(orgs, target, nil, now)
	for i, org := range []string{"RAA", "RAA", "RBB"} {
		d := &inventory.Device{Hostname: "pc" + string(rune('a'+i)), Org: org, LastSeen: now}
		d.Facts.Set(inventory.FactOSBuild, []string{"10.0.19045", "10.0.18363", "10.0.18363"}[i], now)
		pb.Add(d, &report.CampaignState{State: []string{"succeeded", "failed", "running"}[i], Reason: "compat_blocked:0xC1900208"})
		sc.Add(d)
	}
	var b bytes.Buffer
	if err := html.Write(&b, html.Report{Title: "Estate report", Generated: now, Progress: pb.Build(), Scorecard: sc.Build()}); err != nil {
		t.Fatal(err)
	}
	doc, err := xhtml.Parse(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var rows, bars, details, tables, headed int
	var walk func(n *xhtml.Node)
	walk = func(n *xhtml.Node) {
		if n.Type == xhtml.ElementNode {
			switch n.Data {
			case "script", "link", "img", "iframe":
				t.Errorf("a self-contained report has a <%s>", n.Data)
			case "tr":
				if attr(n, "class") == "org" && strings.HasPrefix(attr(n, "id"), "org-") {
					rows++
				}
			case "svg":
				if attr(n, "class") == "bar" {
					bars++
				}
			case "details":
				details++
			case "table":
				tables++
				if strings.Contains(render(n), "<th") {
					headed++
				}
			}
			for _, a := range n.Attr {
				if (a.Key == "src" || a.Key == "href") && (strings.Contains(a.Val, "//") || strings.HasPrefix(a.Val, "http")) {
					t.Errorf("fetches %s", a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if rows != 2 || bars < 3 || details != 2 || tables == 0 || headed != tables {
		t.Errorf("rows %d, bars %d, details %d, tables %d (%d with headers)", rows, bars, details, tables, headed)
	}
	if !strings.Contains(b.String(), "Alpha &lt;Trust&gt; &amp; Co") {
		t.Error("an organisation name was not escaped")
	}
}

func attr(n *xhtml.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func render(n *xhtml.Node) string {
	var b bytes.Buffer
	xhtml.Render(&b, n)
	return b.String()
}

// TestForecastSection pins the forecast's HTML: its section (each
// campaign's forecast, with the deadline and who misses it) and the
// forecast finish and at-risk beside each organisation's progress.
func TestForecastSection(t *testing.T) {
	now := time.Date(2027, 1, 12, 20, 0, 0, 0, time.UTC)
	target, _, _ := inventory.ParseVersion("10.0.19045")
	orgs := []inventory.Organisation{{Code: "RAA", Name: "Alpha Trust"}, {Code: "RBB", Name: "Beta <Practice>"}}
	day := 24 * time.Hour
	fc := report.CampaignForecast{Campaign: "win10-22h2", Whole: true, Forecast: forecast.Forecast{
		From: now, Runs: 20, Deadline: now.Add(5 * day), LearnedFrom: "this campaign (412 runs)", WaitsForPerson: 0.1,
		Finish: forecast.Quantiles{P10: now.Add(3 * day), P50: now.Add(4 * day), P90: now.Add(6 * day)},
		Orgs: []forecast.Org{
			{Org: "RAA", Devices: 300, Finish: forecast.Quantiles{P10: now.Add(3 * day), P50: now.Add(4 * day), P90: now.Add(6 * day), Unfinished: 0.05},
				Failed: 6.2, Unreachable: 1.5, LateAtDeadline: 12.4, NotDoneByDeadline: 20, MissesDeadline: true, LearnedFrom: "this campaign, RAA (300 runs)"},
			{Org: "RBB", Devices: 12, Finish: forecast.Quantiles{P10: now.Add(day), P50: now.Add(day + 3*time.Hour), Unfinished: 0.6},
				Failed: 0.4, NotReached: 2, Halted: 0.6, LearnedFrom: "this campaign (412 runs)"}}}}
	pb := report.NewProgress(orgs, report.ProgressOptions{TargetBuild: target, Now: now})
	for i, org := range []string{"RAA", "RBB"} {
		d := &inventory.Device{Hostname: "pc" + string(rune('a'+i)), Org: org, LastSeen: now}
		d.Facts.Set(inventory.FactOSBuild, "10.0.18363", now)
		pb.Add(d, &report.CampaignState{State: "running"})
	}
	report.GiveForecasts(pb, []report.CampaignForecast{fc})
	var b bytes.Buffer
	if err := html.Write(&b, html.Report{Title: "Estate report", Generated: now, Progress: pb.Build(), Forecasts: []report.CampaignForecast{fc}}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	start, end := strings.Index(page, `<section id="forecast">`), strings.Index(page, "</section>")
	if start < 0 || end < start {
		t.Fatalf("no forecast section in\n%s", page)
	}
	got := page[start : end+len("</section>")]
	// And each organisation's row of progress, with its forecast finish
	// and at-risk.
	for _, org := range []string{"RAA", "RBB"} {
		i := strings.Index(page, `<tr class="org" id="org-`+org+`">`)
		if i < 0 {
			t.Fatalf("no progress row of %s", org)
		}
		got += "\n" + page[i:i+strings.Index(page[i:], "</tr>")+len("</tr>")]
	}
	golden.Check(t, "testdata/forecast-section.html", got+"\n")
}
