package html_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	xhtml "golang.org/x/net/html"

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
