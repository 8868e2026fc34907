package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/audit"
	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/metrics"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
	"github.com/ringmaster-fleet/ringmaster/report"
	"github.com/ringmaster-fleet/ringmaster/reports"
	"github.com/ringmaster-fleet/ringmaster/server"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

// now is the tests' time: a Monday morning.
var now = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

// The estate every test starts from: three organisations, RA and RB in
// the region "north", RC in "south", four devices each; a running
// national campaign over all three with a manual gate on its second wave,
// a draft campaign over RA, and an alert all of them are exposed to.
var orgs = []inventory.Organisation{
	{Code: "RA", Name: "Alpha Hospitals NHS Trust", TimeZone: "Europe/London", Tags: []string{"north"}},
	{Code: "RB", Name: "Bravo Community Trust", TimeZone: "Europe/London", Tags: []string{"north"}},
	{Code: "RC", Name: "Charlie Care Partnership", TimeZone: "Europe/London", Tags: []string{"south"}},
}

const alertSrc = `id: HSA-1
title: A wormable flaw
issued: 2026-10-01
deadline: 2026-12-01
remediation:
  10.0.18363: [KB5000001]
`

const national = `name: national
playbook: discover
waves:
  - {name: pilot, percent: 50}
  - {name: rest, approval: manual}
`

var (
	templateOnce sync.Once
	templateDir  string
	templateErr  error
)

// template builds the estate once, in a file each test copies.
func template() (string, error) {
	templateOnce.Do(func() {
		templateDir, templateErr = os.MkdirTemp("", "server-test-")
		if templateErr != nil {
			return
		}
		templateErr = buildEstate(filepath.Join(templateDir, "r.db"))
	})
	return filepath.Join(templateDir, "r.db"), templateErr
}

func TestMain(m *testing.M) {
	code := m.Run()
	if templateDir != "" {
		os.RemoveAll(templateDir)
	}
	os.Exit(code)
}

func buildEstate(path string) error {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path, sqlite.Options{Now: func() time.Time { return now }})
	if err != nil {
		return err
	}
	defer db.Close()
	inv := db.Inventory()
	for _, o := range orgs {
		if err := inv.CreateOrganisation(ctx, &o); err != nil {
			return err
		}
	}
	var csv strings.Builder
	// Each device is observed without the alert's update: exposed to it.
	csv.WriteString("hostname,org,site,build,kbs\n")
	for _, o := range orgs {
		for i := 1; i <= 4; i++ {
			fmt.Fprintf(&csv, "%s-%02d.nhs.uk,%s,%s-main,10.0.18363,KB1000001\n", strings.ToLower(o.Code), i, o.Code, strings.ToLower(o.Code))
		}
	}
	r, err := format.NewCSVReader(strings.NewReader(csv.String()), "estate.csv", now)
	if err != nil {
		return err
	}
	if _, err := inv.Import(ctx, r, inventory.ImportOptions{}); err != nil {
		return err
	}
	as, err := db.Alerts(ctx)
	if err != nil {
		return err
	}
	al, err := alerts.ParseContext(ctx, "hsa-1.yaml", []byte(alertSrc))
	if err != nil {
		return err
	}
	if err := as.Add(ctx, al, []byte(alertSrc)); err != nil {
		return err
	}
	cs := campaignService(db)
	if _, err := cs.Create(ctx, "national.yaml", []byte(national)); err != nil {
		return err
	}
	if _, err := cs.Start(ctx, "national"); err != nil {
		return err
	}
	if err := failOnePerOrg(ctx, db); err != nil {
		return err
	}
	// The forecast a node would have stored, for the dashboard.
	if _, err := cs.Forecast(ctx, "national", campaigns.ForecastOptions{Runs: 20, ApprovalDelay: 24 * time.Hour, Seed: 1}); err != nil {
		return err
	}
	if _, err := cs.Create(ctx, "ra-only.yaml", []byte("name: ra-only\nplaybook: discover\ntarget: org=RA\nwaves: [{name: all}]\n")); err != nil {
		return err
	}
	// Every store's tables exist before the file is copied.
	if _, err := db.Tokens(ctx); err != nil {
		return err
	}
	if _, err := db.Audit(ctx); err != nil {
		return err
	}
	return recordHistory(ctx, db)
}

// recordHistory records the estate's snapshots of yesterday and today, so
// that every organisation has a daily history.
func recordHistory(ctx context.Context, db *sqlite.DB) error {
	hs, err := db.History(ctx)
	if err != nil {
		return err
	}
	as, err := db.Alerts(ctx)
	if err != nil {
		return err
	}
	rs, err := reports.New(reports.Config{Inventory: db.Inventory(), Alerts: as, History: hs, Now: func() time.Time { return now }})
	if err != nil {
		return err
	}
	r, err := rs.Estate(ctx, reports.EstateOptions{Selector: inventory.Everything(), TargetBuild: version(reports.DefaultTargetBuild),
		SupportedBuild: version(reports.DefaultSupportedBuild)})
	if err != nil {
		return err
	}
	for _, day := range []time.Time{now.AddDate(0, 0, -1), now} {
		if err := hs.Record(ctx, report.Snapshots(day, r.Progress, r.Scorecard, r.Compliance)); err != nil {
			return err
		}
	}
	return nil
}

func version(s string) inventory.Version {
	v, _, err := inventory.ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

// failOnePerOrg runs the controller's first pass on the national
// campaign (its pilot wave starts, its devices are dispatched) and fails
// the first pilot device of each organisation, as their workers would.
func failOnePerOrg(ctx context.Context, db *sqlite.DB) error {
	s, err := db.Campaigns(ctx)
	if err != nil {
		return err
	}
	c, err := s.Campaign(ctx, "national")
	if err != nil {
		return err
	}
	v, err := orchestrator.ReadView(ctx, s, db.Inventory(), c)
	if err != nil {
		return err
	}
	plan := orchestrator.Decide(v, now)
	if err := v.Err(); err != nil {
		return err
	}
	if _, err := s.Apply(ctx, "national", c.Seq, plan, now, "controller", nil); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, h := range plan.Dispatch {
		d, err := s.Device(ctx, "national", h)
		if err != nil {
			return err
		}
		if seen[d.Org] {
			continue
		}
		seen[d.Org] = true
		if _, err := s.Begin(ctx, "national", h, d.Generation, now, time.Minute); err != nil {
			return err
		}
		if err := s.Finish(ctx, "national", h, d.Generation, orchestrator.DeviceFailed, orchestrator.ReasonBadRun, "", time.Time{}); err != nil {
			return err
		}
	}
	if len(seen) != len(orgs) {
		return fmt.Errorf("the pilot holds devices of %d organisations, want %d", len(seen), len(orgs))
	}
	return nil
}

func campaignService(db *sqlite.DB) *campaigns.Service {
	ctx := context.Background()
	cs, err := db.Campaigns(ctx)
	if err != nil {
		panic(err)
	}
	as, err := db.Alerts(ctx)
	if err != nil {
		panic(err)
	}
	return campaigns.New(campaigns.Config{Store: cs, Inventory: db.Inventory(), Alerts: as, Playbooks: builtin.Library{}.Source, Now: func() time.Time { return now }})
}

// fixture is one test's server over its own copy of the estate.
type fixture struct {
	t      *testing.T
	db     *sqlite.DB
	srv    *server.Server
	http   *httptest.Server
	tokens *sqlite.Tokens
	trail  *sqlite.Audit
	now    time.Time
	path   string // the database file
}

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, nil) }

