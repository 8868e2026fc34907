package html_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/internal/browsertest"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/report"
	"github.com/ringmaster-fleet/ringmaster/report/html"
)

// TestOpensInChromium opens the report in headless Chromium (Debian's
// chromium, installed by .ci/run), driven over the DevTools protocol, and
// checks what only a browser can tell: at a phone's and a laptop's width
// nothing reaches past the window outside a box that scrolls, every chart is
// laid out with a size, and the page prints to PDF. It also checks the
// page it loaded holds every organisation's row, bar and drill-down and
// the alert's chart, and leaves the screenshots and the PDF in
// $RINGMASTER_ARTIFACTS (printing their paths). It is skipped without
// Chromium unless RINGMASTER_REQUIRE_CHROMIUM is set.
func TestOpensInChromium(t *testing.T) {
	bin := browsertest.Chromium(t)
	now := time.Date(2019, 8, 24, 12, 0, 0, 0, time.UTC)
	data, err := os.ReadFile("../testdata/dejablue.yaml")
	if err != nil {
		t.Fatal(err)
	}
	al, err := alerts.Parse("dejablue.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	target, _, _ := inventory.ParseVersion("10.0.19045")
	var orgs []inventory.Organisation
	for _, c := range []string{"RAA", "RBB", "RCC", "RDD"} {
		orgs = append(orgs, inventory.Organisation{Code: c, Name: c + " NHS Trust"})
	}
	pb := report.NewProgress(orgs, report.ProgressOptions{TargetBuild: target, Now: now})
	sites := report.NewProgress(orgs, report.ProgressOptions{TargetBuild: target, Now: now, BySite: true})
	cb := report.NewCompliance(al, orgs, now)
	sc := report.NewScorecard(orgs, target, []*alerts.Alert{al}, now)
	builds := []string{"10.0.19045", "10.0.18363", "10.0.17763", "6.1.7601"}
	for i := range 40 {
		d := &inventory.Device{Hostname: "pc", Org: orgs[i%4].Code, Site: []string{"Leeds General", "St James's"}[i%2], LastSeen: now}
		d.Facts.Set(inventory.FactOSBuild, builds[i%len(builds)], now)
		d.Facts.Set(inventory.FactKBs, []string{"KB4512508", "", "KB4511553", ""}[i%4], now)
		st := &report.CampaignState{State: []string{"succeeded", "running", "failed", "pending"}[i%4], Reason: "rolled_back:0xC1900101"}
		pb.Add(d, st)
		sites.Add(d, st)
		cb.Add(d)
		sc.Add(d)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	// Three days of history and a campaign's finishes: the burn-downs.
	var hist []report.Snapshot
	for d := range 3 {
		hist = append(hist, report.Snapshot{Day: now.Truncate(24*time.Hour).AddDate(0, 0, d-2), Org: "TOTAL", Devices: 40, OnTarget: 4 + 3*d,
			Affected: map[string]int{al.ID: 30}, Compliant: map[string]int{al.ID: 5 + 5*d}})
	}
	camp := &report.CampaignProgress{Name: "win10-22h2", Devices: 30}
	for i := range 20 {
		camp.Finished = append(camp.Finished, now.Add(-time.Duration(20-i)*time.Hour))
	}
	if err := html.Write(f, html.Report{Title: "Estate report", Generated: now, Progress: pb.Build(),
		Compliance: []report.Compliance{cb.Build()}, Scorecard: sc.Build(), History: hist, Campaign: camp, Sites: sites.Build(),
		Campaigns: []report.CampaignSummary{{Name: "win10-22h2", Playbook: "win10-feature-update", Status: "running",
			Waves: []report.WaveSummary{{Name: "pilot", Status: "done", Devices: 4, States: map[string]int{"succeeded": 3, "failed": 1}}}}}}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(filepath.Join(dir, "profile")))...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()

	if err := chromedp.Do(browser, chromedp.Navigate("file://"+page)); err != nil {
		t.Fatalf("open the report in chromium: %v", err)
	}
	dom, err := chromedp.Run(browser, chromedp.OuterHTML("html"))
	if err != nil {
		t.Fatalf("read the page chromium built: %v", err)
	}
	for _, want := range []string{`id="org-RAA"`, `id="org-RBB"`, `id="org-RCC"`, `id="org-RDD"`, `id="detail-RDD"`,
		`id="alert-HSA-2019-0042"`, `class="bar"`, "national total", `id="campaign-win10-22h2"`, "Leeds General", "St James's"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page Chromium built lacks %s", want)
		}
	}
	if n := strings.Count(dom, `<svg class="bar"`); n < 4+1+4+1 {
		t.Errorf("%d charts, want a bar per organisation and total, and a gauge per organisation and total", n)
	}
	// The burn-downs: the campaign's, and the estate's with a line per
	// alert, each point with its figure.
	if n := strings.Count(dom, `<svg class="chart"`); n != 2 {
		t.Errorf("%d line charts, want the campaign's and the estate's burn-downs", n)
	}
	for _, want := range []string{"exposed to HSA-2019-0042, " + now.Format(time.DateOnly) + ": 15", "devices not on build 10.0.19045",
		"devices of win10-22h2 not finished"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the burn-down lacks %q", want)
		}
	}

	// What only a browser can tell: at a phone's and a laptop's width no
	// element reaches past the window except inside a box that scrolls,
	// every chart is laid out with a size, and the page prints.
	art := browsertest.Artifacts(t)
	for _, vp := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"phone", 390, 844, true}, {"laptop", 1366, 768, false}} {
		opts := []chromedp.EmulateViewportOption{}
		if vp.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
		}
		if err := chromedp.Do(browser, chromedp.EmulateViewport(vp.width, vp.height, opts...), chromedp.Navigate("file://"+page)); err != nil {
			t.Fatalf("%s: %v", vp.name, err)
		}
		got, err := chromedp.Run(browser, chromedp.Evaluate[layout](layoutJS))
		if err != nil {
			t.Fatalf("%s: measure the layout: %v", vp.name, err)
		}
		shot, err := chromedp.Run(browser, chromedp.FullScreenshot(100)) // quality 100: PNG
		if err != nil {
			t.Fatalf("%s: screenshot: %v", vp.name, err)
		}
		if len(got.Overflow) > 0 {
			t.Errorf("%s (%d px): %d elements reach past the window (page %d px wide), first: %s", vp.name, got.Viewport, len(got.Overflow), got.DocWidth, strings.Join(got.Overflow[:min(5, len(got.Overflow))], "; "))
		}
		if len(got.Charts) < 12 {
			t.Errorf("%s: %d charts laid out, want at least 12", vp.name, len(got.Charts))
		}
		for _, c := range got.Charts {
			if c.W < 10 || c.H < 4 {
				t.Errorf("%s: chart %q is %.0f×%.0f px", vp.name, c.Class, c.W, c.H)
			}
		}
		path := filepath.Join(art, "report-"+vp.name+".png")
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot at %s width: %s", vp.name, path)
	}
	pdf, err := chromedp.Run(browser, chromedp.PrintToPDF(func(p *cdppage.PrintToPDFParams) { yes := true; p.PrintBackground = &yes }))
	if err != nil {
		t.Fatalf("print: %v", err)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) || len(pdf) < 20_000 {
		t.Errorf("printing gave %d bytes, not a PDF of the report", len(pdf))
	}
	path := filepath.Join(art, "report.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("printed to %s", path)
}

