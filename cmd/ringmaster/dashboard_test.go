package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/ringmaster-fleet/ringmaster/internal/browsertest"
	"github.com/ringmaster-fleet/ringmaster/internal/npmtest"
)

// startServe runs ringmaster serve with args in env, and returns its base
// URL, its standard error, and stop, which ends it and returns its exit
// code (called when the test ends otherwise).
func startServe(t *testing.T, env func(string) string, args ...string) (base string, errs *lockedBuffer, stop func() int) {
	t.Helper()
	var out lockedBuffer
	errs = &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...), strings.NewReader(""), &out, errs, env)
	}()
	var once sync.Once
	code := -1
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(time.Minute):
				t.Errorf("serve did not stop within a minute of being asked")
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/`).FindStringSubmatch(out.String()); m != nil {
			return "http://" + m[1], errs, stop
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve printed no address: %s %s", out.String(), errs.String())
		}
	}
}

const dashboardCampaign = `name: dash
playbook: discover
target: 'org in (RA,RB)'
caps: {per_org: 1}
waves:
  - {name: pilot, count: 4}
  - {name: rest, approval: manual}
`

const dashboardAlert = `id: HSA-DASH
title: A flaw for the dashboard
issued: 2026-10-01
deadline: 2099-12-01
remediation:
  10.0.18363: [KB5000001]