// newFixtureWith is newFixture with the server's configuration changed by
// with (given the fixture's database) before the server is made.
func newFixtureWith(t *testing.T, with func(*fixture, *server.Config)) *fixture {
	t.Helper()
	src, err := template()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "r.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, now: now, path: path}
	ctx := context.Background()
	f.db, err = sqlite.Open(ctx, path, sqlite.Options{Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.db.Close() })
	if f.tokens, err = f.db.Tokens(ctx); err != nil {
		t.Fatal(err)
	}
	if f.trail, err = f.db.Audit(ctx); err != nil {
		t.Fatal(err)
	}
	as, err := f.db.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := f.db.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cstore, err := f.db.Campaigns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := reports.New(reports.Config{Inventory: f.db.Inventory(), Alerts: as, History: hs, Campaigns: cstore, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	cs := campaignService(f.db)
	cfg := server.Config{Tokens: f.tokens, Audit: f.trail, Inventory: f.db.Inventory(), Alerts: as,
		Campaigns: cs, Reports: rs, Now: func() time.Time { return f.now }, Wall: func() time.Time { return f.now }, Version: "test",
		Metrics: metrics.New(cs, nil)}
	if with != nil {
		with(f, &cfg)
	}
	f.srv, err = server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.http = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.http.Close)
	return f
}

// token stores a token and returns its secret.
func (f *fixture) token(subject string, role access.Role, scope string) string {
	f.t.Helper()
	sc, err := access.ParseScope(scope)
	if err != nil {
		f.t.Fatal(err)
	}
	secret, tk, err := access.NewToken(rand.Reader, subject, role, sc, f.now, time.Hour)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.tokens.CreateToken(context.Background(), tk); err != nil {
		f.t.Fatal(err)
	}
	return secret
}

// examplePath is an example's path with {rb-token} replaced by the id of
// a token it stores for an operator of RB.
func (f *fixture) examplePath(path string) string {
	f.t.Helper()
	if strings.Contains(path, "{rb-token}") {
		rb := f.token("rb-ops", access.Operator, "org:RB")
		id, _, _ := access.SplitToken(rb)
		path = strings.ReplaceAll(path, "{rb-token}", id)
	}
	return path
}

// do sends a request and returns the status and body.
func (f *fixture) do(method, path, token, body string) (int, []byte, http.Header) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.http.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.http.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// scopes are the kinds of scope every route is called over, each with
// what it must never see.
var scopes = []struct {
	name, scope string
	foreign     []string // organisations outside it
}{
	{"national", "estate", nil},
	{"regional", "region:north", []string{"RC"}},
	{"organisation", "org:RA", []string{"RB", "RC"}},
}

// example is one call of an operation, with the status a caller whose
// role suffices gets over each scope (national, regional, organisation).
type example struct {
	path, body string
	want       [3]int
}

const (
	ok        = http.StatusOK
	forbidden = http.StatusForbidden
	notFound  = http.StatusNotFound
	conflict  = http.StatusConflict
	bad       = http.StatusBadRequest
)

// examples holds at least one call of every operation the server
// registers (TestEveryRouteAsEveryRole fails for one without).
var examples = map[string][]example{
	"whoami": {{"/api/v1/whoami", "", [3]int{ok, ok, ok}}},
	"orgs-list": {
		{"/api/v1/orgs", "", [3]int{ok, ok, ok}},
		{"/api/v1/orgs?tag=north&limit=1&after=RA", "", [3]int{ok, ok, ok}},
		{"/api/v1/orgs?limit=1001", "", [3]int{bad, bad, bad}},
	},
	"org-show":     {{"/api/v1/orgs/RB", "", [3]int{ok, ok, notFound}}, {"/api/v1/orgs/rc", "", [3]int{ok, notFound, notFound}}},
	"devices-list": {{"/api/v1/devices", "", [3]int{ok, ok, ok}}, {"/api/v1/devices?selector=org%3DRC&limit=2", "", [3]int{ok, ok, ok}}},
	"inventory-import": {
		{"/api/v1/inventory/import", `[{"hostname":"ra-99.nhs.uk","org":"RA","site":"ra-main"}]`, [3]int{ok, ok, ok}},
		{"/api/v1/inventory/import?dry_run=true&name=x.json", `[{"hostname":"rc-99.nhs.uk","org":"RC"}]`, [3]int{ok, bad, bad}},
		{"/api/v1/inventory/import", `[{"hostname":"rb-01.nhs.uk","org":"RA"}]`, [3]int{ok, ok, bad}}, // another's device
		{"/api/v1/inventory/import?create_orgs=true", `[{"hostname":"rz-01.nhs.uk","org":"RZ"}]`, [3]int{ok, forbidden, forbidden}},
		{"/api/v1/inventory/import?date_format=nonsense", `[]`, [3]int{bad, bad, bad}},
	},
	"discovery-create": {
		{"/api/v1/discovery", `{"selector":"org=RA","start":false}`, [3]int{ok, ok, ok}},
		{"/api/v1/discovery", `{"name":"probe-all"}`, [3]int{ok, ok, ok}}, // every device in scope
		{"/api/v1/discovery", `{"selector":"org=RC"}`, [3]int{ok, bad, bad}},
		{"/api/v1/discovery", `{"selector":"build>"}`, [3]int{bad, bad, bad}},
	},
	"device-show": {{"/api/v1/devices/rb-01.nhs.uk", "", [3]int{ok, ok, notFound}}},
	"campaigns-list": {
		{"/api/v1/campaigns", "", [3]int{ok, ok, ok}},
		{"/api/v1/campaigns?status=running&limit=1", "", [3]int{ok, ok, ok}},
		{"/api/v1/campaigns?status=sleeping", "", [3]int{bad, bad, bad}},
	},
	"campaign-create": {
		{"/api/v1/campaigns", `{"spec":"name: ra2\nplaybook: discover\ntarget: org=RA\nwaves: [{name: all}]\n"}`, [3]int{ok, ok, ok}},
		{"/api/v1/campaigns", `{"spec":"name: all2\nplaybook: discover\nwaves: [{name: all}]\n"}`, [3]int{ok, forbidden, forbidden}},
		{"/api/v1/campaigns", `{"spec":"name: Bad!\n"}`, [3]int{bad, bad, bad}},
	},
	"campaign-show":   {{"/api/v1/campaigns/national", "", [3]int{ok, ok, ok}}, {"/api/v1/campaigns/nope", "", [3]int{notFound, notFound, notFound}}},
	"campaign-start":  {{"/api/v1/campaigns/ra-only/start", "", [3]int{ok, ok, ok}}, {"/api/v1/campaigns/national/start", "", [3]int{conflict, forbidden, forbidden}}},
	"campaign-pause":  {{"/api/v1/campaigns/national/pause", "", [3]int{ok, forbidden, forbidden}}},
	"campaign-resume": {{"/api/v1/campaigns/national/resume", "", [3]int{conflict, forbidden, forbidden}}},
	"campaign-cancel": {{"/api/v1/campaigns/ra-only/cancel", "", [3]int{ok, ok, ok}}},
	"wave-approve":    {{"/api/v1/campaigns/national/waves/rest/approve", `{"reason":"pilot looks good"}`, [3]int{ok, forbidden, forbidden}}},
	"wave-continue": {
		{"/api/v1/campaigns/national/waves/pilot/continue", `{"org":"RC"}`, [3]int{ok, forbidden, forbidden}},
		{"/api/v1/campaigns/national/waves/pilot/continue", `{}`, [3]int{ok, forbidden, forbidden}},
	},
	"campaign-retry": {
		{"/api/v1/campaigns/national/retry", `{}`, [3]int{ok, ok, ok}},
		{"/api/v1/campaigns/national/retry", `{"org":"RC"}`, [3]int{ok, forbidden, forbidden}},
	},
	"campaign-devices": {
		{"/api/v1/campaigns/national/devices", "", [3]int{ok, ok, ok}},
		{"/api/v1/campaigns/national/devices?org=RB&limit=2", "", [3]int{ok, ok, forbidden}},
		{"/api/v1/campaigns/ra-only/devices?limit=0", "", [3]int{ok, ok, ok}}, // the region covers one of its organisations
	},
	"campaign-events": {
		{"/api/v1/campaigns/national/events?follow=false", "", [3]int{ok, ok, ok}},
		{"/api/v1/campaigns/national/events?format=sse&follow=false", "", [3]int{ok, ok, ok}},
		{"/api/v1/campaigns/ra-only/events?after=-1", "", [3]int{bad, bad, bad}},
	},
	"campaign-device":  {{"/api/v1/campaigns/national/devices/rb-02.nhs.uk", "", [3]int{ok, ok, notFound}}},
	"report-progress":  {{"/api/v1/reports/progress", "", [3]int{ok, ok, ok}}, {"/api/v1/reports/progress?format=csv&campaign=national", "", [3]int{ok, ok, ok}}},
	"report-scorecard": {{"/api/v1/reports/scorecard?sort=supported", "", [3]int{ok, ok, ok}}, {"/api/v1/reports/scorecard?format=csv", "", [3]int{ok, ok, ok}}},
	"alerts-list":      {{"/api/v1/alerts", "", [3]int{ok, ok, ok}}, {"/api/v1/alerts?after=HSA-1", "", [3]int{ok, ok, ok}}},
	"playbooks-list":   {{"/api/v1/playbooks", "", [3]int{ok, ok, ok}}, {"/api/v1/playbooks?after=discover&limit=1", "", [3]int{ok, ok, ok}}},
	"playbook-show":    {{"/api/v1/playbooks/install-kb", "", [3]int{ok, ok, ok}}, {"/api/v1/playbooks/nope", "", [3]int{notFound, notFound, notFound}}, {"/api/v1/playbooks/..%2Fetc", "", [3]int{bad, bad, bad}}},
	"playbook-validate": {
		{"/api/v1/playbooks/validate", `{"yaml":"name: own\nversion: 1.0.0\nsteps:\n  - name: hi\n    powershell: Write-Output hi\n"}`, [3]int{ok, ok, ok}},
		{"/api/v1/playbooks/validate", `{"file":"bad.yaml","yaml":"name: Bad\n"}`, [3]int{ok, ok, ok}},
		{"/api/v1/playbooks/validate", `{}`, [3]int{bad, bad, bad}},
	},
	"report-estate": {
		{"/api/v1/reports/estate", "", [3]int{ok, ok, ok}},
		{"/api/v1/reports/estate?format=html&campaign=national", "", [3]int{ok, ok, ok}},
		{"/api/v1/reports/estate?campaign=ra-only&selector=build%3C10.0.19041", "", [3]int{ok, ok, ok}},
		{"/api/v1/reports/estate?campaign=nope", "", [3]int{notFound, notFound, notFound}},
		{"/api/v1/reports/estate?supported_build=x", "", [3]int{bad, bad, bad}},
	},
	"report-history": {
		{"/api/v1/reports/history", "", [3]int{ok, ok, ok}},
		{"/api/v1/reports/history?format=csv&days=7", "", [3]int{ok, ok, ok}},
		{"/api/v1/reports/history?since=2026-11-02&until=2026-11-01", "", [3]int{bad, bad, bad}},
		{"/api/v1/reports/history?since=yesterday", "", [3]int{bad, bad, bad}},
	},
	"alert-show": {{"/api/v1/alerts/HSA-1", "", [3]int{ok, ok, ok}}},
	// An alert changes every organisation's figures: adding or removing
	// one needs the estate.
	"alert-add": {
		{"/api/v1/alerts", `{"file":"hsa-2.yaml","yaml":"id: HSA-2\ntitle: Another\nissued: 2026-10-15\ndeadline: 2026-12-15\nremediation:\n  10.0.18363: [KB5000002]\n"}`, [3]int{ok, forbidden, forbidden}},
		{"/api/v1/alerts", `{"yaml":"id: HSA-1\ntitle: Again\nissued: 2026-10-15\ndeadline: 2026-12-15\nremediation:\n  10.0.18363: [KB5000002]\n"}`, [3]int{conflict, forbidden, forbidden}},
		{"/api/v1/alerts", `{"file":"bad.yaml","yaml":"id: HSA-3\ntitle: Bad\nissued: 2026-10-15\ndeadline: soon\nremediation:\n  10.0.18363: [KB5000002]\n"}`, [3]int{bad, forbidden, forbidden}},
	},
	"alert-remove": {
		{"/api/v1/alerts/HSA-1", "", [3]int{ok, forbidden, forbidden}},
		{"/api/v1/alerts/HSA-9", "", [3]int{notFound, forbidden, forbidden}},
	},
	// A remediation is bounded to the caller's scope: every scope has
	// exposed devices of its own.
	"alert-remediate": {
		{"/api/v1/alerts/HSA-1/remediate", `{"source":"\\\\dp01\\updates$","pilot_soak":"1h"}`, [3]int{ok, ok, ok}},
		{"/api/v1/alerts/HSA-1/remediate", `{"source":"C:\\updates","name":"national"}`, [3]int{conflict, conflict, conflict}},
		{"/api/v1/alerts/HSA-9/remediate", `{"source":"C:\\updates"}`, [3]int{notFound, notFound, notFound}},
		{"/api/v1/alerts/HSA-1/remediate", `{}`, [3]int{bad, bad, bad}},
		{"/api/v1/alerts/HSA-1/remediate", `{"source":"C:\\updates","pilot_soak":"soon"}`, [3]int{bad, bad, bad}},
	},
	"alert-compliance": {{"/api/v1/alerts/HSA-1/compliance", "", [3]int{ok, ok, ok}}, {"/api/v1/alerts/HSA-1/compliance?format=csv", "", [3]int{ok, ok, ok}}},
	"tokens-list":      {{"/api/v1/tokens", "", [3]int{ok, ok, ok}}, {"/api/v1/tokens?subject=nobody", "", [3]int{ok, ok, ok}}},
	"token-create": {
		{"/api/v1/tokens", `{"subject":"ra-dashboard","role":"viewer","scope":"org:RA"}`, [3]int{ok, ok, ok}},
		{"/api/v1/tokens", `{"subject":"everyone","role":"viewer","scope":"estate"}`, [3]int{ok, forbidden, forbidden}},
		{"/api/v1/tokens", `{"subject":"rc","role":"operator","scope":"org:RC"}`, [3]int{ok, forbidden, forbidden}},
		{"/api/v1/tokens", `{"subject":"x","role":"root","scope":"org:RA"}`, [3]int{bad, bad, bad}},
	},
	"token-revoke": {{"/api/v1/tokens/{rb-token}", "", [3]int{ok, ok, notFound}}},
	"audit-list":   {{"/api/v1/audit", "", [3]int{ok, ok, ok}}, {"/api/v1/audit?format=ndjson&action=campaign.", "", [3]int{ok, ok, ok}}},
}

// TestEveryRouteAsEveryRole calls every operation as every role over a
// national, a regional and an organisation scope: a role below the
// operation's is refused, a scope bounds what is seen and done, no
// response names another organisation's code, name or device, and every
// change is in the audit trail with its actor and outcome.
func TestEveryRouteAsEveryRole(t *testing.T) {
	probe := newFixture(t)
	for _, op := range probe.srv.Ops() {
		exs := examples[op.ID]
		if len(exs) == 0 {
			t.Errorf("operation %s (%s %s) has no example here: every route is tested as every role", op.ID, op.Method, op.Path)
			continue
		}
		for i, ex := range exs {
			for si, sc := range scopes {
				for _, role := range access.Roles {
					name := fmt.Sprintf("%s/%d/%s/%s", op.ID, i, sc.name, role)
					t.Run(name, func(t *testing.T) {
						f := newFixture(t)
						token := f.token("tester-"+string(role), role, sc.scope)
						path := f.examplePath(ex.path)
						want := ex.want[si]
						if !role.Has(op.Role) {
							want = forbidden
						}
						status, body, _ := f.do(op.Method, path, token, ex.body)
						if status != want {
							t.Fatalf("%s %s as %s over %s = %d, want %d: %s", op.Method, path, role, sc.scope, status, want, body)
						}
						checkNoLeak(t, body, sc.foreign, path+" "+ex.body)
						if op.Audit != "" {
							checkAudited(t, f, op, "tester-"+string(role), status)
						}
					})
				}
			}
		}
	}
}

// checkNoLeak fails if body names an organisation in foreign, by code,
// name or device, unless the request named it (an error may repeat what
// was asked). A new token's secret is random text, so it is not read.
func checkNoLeak(t *testing.T, body []byte, foreign []string, request string) {
	t.Helper()
	text := regexp.MustCompile(`"secret":"[^"]*"`).ReplaceAllString(string(body), "")
	for _, code := range foreign {
		var name string
		for _, o := range orgs {
			if o.Code == code {
				name = o.Name
			}
		}
		for _, word := range []string{code, strings.ToLower(code) + "-0", name} {
			if regexp.MustCompile(`\b`+regexp.QuoteMeta(word)).MatchString(text) && !strings.Contains(strings.ToLower(request), strings.ToLower(word)) {
				t.Fatalf("the response names %q, outside the caller's scope:\n%s", word, text)
			}
		}
	}
}

// checkAudited checks the last entry of the trail is the call's.
func checkAudited(t *testing.T, f *fixture, op server.Op, actor string, status int) {
	t.Helper()
	es, err := f.trail.List(context.Background(), audit.Query{Limit: audit.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 {
		t.Fatalf("%s: nothing in the audit trail", op.ID)
	}
	e := es[len(es)-1]
	want := audit.Done
	switch {
	case status == forbidden:
		want = audit.Refused
	case status != ok:
		want = audit.Failed
	}
	if e.Action != op.Audit || e.Actor != actor || e.Outcome != want || e.Via != access.ViaToken || e.TokenID == "" || e.From == "" {
		t.Fatalf("%s: the audit trail's last entry is %+v, want %s by %s via a token, %s", op.ID, e, op.Audit, actor, want)
	}
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	good := f.token("viewer", access.Viewer, "estate")
	revoked := f.token("gone", access.Viewer, "estate")
	id, _, err := access.SplitToken(revoked)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.tokens.RevokeToken(context.Background(), id, f.now); err != nil {
		t.Fatal(err)
	}
	expiring := f.token("brief", access.Viewer, "estate")
	tests := []struct {
		name, token string
		advance     time.Duration
		want        int
	}{
		{"none", "", 0, http.StatusUnauthorized},
		{"garbage", "hello", 0, http.StatusUnauthorized},
		{"another secret for a real id", good[:len(good)-4] + "AAAA", 0, http.StatusUnauthorized},
		{"revoked", revoked, 0, http.StatusUnauthorized},
		{"good", good, 0, ok},
		{"expired", expiring, 2 * time.Hour, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.now = now.Add(tt.advance)
			status, body, h := f.do("GET", "/api/v1/whoami", tt.token, "")
			if status != tt.want {
				t.Fatalf("status %d, want %d: %s", status, tt.want, body)
			}
			if status == http.StatusUnauthorized {
				if h.Get("WWW-Authenticate") == "" || h.Get("Content-Type") != "application/problem+json" {
					t.Errorf("401 without a challenge or a problem document: %v", h)
				}
				if bytes.Contains(body, []byte(tt.token)) && tt.token != "" {
					t.Errorf("the problem document repeats the token: %s", body)
				}
			}
		})
	}
}

func TestGuessingIsSlowed(t *testing.T) {
	f := newFixture(t)
	good := f.token("viewer", access.Viewer, "estate")
	for i := range 5 {
		if status, _, _ := f.do("GET", "/api/v1/whoami", fmt.Sprintf("rmt_%012d_%043d", i, i), ""); status != http.StatusUnauthorized {
			t.Fatalf("guess %d: status %d, want 401", i, status)
		}
	}
	status, body, h := f.do("GET", "/api/v1/whoami", good, "")
	if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("after 5 failed guesses from one address: %d %s (Retry-After %q), want 429 with Retry-After", status, body, h.Get("Retry-After"))
	}
	f.now = now.Add(time.Minute + time.Second)
	if status, body, _ := f.do("GET", "/api/v1/whoami", good, ""); status != ok {
		t.Fatalf("after the window: %d %s", status, body)
	}
}

func TestProblemDocuments(t *testing.T) {
	f := newFixture(t)
	admin := f.token("admin", access.Admin, "estate")
	tests := []struct {
		name, method, path, body string
		status                   int
		detail                   string
	}{
		{"unknown route", "GET", "/api/v1/nope", "", notFound, "no operation at GET /api/v1/nope"},
		{"bad limit", "GET", "/api/v1/devices?limit=x", "", bad, "query parameter limit"},
		{"bad selector", "GET", "/api/v1/devices?selector=build%3E%3Dx", "", bad, "query parameter selector"},
		{"bad format", "GET", "/api/v1/reports/scorecard?format=pdf", "", bad, "query parameter format"},
		{"unknown body field", "POST", "/api/v1/campaigns/national/retry", `{"nope":1}`, bad, "body"},
		{"two bodies", "POST", "/api/v1/campaigns/national/retry", `{}{}`, bad, "more than one JSON value"},
		{"a campaign file's error", "POST", "/api/v1/campaigns", `{"file":"x.yaml","spec":"name: x\nplaybook: nope\nwaves: [{name: all}]\n"}`, bad, "x.yaml: playbook nope"},
		// The server reads no file a caller names: a playbook is a name.
		{"a playbook path", "POST", "/api/v1/campaigns", `{"spec":"name: x\nplaybook: /etc/passwd\nwaves: [{name: all}]\n"}`, bad, "a server reads no path a caller names"},
		{"a playbook path with a dot", "POST", "/api/v1/campaigns", `{"spec":"name: x\nplaybook: ../server.go\nwaves: [{name: all}]\n"}`, bad, "a server reads no path a caller names"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, h := f.do(tt.method, tt.path, admin, tt.body)
			var p server.Problem
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("not a problem document: %s", body)
			}
			if status != tt.status || p.Status != status || h.Get("Content-Type") != "application/problem+json" || !strings.Contains(p.Detail, tt.detail) || p.Title == "" {
				t.Fatalf("%d %s, want %d with %q", status, body, tt.status, tt.detail)
			}
		})
	}
}