// layout is what layoutJS measures.
type layout struct {
	Viewport int      `json:"viewport"`
	DocWidth int      `json:"docWidth"`
	Overflow []string `json:"overflow"`
	Charts   []struct {
		Class string  `json:"cls"`
		W     float64 `json:"w"`
		H     float64 `json:"h"`
	} `json:"charts"`
}

// layoutJS lists the elements whose right edge is past the window and that
// no ancestor scrolls or clips sideways, and the size of every chart.
const layoutJS = `(() => {
  const vw = document.documentElement.clientWidth;
  const clipped = el => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (/(auto|scroll|hidden|clip)/.test(getComputedStyle(p).overflowX)) return true;
    }
    return false;
  };
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className ? '.' + el.className.split(' ').join('.') : '');
  const overflow = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > vw + 1 && !clipped(el)) overflow.push(name(el) + ' to ' + Math.round(r.right) + 'px');
  }
  const charts = [...document.querySelectorAll('svg:not([aria-hidden="true"])')].filter(s => s.getClientRects().length > 0)
    .map(s => { const r = s.getBoundingClientRect(); return {cls: s.getAttribute('class') || '', w: r.width, h: r.height}; });
  return {viewport: vw, docWidth: document.documentElement.scrollWidth, overflow, charts};
})()`