`

// axeResult is a violation axe-core reports.
type axeResult struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  int    `json:"nodes"`
	Target string `json:"target"`
}

// TestDashboardInChromium drives the dashboard in headless Chromium
// against ringmaster serve running a campaign on the simulated fleet:
//   - an organisation's viewer signs in and sees only that organisation,
//     and, on a campaign page it never reloads, watches its own devices'
//     counts go to the end live (server-sent events);
//   - an operator (an approver) starts the campaign, pauses and resumes it
//     and approves its gated wave with the page's buttons, each asking for
//     confirmation, and watches the counts and the waves reach the end
//     without a reload;
//   - an admin reads those actions, with the actor, on the audit page;
//   - axe-core, run in the same Chromium, reports no serious or critical
//     violation on any page.
//
// It leaves screenshots in $RINGMASTER_ARTIFACTS and prints their paths.
// Skipped without Chromium or Node.js unless CI's RINGMASTER_REQUIRE_*
// are set.
func TestDashboardInChromium(t *testing.T) {
	bin := browsertest.Chromium(t)
	_, npm := npmtest.Tools(t)
	axeDir := npmtest.Install(t, npm, filepath.Join("testdata", "axe"), "axe")
	axeJS, err := os.ReadFile(filepath.Join(axeDir, "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	art := browsertest.Artifacts(t)

	_, call, env := fleetEstate(t, 12, nil)
	token := func(args ...string) string {
		o, e, code := call("", append([]string{"token", "create"}, args...)...)
		if code != 0 {
			t.Fatal(e)
		}
		return strings.TrimSpace(o)
	}
	raViewer := token("ra-manager", "--role", "viewer", "--scope", "org:RA")
	ops := token("ops", "--role", "approver", "--scope", "estate")
	admin := token("auditor", "--role", "admin", "--scope", "estate")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, errs, _ := startServe(t, env, "--workers", "2")
	api := func(path, body string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("POST %s: %d", path, res.StatusCode)
		}
	}
	spec, _ := json.Marshal(map[string]string{"file": "dash.yaml", "spec": dashboardCampaign})
	api("/api/v1/campaigns", string(spec))
	al, _ := json.Marshal(map[string]string{"file": "hsa.yaml", "yaml": dashboardAlert})
	api("/api/v1/alerts", string(al))

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900))...)
	defer cancelAlloc()
	browser, closeBrowser := chromedp.NewContext(allocCtx)
	defer closeBrowser()
	if err := chromedp.Do(browser); err != nil { // starts Chromium
		t.Fatalf("start chromium: %v", err)
	}
	// Each person has a browser context of their own: their own cookies.
	var mu sync.Mutex
	var confirms []string
	person := func(name, tok string) context.Context {
		t.Helper()
		c, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		// The tab is made before anything else uses the context: chromedp
		// makes it on first use, which two goroutines must not race to.
		if err := chromedp.Do(c); err != nil {
			t.Fatalf("%s: open a tab: %v", name, err)
		}
		// Every confirmation the page asks for is read, then accepted.
		go func() {
			for ev, err := range chromedp.Events(c, page.JavascriptDialogOpening) {
				if err != nil {
					return
				}
				mu.Lock()
				confirms = append(confirms, name+": "+ev.Message)
				mu.Unlock()
				go chromedp.Call(c, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			}
		}()
		// Signing in: sent to the sign-in page, then back.
		if err := chromedp.Do(c, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("token")),
			chromedp.SetValue(chromedp.ID("token"), tok), chromedp.Submit(chromedp.ID("token")), chromedp.WaitVisible(chromedp.ID("orgs-table"))); err != nil {
			t.Fatalf("%s: sign in: %v", name, err)
		}
		return c
	}
	shoot := func(c context.Context, name string) {
		t.Helper()
		shot, err := chromedp.Run(c, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(art, "dashboard-"+name+".png")
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	var axeMu sync.Mutex
	axed := map[string]bool{}
	axe := func(c context.Context, name string) {
		t.Helper()
		if _, err := chromedp.Run(c, chromedp.Evaluate[chromedp.Void](string(axeJS)+";undefined")); err != nil {
			t.Fatalf("%s: load axe-core: %v", name, err)
		}
		vs, err := chromedp.Run(c, chromedp.Evaluate[[]axeResult](`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v =>
			({id: v.id, impact: v.impact || "", help: v.help, nodes: v.nodes.length, target: v.nodes.length ? v.nodes[0].target.join(" ") : ""})))`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: axe.run: %v", name, err)
		}
		for _, v := range vs {
			if v.Impact == "serious" || v.Impact == "critical" {
				t.Errorf("%s: axe: %s (%s) on %d elements, first %s: %s", name, v.ID, v.Impact, v.Nodes, v.Target, v.Help)
			} else {
				t.Logf("%s: axe (%s): %s on %d elements", name, v.Impact, v.ID, v.Nodes)
			}
		}
		axeMu.Lock()
		axed[name] = true
		axeMu.Unlock()
	}
	text := func(c context.Context, js string) string {
		t.Helper()
		s, err := chromedp.Run(c, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return s
	}
	// waitFor evaluates js until it is true; the page may reload between
	// tries (after an action), which is not an error.
	waitFor := func(c context.Context, what, js string, within time.Duration) {
		t.Helper()
		var last error
		for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			ok, err := chromedp.Run(c, chromedp.Evaluate[bool]("(() => { try { return !!("+js+"); } catch (e) { return false; } })()"))
			if err == nil && ok {
				return
			}
			last = err
		}
		t.Fatalf("%s: not within %s (%v)\nserver: %s", what, within, last, errs.String())
	}
	click := func(c context.Context, sel string) {
		t.Helper()
		if err := chromedp.Do(c, chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatalf("click %s: %v", sel, err)
		}
	}
	open := func(c context.Context, path, ready string) {
		t.Helper()
		if err := chromedp.Do(c, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS(ready))); err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
	}

	// An organisation's viewer sees that organisation alone.
	viewer := person("ra-manager", raViewer)
	orgsShown := text(viewer, `[...document.querySelectorAll("#orgs-table tr.org")].map(r => r.dataset.org).join(",")`)
	if orgsShown != "RA" {
		t.Errorf("RA's viewer sees organisations %q, want RA alone", orgsShown)
	}
	if body := text(viewer, `document.body.innerText`); strings.Contains(body, "RB") || strings.Contains(body, ".rb.") {
		t.Errorf("RA's viewer's overview names RB:\n%s", body)
	}
	shoot(viewer, "overview-ra-viewer")
	axe(viewer, "overview")
	// Another organisation's page is not found for it, as one that does
	// not exist is not: an error page, which says nothing of RB.
	open(viewer, "/ui/orgs/RB", "p.problem")
	if body := text(viewer, `document.body.innerText`); !strings.Contains(strings.ToLower(body), "not found") || strings.Contains(body, ".rb.") {
		t.Errorf("RA's viewer asking for RB's page reads:\n%s", body)
	}
	axe(viewer, "error")
	// It opens the campaign's page before it starts and never reloads it.
	open(viewer, "/ui/campaigns/dash", "#counts")
	if _, err := chromedp.Run(viewer, chromedp.Evaluate[bool](`window.kept = true`)); err != nil {
		t.Fatal(err)
	}
	if n := text(viewer, `document.querySelector('[data-count="pending"]').textContent`); n != "6" {
		t.Errorf("RA's viewer sees %s devices pending in the draft, want its 6", n)
	}
	if n := text(viewer, `String(document.querySelectorAll("form[data-api]").length)`); n != "0" {
		t.Errorf("a viewer is offered %s buttons, want none", n)
	}
	axe(viewer, "campaign")

	// The operator starts it, pauses and resumes it once the pilot is
	// done, and approves the gated wave, each from the page's buttons.
	operator := person("ops", ops)
	open(operator, "/ui/campaigns/dash", "#counts")
	if _, err := chromedp.Run(operator, chromedp.Evaluate[bool](`window.before = true`)); err != nil {
		t.Fatal(err)
	}
	click(operator, `form[data-api$="/start"] button`) // the page reloads once the API answers
	waitFor(operator, "the campaign running", `window.before === undefined && document.getElementById("campaign-status")?.textContent === "running" && !!document.querySelector('form[data-api$="/pause"]')`, 30*time.Second)
	if _, err := chromedp.Run(operator, chromedp.Evaluate[bool](`window.kept = true`)); err != nil {
		t.Fatal(err)
	}
	// The button to approve the gated wave appears once the pilot is
	// done, without a reload.
	waitFor(operator, "the rest wave awaiting approval", `window.kept === true && !!document.querySelector('form[data-api$="/waves/rest/approve"]')`, 2*time.Minute)
	shoot(operator, "campaign-awaiting-approval")
	axe(operator, "campaign-operator")
	click(operator, `form[data-api$="/pause"] button`)
	waitFor(operator, "the campaign paused", `document.getElementById("campaign-status")?.textContent === "paused" && !!document.querySelector('form[data-api$="/resume"]')`, 30*time.Second)
	click(operator, `form[data-api$="/resume"] button`)
	waitFor(operator, "the campaign resumed", `document.getElementById("campaign-status")?.textContent === "running" && !!document.querySelector('form[data-api$="/waves/rest/approve"]')`, 30*time.Second)
	click(operator, `form[data-api$="/waves/rest/approve"] button`)
	waitFor(operator, "the approval taken", `!document.querySelector('form[data-api$="/waves/rest/approve"]') && !!document.getElementById("counts")`, 30*time.Second)
	if _, err := chromedp.Run(operator, chromedp.Evaluate[bool](`window.kept = true`)); err != nil {
		t.Fatal(err)
	}
	// Both pages follow the campaign to its end without a reload.
	waitFor(operator, "the operator's counts at the end", `window.kept === true && document.querySelector('[data-count="succeeded"]').textContent === "12"`, 2*time.Minute)
	waitFor(operator, "the operator's waves at the end", `window.kept === true && document.querySelector('tr[data-wave="rest"] [data-field="succeeded"]').textContent === "8" && document.querySelector('tr[data-wave="rest"] [data-field="status"]').textContent === "done"`, time.Minute)
	waitFor(viewer, "RA's viewer's counts at the end", `window.kept === true && document.querySelector('[data-count="succeeded"]').textContent === "6"`, time.Minute)
	if feed := text(viewer, `document.getElementById("feed").innerText`); !strings.Contains(feed, ".ra.") || strings.Contains(feed, ".rb.") {
		t.Errorf("RA's viewer's live transitions, want RA's devices alone:\n%s", feed)
	}
	shoot(viewer, "campaign-ra-viewer-live")
	shoot(operator, "campaign-done")
	mu.Lock()
	got := slices.Clone(confirms)
	mu.Unlock()
	for _, want := range []string{"ops: Start campaign dash?", "ops: Pause campaign dash?", "ops: Resume campaign dash?", "ops: Approve wave rest of dash?"} {
		if !slices.ContainsFunc(got, func(c string) bool { return strings.HasPrefix(c, want) }) {
			t.Errorf("no confirmation %q; asked: %q", want, got)
		}
	}

	// The other pages, each checked by axe.
	for _, p := range []struct{ path, ready, name string }{
		{"/ui/orgs/RA", "#sites", "org"},
		{"/ui/campaigns", "main table", "campaigns"},
		{"/ui/alerts/HSA-DASH", "#orgs-h", "alert"},
		{"/ui/devices/pc000.ra.nhs.uk", "#facts-h", "device"},
	} {
		open(operator, p.path, p.ready)
		axe(operator, p.name)
		shoot(operator, p.name)
	}

	// The admin reads the operator's actions in the audit trail.
	auditor := person("auditor", admin)
	open(auditor, "/ui/audit?actor=ops", "#audit")
	trail := text(auditor, `document.getElementById("audit").innerText`)
	for _, action := range []string{"campaign.start", "campaign.pause", "campaign.resume", "campaign.approve"} {
		if !regexp.MustCompile(`(?m)ops \(\w+\).*` + regexp.QuoteMeta(action) + `\s+dash`).MatchString(trail) {
			t.Errorf("the audit page lacks ops's %s of dash:\n%s", action, trail)
		}
	}
	shoot(auditor, "audit")
	axe(auditor, "audit")
	// The sign-in page, and the overview at a phone's width.
	signin, cancelSignin := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancelSignin()
	open(signin, "/ui/signin", "#token")
	axe(signin, "signin")
	if err := chromedp.Do(auditor, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("orgs-table"))); err != nil {
		t.Fatal(err)
	}
	shoot(auditor, "overview-phone")
	if len(axed) < 10 {
		t.Errorf("axe ran on %d pages: %v", len(axed), axed)
	}
}