// TestScopedCampaign checks what an organisation's operator sees of a
// national campaign and that its retry touches its own devices only.
func TestScopedCampaign(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cstore, err := f.db.Campaigns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ra := f.token("ra-ops", access.Operator, "org:RA")
	status, body, _ := f.do("GET", "/api/v1/campaigns/national", ra, "")
	if status != ok {
		t.Fatalf("show: %d %s", status, body)
	}
	var d campaigns.Detail
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range d.States {
		total += n
	}
	if total != 4 || d.States["failed"] != 1 {
		t.Fatalf("RA's operator sees %d devices, %d failed; want its 4, 1 failed: %s", total, d.States["failed"], body)
	}
	status, body, _ = f.do("POST", "/api/v1/campaigns/national/retry", ra, `{}`)
	if status != ok || !strings.Contains(string(body), `"devices":1`) {
		t.Fatalf("retry: %d %s, want 1 device retried", status, body)
	}
	for _, org := range []string{"RB", "RC"} {
		ds, err := cstore.Devices(ctx, "national", orchestrator.DeviceFilter{Org: org, State: orchestrator.DeviceFailed}, -1, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 {
			t.Errorf("%s has %d failed devices after RA's retry, want its 1 untouched", org, len(ds))
		}
	}
}

// TestMetrics serves the counts to an estate-wide caller only, and counts
// the API's requests by operation and status.
func TestMetrics(t *testing.T) {
	f := newFixture(t)
	estate := f.token("prometheus", access.Viewer, "estate")
	ra := f.token("ra", access.Admin, "org:RA")
	f.do("GET", "/api/v1/campaigns/nope", estate, "")
	if status, body, _ := f.do("GET", "/metrics", ra, ""); status != forbidden {
		t.Fatalf("metrics to an organisation's admin: %d %s", status, body)
	}
	if status, _, _ := f.do("GET", "/metrics", "", ""); status != http.StatusUnauthorized {
		t.Fatalf("metrics without a token: %d", status)
	}
	status, body, _ := f.do("GET", "/metrics", estate, "")
	if status != ok {
		t.Fatalf("metrics: %d %s", status, body)
	}
	for _, want := range []string{
		`ringmaster_campaign_devices{campaign="national",state="failed",status="running"} 3`,
		`ringmaster_campaign_devices{campaign="ra-only",state="pending",status="draft"} 4`,
		`ringmaster_queue_depth{campaign="national"} 3`,
		`ringmaster_http_requests_total{code="404",operation="campaign-show"} 1`,
		`ringmaster_campaigns_scrape_error 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestReportsAreCached: a report is computed once a period per scope and
// query, says its age, is never served to another scope, and a change
// through the server empties the cache.
func TestReportsAreCached(t *testing.T) {
	f := newFixture(t)
	estate := f.token("estate", access.Operator, "estate")
	ra := f.token("ra", access.Viewer, "org:RA")
	_, first, h := f.do("GET", "/api/v1/reports/scorecard", ra, "")
	if h.Get("Age") != "0" {
		t.Fatalf("a fresh report's Age = %q", h.Get("Age"))
	}
	f.now = now.Add(10 * time.Second)
	_, again, h := f.do("GET", "/api/v1/reports/scorecard", ra, "")
	if h.Get("Age") != "10" || string(again) != string(first) {
		t.Fatalf("within the period: Age %q, same body %v", h.Get("Age"), string(again) == string(first))
	}
	_, all, _ := f.do("GET", "/api/v1/reports/scorecard", estate, "")
	if !strings.Contains(string(all), `"RC"`) || strings.Contains(string(first), `"RC"`) {
		t.Fatalf("the estate's scorecard lacks RC, or RA's has it:\n%s\n%s", all, first)
	}
	if status, body, _ := f.do("POST", "/api/v1/campaigns/national/pause", estate, ""); status != ok {
		t.Fatalf("pause: %d %s", status, body)
	}
	if _, _, h := f.do("GET", "/api/v1/reports/scorecard", ra, ""); h.Get("Age") != "0" {
		t.Fatalf("after a change, Age = %q, want a new computation", h.Get("Age"))
	}
	f.now = now.Add(time.Minute)
	if _, _, h := f.do("GET", "/api/v1/reports/scorecard", ra, ""); h.Get("Age") != "0" {
		t.Fatalf("past the period, Age = %q, want a new computation", h.Get("Age"))
	}
}

// TestPlaybooks lists (a page at a time), shows and checks playbooks:
// every problem of a bad one is given with its file and line.
func TestPlaybooks(t *testing.T) {
	f := newFixture(t)
	viewer := f.token("viewer", access.Viewer, "org:RA")
	get := func(path string, out any) {
		t.Helper()
		status, body, _ := f.do("GET", path, viewer, "")
		if status != ok {
			t.Fatalf("GET %s = %d: %s", path, status, body)
		}
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatal(err)
		}
	}
	var list server.List[server.Playbook]
	get("/api/v1/playbooks?limit=2", &list)
	if len(list.Items) != 2 || list.Next != list.Items[1].Name || list.Items[0].Source != "builtin" {
		t.Fatalf("first page: %+v", list)
	}
	var rest server.List[server.Playbook]
	get("/api/v1/playbooks?after="+list.Next, &rest)
	if rest.Next != "" || len(list.Items)+len(rest.Items) != len(builtin.Names()) || rest.Items[0].Name <= list.Next {
		t.Fatalf("second page after %q: %+v", list.Next, rest)
	}
	var kb server.Playbook
	get("/api/v1/playbooks/install-kb", &kb)
	if kb.Version == "" || kb.Steps == 0 || len(kb.Params) == 0 || !strings.Contains(kb.YAML, "name: install-kb") {
		t.Errorf("install-kb: %+v", kb)
	}

	var check server.PlaybookCheck
	status, body, _ := f.do("POST", "/api/v1/playbooks/validate", viewer, `{"file":"bad.yaml","yaml":"name: Bad\nversion: 1\n"}`)
	if status != ok || json.Unmarshal(body, &check) != nil || check.Valid || len(check.Problems) != 3 {
		t.Fatalf("validate a bad playbook = %d %s; want 3 problems", status, body)
	}
	for _, p := range check.Problems {
		if p.File != "bad.yaml" || p.Line == 0 {
			t.Errorf("a problem without its file and line: %+v", p)
		}
	}
}

// TestScopedEstateReport: the estate page and the daily history of a
// regional and an organisation's reader hold their organisations alone,
// with totals over them, and the campaigns with devices among them,
// counting those devices.
func TestScopedEstateReport(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		scope     string
		devices   int
		campaigns map[string]int
		names     []string
	}{
		{"estate", 12, map[string]int{"national": 12, "ra-only": 4}, []string{"Alpha", "Bravo", "Charlie"}},
		{"region:north", 8, map[string]int{"national": 8, "ra-only": 4}, []string{"Alpha", "Bravo"}},
		{"org:RB", 4, map[string]int{"national": 4}, []string{"Bravo"}},
	} {
		t.Run(tc.scope, func(t *testing.T) {
			token := f.token("viewer", access.Viewer, tc.scope)
			status, body, _ := f.do("GET", "/api/v1/reports/estate", token, "")
			if status != ok {
				t.Fatalf("estate: %d %s", status, body)
			}
			var r struct {
				Progress struct {
					Total struct{ Devices int } `json:"total"`
				} `json:"progress"`
				History   []report.Snapshot        `json:"history"`
				Campaigns []report.CampaignSummary `json:"campaigns"`
			}
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
			if r.Progress.Total.Devices != tc.devices {
				t.Errorf("progress total %d devices, want %d", r.Progress.Total.Devices, tc.devices)
			}
			totals := report.HistoryOf(r.History, report.TotalOrg)
			if len(totals) != 2 || totals[0].Devices != tc.devices || totals[1].Devices != tc.devices {
				t.Errorf("history totals %+v, want %d devices on 2 days", totals, tc.devices)
			}
			got := map[string]int{}
			for _, c := range r.Campaigns {
				for _, w := range c.Waves {
					got[c.Name] += w.Devices
				}
			}
			if !reflect.DeepEqual(got, tc.campaigns) {
				t.Errorf("campaigns %v, want %v", got, tc.campaigns)
			}
			status, page, h := f.do("GET", "/api/v1/reports/estate?format=html", token, "")
			if status != ok || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
				t.Fatalf("estate page: %d %s", status, h.Get("Content-Type"))
			}
			for _, name := range tc.names {
				if !strings.Contains(string(page), name) {
					t.Errorf("the page lacks %s", name)
				}
			}
			// Nor a name, site or hostname of another organisation, in
			// the page or the JSON.
			for _, o := range orgs {
				if slices.ContainsFunc(tc.names, func(n string) bool { return strings.HasPrefix(o.Name, n) }) {
					continue
				}
				lower := strings.ToLower(o.Code)
				for _, leak := range []string{o.Name, lower + "-main", lower + "-01.nhs.uk"} {
					if strings.Contains(string(page), leak) || strings.Contains(string(body), leak) {
						t.Errorf("the report shows %q, outside %s", leak, tc.scope)
					}
				}
			}
			status, csv, _ := f.do("GET", "/api/v1/reports/history?format=csv&days=1", token, "")
			want := fmt.Sprintf("%s,TOTAL,%d,", now.Format(time.DateOnly), tc.devices)
			if status != ok || !strings.Contains(string(csv), want) || strings.Count(string(csv), "\n") != len(tc.names)+2 {
				t.Errorf("history CSV (%d), want a row per organisation and %q:\n%s", status, want, csv)
			}
		})
	}
}

// TestImportUpload imports a file sent to the API: rows of the caller's
// organisation are written and recorded in the audit trail; a file with
// a row of another, or past the size limit, or of a type the import
// cannot read, writes nothing and says why, naming the row.
func TestImportUpload(t *testing.T) {
	f := newFixtureWith(t, func(_ *fixture, c *server.Config) { c.MaxUpload = 200 })
	ra := f.token("ra-ops", access.Operator, "org:RA")
	send := func(query, contentType, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("POST", f.http.URL+"/api/v1/inventory/import"+query, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+ra)
		req.Header.Set("Content-Type", contentType)
		resp, err := f.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, query, contentType, body string
		status                         int
		want                           string
	}{
		{"a new device and a changed one", "?name=ra.csv", "text/csv", "Name,Org,Site\nra-new.nhs.uk,RA,ra-main\nra-01.nhs.uk,RA,ra-annex\n", ok, `"new":1,"updated":1`},
		{"a row of another organisation", "?name=ra.csv", "text/csv", "hostname,org\nra-new2.nhs.uk,RA\nrb-99.nhs.uk,RB\n", bad, `ra.csv:3: column \"org\": organisation \"RB\" is outside your scope`},
		{"another's device", "?name=ra.csv", "text/csv; charset=utf-8", "hostname,org\nrb-01.nhs.uk,RA\n", bad, `ra.csv:2: column \"hostname\": hostname \"rb-01.nhs.uk\" is a device outside your scope`},
		{"NDJSON with the default organisation", "?org=RA&dry_run=true", "application/x-ndjson", `{"hostname":"ra-new3.nhs.uk"}` + "\n", ok, `"changes":[{"kind":"new","hostname":"ra-new3.nhs.uk"}]`},
		{"too large", "", "text/csv", bigCSV(201), bad, "over the server's limit of 200 bytes"},
		{"at the limit", "?name=big.csv", "text/csv", bigCSV(200), ok, `"new":`},
		{"a credential", "?name=ra.csv", "text/csv", "hostname,org,credential\nra-01.nhs.uk,RA,national\n", bad, `ra.csv:2: column \"credential\": only a caller of the whole estate assigns credentials`},
		{"a spreadsheet", "", "application/vnd.ms-excel", "x", bad, "want one of text/csv, application/json, application/x-ndjson"},
		{"a bad date format", "?date_format=dd-yy-zz", "text/csv", "hostname,org\n", bad, "query parameter date_format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := send(tc.query, tc.contentType, tc.body)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("= %d %s\nwant %d with %s", status, body, tc.status, tc.want)
			}
		})
	}
	ctx := context.Background()
	inv := f.db.Inventory()
	for _, h := range []string{"ra-new2.nhs.uk", "ra-new3.nhs.uk"} {
		if _, err := inv.Device(ctx, h); !errors.Is(err, errkind.NotFound) {
			t.Errorf("%s was written by a rejected import or a dry run: %v", h, err)
		}
	}
	if d, err := inv.Device(ctx, "ra-01.nhs.uk"); err != nil || d.Site != "ra-annex" {
		t.Errorf("ra-01 after the import: %+v, %v", d, err)
	}
	if d, err := inv.Device(ctx, "rb-01.nhs.uk"); err != nil || d.Org != "RB" {
		t.Errorf("RB's device after RA's import: %+v, %v", d, err)
	}
	entries, err := f.trail.List(ctx, audit.Query{Action: "inventory.import"})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || entries[0].Actor != "ra-ops" || entries[0].Target != "ra.csv" || entries[0].Org != "RA" || entries[0].Outcome != audit.Done {
		t.Errorf("the trail's first import: %+v", entries)
	}
}

