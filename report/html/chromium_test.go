package html_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/report"
	"github.com/ringmaster-fleet/ringmaster/report/html"
)

// TestOpensInChromium opens the report in headless Chromium (Debian's
// chromium, installed by .ci/run) and checks, in the DOM the browser
// built, that every organisation's row, bar and drill-down and the alert's
// chart are there; it also leaves a screenshot beside the test's files. It
// is skipped without Chromium unless RINGMASTER_REQUIRE_CHROMIUM is set.
func TestOpensInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("RINGMASTER_REQUIRE_CHROMIUM") != "" {
			t.Fatalf("chromium is required: %v (apt-get install chromium)", err)
		}
		t.Skip("no chromium")
	}
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
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + filepath.Join(dir, "profile")}
	dom, err := exec.CommandContext(ctx, bin, append(args, "--dump-dom", "file://"+page)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	for _, want := range []string{`id="org-RAA"`, `id="org-RBB"`, `id="org-RCC"`, `id="org-RDD"`, `id="detail-RDD"`,
		`id="alert-HSA-2019-0042"`, `class="bar"`, "national total", `id="campaign-win10-22h2"`, "Leeds General", "St James's"} {
		if !strings.Contains(string(dom), want) {
			t.Errorf("the page Chromium built lacks %s", want)
		}
	}
	if n := strings.Count(string(dom), `<svg class="bar"`); n < 4+1+4+1 {
		t.Errorf("%d charts, want a bar per organisation and total, and a gauge per organisation and total", n)
	}
	// The burn-downs: the campaign's, and the estate's with a line per
	// alert, each point with its figure.
	if n := strings.Count(string(dom), `<svg class="chart"`); n != 2 {
		t.Errorf("%d line charts, want the campaign's and the estate's burn-downs", n)
	}
	for _, want := range []string{"exposed to HSA-2019-0042, " + now.Format(time.DateOnly) + ": 15", "devices not on build 10.0.19045",
		"devices of win10-22h2 not finished"} {
		if !strings.Contains(string(dom), want) {
			t.Errorf("the burn-down lacks %q", want)
		}
	}
	shot := filepath.Join(dir, "report.png")
	if err := exec.CommandContext(ctx, bin, append(args, "--screenshot="+shot, "--window-size=1400,1400", "file://"+page)...).Run(); err != nil {
		t.Fatalf("chromium --screenshot: %v", err)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
}