// TestDiscoveryInScope: an organisation's operator who asks for every
// device to be probed gets a running discovery of its own devices only.
func TestDiscoveryInScope(t *testing.T) {
	f := newFixture(t)
	ra := f.token("ra-ops", access.Operator, "org:RA")
	status, body, _ := f.do("POST", "/api/v1/discovery", ra, `{"name":"ra-probe"}`)
	var cr server.Created
	if status != ok || json.Unmarshal(body, &cr) != nil || cr.Devices != 4 || !cr.Started || cr.Playbook != campaigns.DiscoverPlaybook {
		t.Fatalf("discovery as RA = %d %s; want RA's 4 devices, started", status, body)
	}
	ctx := context.Background()
	c, err := campaignService(f.db).Campaign(ctx, "ra-probe")
	if err != nil || c.Status != orchestrator.StatusRunning {
		t.Fatalf("the discovery: %+v, %v", c, err)
	}
	page, err := campaignService(f.db).Devices(ctx, "ra-probe", campaigns.DeviceQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range page.Devices {
		if d.Org != "RA" {
			t.Errorf("RA's discovery holds %s of %s", d.Hostname, d.Org)
		}
	}
}

// TestRegionPagesCampaignDevices: a region's reader pages through a
// national campaign's devices of its organisations, in dispatch order,
// each once, and none of another's.
func TestRegionPagesCampaignDevices(t *testing.T) {
	f := newFixture(t)
	north := f.token("north", access.Viewer, "region:north")
	var seen []string
	after := ""
	for range 10 {
		status, body, _ := f.do("GET", "/api/v1/campaigns/national/devices?limit=3&after="+after, north, "")
		var page server.CampaignDevicePage
		if status != ok || json.Unmarshal(body, &page) != nil {
			t.Fatalf("page after %q = %d %s", after, status, body)
		}
		for _, d := range page.Devices {
			if d.Org != "RA" && d.Org != "RB" {
				t.Errorf("north's page holds %s of %s", d.Hostname, d.Org)
			}
			seen = append(seen, d.Hostname)
		}
		if after = page.Next; after == "" {
			break
		}
	}
	whole, err := campaignService(f.db).Devices(context.Background(), "national", campaigns.DeviceQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, d := range whole.Devices {
		if d.Org != "RC" {
			want = append(want, d.Hostname)
		}
	}
	if !slices.Equal(seen, want) {
		t.Errorf("north paged through %v\nwant, in dispatch order, %v", seen, want)
	}
	// A cursor naming another organisation's device is not found, as a
	// hostname not in the campaign is: the cursor tells nothing of it.
	for _, after := range []string{"rc-01.nhs.uk", "nosuch.nhs.uk"} {
		status, body, _ := f.do("GET", "/api/v1/campaigns/national/devices?limit=3&after="+after, north, "")
		if status != http.StatusNotFound || strings.Contains(string(body), "RC") {
			t.Errorf("after %s as north: %d %s, want 404 naming no organisation", after, status, body)
		}
	}
}

// lastAudit is the audit trail's last entry.
func (f *fixture) lastAudit() audit.Entry {
	f.t.Helper()
	es, err := f.trail.List(context.Background(), audit.Query{Limit: audit.MaxLimit})
	if err != nil || len(es) == 0 {
		f.t.Fatalf("audit trail: %d entries, %v", len(es), err)
	}
	return es[len(es)-1]
}

// TestAlertAddRemove: an estate operator adds an alert (a bad file is
// refused naming its file and line, an id taken with 409), removes it,
// and removes one an earlier version stored that can no longer be read,
// as alert remove does; the trail keeps the alert after and before.
func TestAlertAddRemove(t *testing.T) {
	f := newFixture(t)
	ops := f.token("nat-ops", access.Operator, "estate")
	status, body, _ := f.do("POST", "/api/v1/alerts", ops, `{"file":"hsa-2.yaml","yaml":"id: HSA-2\ntitle: T\nissued: 2026-10-15\ndeadline: 2026-10-01\nremediation:\n  10.0.18363: [KB5000002]\n"}`)
	if status != bad || !strings.Contains(string(body), "hsa-2.yaml:4: deadline 2026-10-01 is before the issue date 2026-10-15") {
		t.Fatalf("a bad alert file: %d %s, want 400 naming its file and line", status, body)
	}
	src := `id: HSA-2\ntitle: T\nissued: 2026-10-15\ndeadline: 2026-12-15\nremediation:\n  10.0.18363: [KB5000002]\n` // JSON-escaped
	status, body, _ = f.do("POST", "/api/v1/alerts", ops, `{"yaml":"`+src+`"}`)
	var a server.Alert
	if status != ok || json.Unmarshal(body, &a) != nil || a.ID != "HSA-2" || len(a.KBs) != 1 {
		t.Fatalf("add: %d %s", status, body)
	}
	if e := f.lastAudit(); e.Action != "alert.add" || e.Actor != "nat-ops" || e.Target != "HSA-2" || !strings.Contains(string(e.After), `"id":"HSA-2"`) {
		t.Fatalf("add audited as %+v", e)
	}
	if status, body, _ = f.do("POST", "/api/v1/alerts", ops, `{"yaml":"`+src+`"}`); status != conflict {
		t.Fatalf("add again: %d %s, want 409", status, body)
	}
	// Its figures are counted at once: compliance with it is served.
	if status, body, _ = f.do("GET", "/api/v1/alerts/HSA-2/compliance", ops, ""); status != ok {
		t.Fatalf("compliance with the new alert: %d %s", status, body)
	}
	if status, body, _ = f.do("DELETE", "/api/v1/alerts/HSA-2", ops, ""); status != ok || !strings.Contains(string(body), `"title":"T"`) {
		t.Fatalf("remove: %d %s", status, body)
	}
	if e := f.lastAudit(); e.Action != "alert.remove" || e.Target != "HSA-2" || !strings.Contains(string(e.Before), `"id":"HSA-2"`) || e.After != nil {
		t.Fatalf("remove audited as %+v", e)
	}
	status, body, _ = f.do("DELETE", "/api/v1/alerts/HSA-2", ops, "")
	if status != notFound || !strings.Contains(string(body), "alert HSA-2: not found") {
		t.Fatalf("remove again: %d %s, want 404 as alert remove says", status, body)
	}

	// An alert stored by an earlier version, beyond today's limits.
	var old strings.Builder
	old.WriteString("id: HSA-OLD\ntitle: old\nissued: 2019-01-08\ndeadline: 2019-01-22\nremediation:\n")
	for i := range alerts.MaxBuilds + 1 {
		fmt.Fprintf(&old, "  \"10.0.%d\": [KB4480966]\n", i)
	}
	db, err := sql.Open("sqlite", f.path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO alerts (id, title, issued, deadline, file, source, added_at) VALUES ('HSA-OLD', 'old', '2019-01-08', '2019-01-22', 'old.yaml', ?, 0)`, old.String())
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	status, body, _ = f.do("DELETE", "/api/v1/alerts/HSA-OLD", ops, "")
	if status != ok || !strings.Contains(string(body), "as stored cannot be read") {
		t.Fatalf("remove an unreadable alert: %d %s", status, body)
	}
	if e := f.lastAudit(); e.Action != "alert.remove" || e.Outcome != audit.Done || !strings.Contains(string(e.Before), "cannot be read") {
		t.Fatalf("remove of an unreadable alert audited as %+v", e)
	}
	if status, body, _ = f.do("GET", "/api/v1/alerts", ops, ""); status != ok || strings.Contains(string(body), "HSA-OLD") {
		t.Fatalf("alerts after the removal: %d %s", status, body)
	}

	// An organisation's operator is told why it may not.
	ra := f.token("ra-ops", access.Operator, "org:RA")
	status, body, _ = f.do("DELETE", "/api/v1/alerts/HSA-1", ra, "")
	if status != forbidden || !strings.Contains(string(body), "alerts are issued nationally") || !strings.Contains(string(body), "org:RA") {
		t.Fatalf("remove as RA's operator: %d %s", status, body)
	}
	if e := f.lastAudit(); e.Action != "alert.remove" || e.Actor != "ra-ops" || e.Outcome != audit.Refused {
		t.Fatalf("the refusal audited as %+v", e)
	}
}

// TestRemediateInScope: an organisation's operator remediates its own
// exposed devices alone, in a campaign it may then run, and the trail
// says who; a scope with nothing exposed is told so.
func TestRemediateInScope(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ra := f.token("ra-ops", access.Operator, "org:RA")
	status, body, _ := f.do("POST", "/api/v1/alerts/HSA-1/remediate", ra, `{"source":"C:\\updates","name":"ra-hsa-1"}`)
	var c server.Created
	if status != ok || json.Unmarshal(body, &c) != nil {
		t.Fatalf("remediate as RA's operator: %d %s", status, body)
	}
	if c.Name != "ra-hsa-1" || c.Playbook != campaigns.RemediatePlaybook || c.Devices != 4 || !reflect.DeepEqual(c.WaveSizes, []int{1, 3}) {
		t.Fatalf("created %+v, want RA's 4 exposed devices, a pilot of 1", c)
	}
	cstore, err := f.db.Campaigns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reaches, err := cstore.Orgs(ctx, "ra-hsa-1")
	if err != nil || !reflect.DeepEqual(reaches, []string{"RA"}) {
		t.Fatalf("the campaign reaches %v (%v), want RA alone", reaches, err)
	}
	ds, err := cstore.Devices(ctx, "ra-hsa-1", orchestrator.DeviceFilter{}, -1, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Org != "RA" {
			t.Errorf("the campaign holds %s of %s", d.Hostname, d.Org)
		}
	}
	e := f.lastAudit()
	if e.Action != "alert.remediate" || e.Actor != "ra-ops" || e.Via != access.ViaToken || e.Target != "HSA-1" || e.Org != "RA" ||
		e.Outcome != audit.Done || !strings.Contains(string(e.After), `"name":"ra-hsa-1"`) {
		t.Fatalf("audited as %+v", e)
	}
	// The whole campaign is RA's: its operator may start it.
	if status, body, _ := f.do("POST", "/api/v1/campaigns/ra-hsa-1/start", ra, ""); status != ok {
		t.Fatalf("start RA's remediation: %d %s", status, body)
	}
	// RB's operator gets its own, under another name; RC's devices stay
	// out of both.
	rb := f.token("rb-ops", access.Operator, "org:RB")
	if status, body, _ := f.do("POST", "/api/v1/alerts/HSA-1/remediate", rb, `{"source":"C:\\updates","name":"rb-hsa-1"}`); status != ok || !strings.Contains(string(body), `"devices":4`) {
		t.Fatalf("remediate as RB's operator: %d %s", status, body)
	}
	// An alert for a build only an RB device is on: RA has nothing
	// exposed to it and is told so; RB has its one device.
	r, err := format.NewCSVReader(strings.NewReader("hostname,org,site,build,kbs\nrb-05.nhs.uk,RB,rb-main,10.0.17763,KB1000001\n"), "more.csv", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Inventory().Import(ctx, r, inventory.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	nat := f.token("nat-ops", access.Operator, "estate")
	src := `id: HSA-2\ntitle: T\nissued: 2026-10-15\ndeadline: 2026-12-15\nremediation:\n  10.0.17763: [KB5000009]\n` // JSON-escaped
	if status, body, _ := f.do("POST", "/api/v1/alerts", nat, `{"yaml":"`+src+`"}`); status != ok {
		t.Fatalf("add HSA-2: %d %s", status, body)
	}
	status, body, _ = f.do("POST", "/api/v1/alerts/HSA-2/remediate", ra, `{"source":"C:\\updates"}`)
	if status != conflict || !strings.Contains(string(body), "no device in the caller's scope is observed to be exposed") {
		t.Fatalf("remediate with nothing exposed in scope: %d %s, want 409", status, body)
	}
	if list, err := cstore.Campaigns(ctx); err != nil || len(list) != 4 {
		t.Fatalf("%d campaigns (%v), want national, ra-only and the two remediations", len(list), err)
	}
	if status, body, _ := f.do("POST", "/api/v1/alerts/HSA-2/remediate", rb, `{"source":"C:\\updates"}`); status != ok || !strings.Contains(string(body), `"devices":1`) || !strings.Contains(string(body), `"name":"remediate-hsa-2-rb"`) {
		t.Fatalf("remediate HSA-2 as RB's operator: %d %s, want its one device, named for RB", status, body)
	}
}

// bigCSV is a CSV file of RA's devices exactly size bytes long (at least
// 30), each row a distinct device.
func bigCSV(size int) string {
	var b strings.Builder
	b.WriteString("hostname,org\n")
	for i := 0; b.Len()+len("ra-bigN.nhs.uk,RA\n") <= size; i++ {
		fmt.Fprintf(&b, "ra-big%d.nhs.uk,RA\n", i)
	}
	for b.Len() < size {
		b.WriteString("\n") // blank lines are skipped
	}
	return b.String()
}
