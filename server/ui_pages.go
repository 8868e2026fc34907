package server

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/audit"
	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/estate"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/report"
	rhtml "github.com/ringmaster-fleet/ringmaster/report/html"
	"github.com/ringmaster-fleet/ringmaster/reports"
)

// figuresKeep is how old the dashboard's figures of the estate may be
// served while they are computed anew (each page says how old they are).
const figuresKeep = 5 * time.Minute

// estateView is the estate report as the caller's scope sees it, computed
// at most once a period per scope and served while it is computed again
// (cache.recent), and when it was computed.
func (s *Server) estateView(ctx context.Context, c *Call) (rhtml.Report, time.Time, error) {
	orgs, err := c.Orgs(ctx)
	if err != nil {
		return rhtml.Report{}, time.Time{}, err
	}
	// Others may wait for the computation: it outlives the request that
	// began it, within a bound.
	return s.figures(orgs, func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	})
}

// figures are the estate's figures for the organisations of orgs, from
// the cache or computed in a context of ctx's making. They are kept by
// the organisations the scope covers now, not by the scope's name: a
// region whose organisations changed is computed afresh.
func (s *Server) figures(orgs access.Orgs, ctx func() (context.Context, context.CancelFunc)) (rhtml.Report, time.Time, error) {
	covered := "all"
	if !orgs.All() {
		covered = strings.Join(orgs.List(), ",")
	}
	v, at, err := s.cache.recent("ui-estate\x00"+covered, reportCache, figuresKeep, func() (any, error) {
		ctx, cancel := ctx()
		defer cancel()
		began := time.Now()
		defer func() { s.cfg.Log.Debug("dashboard figures computed", "orgs", covered, "took", time.Since(began)) }()
		tb, err := versionParam("target_build", "", reports.DefaultTargetBuild)
		if err != nil {
			return nil, err
		}
		sb, err := versionParam("supported_build", "", reports.DefaultSupportedBuild)
		if err != nil {
			return nil, err
		}
		return s.cfg.Reports.EstateIn(ctx, orgs, reports.EstateOptions{TargetBuild: tb, SupportedBuild: sb})
	})
	if err != nil {
		return rhtml.Report{}, time.Time{}, err
	}
	return v.(rhtml.Report), at, nil
}

// Warm computes the whole estate's figures for the dashboard ahead of its
// first reader (the national team's overview), as ringmaster serve does
// when it starts, and keeps them fresh until ctx ends: every half period
// it has them computed again, in the background, once they are a period
// old. No reader of the national overview then waits for its computation
// (about a quarter of a second over 1.3M devices); another scope's, on its
// first reading, takes milliseconds to tens of milliseconds. A failed
// computation is logged and tried again.
func (s *Server) Warm(ctx context.Context) {
	mk := func() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) }
	t := time.NewTicker(reportCache / 2)
	defer t.Stop()
	for {
		// Past a period, figures returns the kept ones and computes anew
		// in the background (whose failure the cache logs).
		if _, _, err := s.figures(access.AllOrgs(), mk); err != nil && ctx.Err() == nil {
			s.cfg.Log.Warn("could not compute the dashboard's figures of the estate", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// overview is the estate overview: a row per organisation in scope, the
// national (or scope's) total, the alerts and the campaigns.
type overview struct {
	Report rhtml.Report
	Rows   []overviewRow
	Total  overviewRow
	// Q is the search, Sort the order asked for; Shown of All rows match.
	Q, Sort     string
	Sorts       []choice
	Shown, All  int
	AtRiskCount int
}

// overviewRow is an organisation's migration and alert compliance.
type overviewRow struct {
	Progress report.ProgressRow
	Score    report.ScorecardRow
	// Alerts are its compliance rows, one per alert of the report, in
	// order (zero where it has none).
	Alerts []report.ComplianceRow
	// Risks say why it is at risk (empty: it is not).
	Risks []string
}

// choice is an option of a select.
type choice struct{ Value, Label string }

// overviewRows joins the report's tables by organisation.
func overviewRows(r rhtml.Report) ([]overviewRow, overviewRow) {
	score := map[string]report.ScorecardRow{}
	for _, sc := range r.Scorecard.Rows {
		score[sc.Org] = sc
	}
	comp := make([]map[string]report.ComplianceRow, len(r.Compliance))
	for i, c := range r.Compliance {
		comp[i] = map[string]report.ComplianceRow{}
		for _, row := range c.Rows {
			comp[i][row.Org] = row
		}
	}
	var rows []overviewRow
	for _, p := range r.Progress.Rows {
		row := overviewRow{Progress: p, Score: score[p.Org]}
		if p.AtRisk {
			row.Risks = append(row.Risks, progressRisk(p))
		}
		for i, c := range r.Compliance {
			cr := comp[i][p.Org]
			row.Alerts = append(row.Alerts, cr)
			if cr.AtRisk {
				risk := fmt.Sprintf("%d devices exposed to %s, deadline %s", cr.Exposed, c.Alert, c.Deadline)
				if f := cr.Forecast; f != nil && cr.RiskFrom == report.RiskFromForecast {
					risk += fmt.Sprintf(" (the forecast of %s: %.0f devices late at it)", f.Campaign, f.LateAtDeadline)
				}
				row.Risks = append(row.Risks, risk)
			}
		}
		rows = append(rows, row)
	}
	total := overviewRow{Progress: r.Progress.Total, Score: r.Scorecard.Total}
	for _, c := range r.Compliance {
		total.Alerts = append(total.Alerts, c.Total)
	}
	return rows, total
}

// progressRisk says why an organisation's progress is at risk: its
// campaign's forecast, or its pace against the campaign's deadline.
func progressRisk(p report.ProgressRow) string {
	f := p.Forecast
	switch {
	case f == nil:
		return "at its pace the campaign will not finish it by the deadline"
	case f.MissesDeadline:
		return fmt.Sprintf("the forecast of %s: %.0f devices late at its deadline %s", f.Campaign, f.LateAtDeadline, report.ForecastTime(f.Deadline))
	}
	return fmt.Sprintf("the forecast of %s: in %.0f%% of replays it does not finish without a person acting", f.Campaign, f.Unfinished*100)
}

// overviewSorts are the orders the overview offers; "risk" first.
func overviewSorts(r rhtml.Report) []choice {
	out := []choice{{"risk", "at risk first"}, {"migrated", "least migrated first"}, {"org", "code"}, {"name", "name"},
		{"devices", "most devices first"}, {"not_seen", "most not seen first"}}
	for _, c := range r.Compliance {
		out = append(out, choice{"alert:" + c.Alert, "least compliant with " + c.Alert + " first"})
	}
	return out
}

func sortOverview(rows []overviewRow, by string, alerts []report.Compliance) error {
	alertAt := -1
	if id, ok := strings.CutPrefix(by, "alert:"); ok {
		alertAt = slices.IndexFunc(alerts, func(c report.Compliance) bool { return c.Alert == id })
		if alertAt < 0 {
			return &BadRequestError{Where: "query parameter sort", Err: fmt.Errorf("%q: no such alert", id)}
		}
	}
	byCode := func(a, b overviewRow) int { return cmp.Compare(a.Progress.Org, b.Progress.Org) }
	var f func(a, b overviewRow) int
	switch {
	case by == "" || by == "risk":
		f = func(a, b overviewRow) int {
			return cmp.Or(cmp.Compare(len(b.Risks), len(a.Risks)), cmp.Compare(a.Progress.OnTargetPc, b.Progress.OnTargetPc), byCode(a, b))
		}
	case by == "migrated":
		f = func(a, b overviewRow) int {
			return cmp.Or(cmp.Compare(a.Progress.OnTargetPc, b.Progress.OnTargetPc), byCode(a, b))
		}
	case by == "org":
		f = byCode
	case by == "name":
		f = func(a, b overviewRow) int { return cmp.Or(cmp.Compare(a.Progress.Name, b.Progress.Name), byCode(a, b)) }
	case by == "devices":
		f = func(a, b overviewRow) int {
			return cmp.Or(cmp.Compare(b.Progress.Devices, a.Progress.Devices), byCode(a, b))
		}
	case by == "not_seen":
		f = func(a, b overviewRow) int {
			return cmp.Or(cmp.Compare(b.Progress.NotSeen, a.Progress.NotSeen), byCode(a, b))
		}
	case alertAt >= 0:
		f = func(a, b overviewRow) int {
			return cmp.Or(cmp.Compare(a.Alerts[alertAt].CompliantPc, b.Alerts[alertAt].CompliantPc), byCode(a, b))
		}
	default:
		return &BadRequestError{Where: "query parameter sort", Err: fmt.Errorf("%q: want risk, migrated, org, name, devices, not_seen or alert:ID", by)}
	}
	slices.SortStableFunc(rows, f)
	return nil
}

// renderedBody is a page's body drawn once and kept: the overview of
// hundreds of organisations costs more to draw than to serve.
type renderedBody struct{ Body template.HTML }

func (s *Server) overviewPage(ctx context.Context, c *Call, r *http.Request) (view, error) {
	rep, at, err := s.estateView(ctx, c)
	if err != nil {
		return view{}, err
	}
	q := r.URL.Query()
	search, sort := strings.TrimSpace(q.Get("q")), cmp.Or(q.Get("sort"), "risk")
	// Drawn once per scope, computation of the figures and query: the
	// figures' time is in the key, so a new computation draws anew.
	key := strings.Join([]string{"ui-overview", c.Principal.Scope.String(), at.Format(time.RFC3339Nano), search, sort}, "\x00")
	body, _, err := s.cache.value(key, reportCache, func() (any, error) {
		o, err := overviewOf(rep, search, sort)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		if err := uiPages.ExecuteTemplate(&b, "overview-body", o); err != nil {
			return nil, fmt.Errorf("draw the overview: %w", err)
		}
		return renderedBody{Body: template.HTML(b.String())}, nil
	})
	if err != nil {
		return view{}, err
	}
	return view{Template: "overview", Title: "Estate overview", Data: body, AsOf: at}, nil
}

// overviewOf is the overview of rep: its rows searched and ordered.
func overviewOf(rep rhtml.Report, search, sort string) (overview, error) {
	o := overview{Report: rep, Q: search, Sort: sort, Sorts: overviewSorts(rep)}
	rows, total := overviewRows(rep)
	o.All, o.Total = len(rows), total
	if o.Q != "" {
		needle := strings.ToLower(o.Q)
		rows = slices.DeleteFunc(rows, func(row overviewRow) bool {
			return !strings.Contains(strings.ToLower(row.Progress.Org), needle) && !strings.Contains(strings.ToLower(row.Progress.Name), needle)
		})
	}
	if err := sortOverview(rows, o.Sort, rep.Compliance); err != nil {
		return overview{}, err
	}
	for _, row := range rows {
		if len(row.Risks) > 0 {
			o.AtRiskCount++
		}
	}
	o.Rows, o.Shown = rows, len(rows)
	return o, nil
}

// orgView is an organisation's page.
type orgView struct {
	Detail  estate.OrgDetail
	Row     overviewRow
	Sites   []report.ProgressRow
	Alerts  []report.Compliance // their titles and deadlines, for Row.Alerts
	NotSeen []Device            // devices not seen for 30 days, the first of them
	More    bool                // more are not seen than NotSeen holds
	// Campaign is its part of each campaign: its devices' counts; Reasons
	// why its devices failed or wait in each.
	Campaign []campaigns.Summary
	Reasons  []campaignReason
	Since    time.Time
}

// campaignReason is how many of an organisation's devices failed or wait
// in a campaign for a reason.
type campaignReason struct {
	Campaign, Reason string
	Devices          int
}

// notSeenShown bounds the devices not seen lately an organisation's page
// lists.
const notSeenShown = 50

func (s *Server) orgPage(ctx context.Context, c *Call, r *http.Request) (view, error) {
	orgs, err := c.Orgs(ctx)
	if err != nil {
		return view{}, err
	}
	code := inventory.NormaliseOrgCode(r.PathValue("code"))
	if err := notFoundOutside(orgs, code, "organisation "+code); err != nil {
		return view{}, err
	}
	rep, at, err := s.estateView(ctx, c)
	if err != nil {
		return view{}, err
	}
	// Kept with the figures it is drawn from: the devices not seen lately
	// are read from the organisation's devices, up to its whole size.
	key := strings.Join([]string{"ui-org", c.Principal.Scope.String(), at.Format(time.RFC3339Nano), code}, "\x00")
	v, _, err := s.cache.value(key, reportCache, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		return s.orgOf(ctx, rep, code)
	})
	if err != nil {
		return view{}, err
	}
	p := v.(orgView)
	return view{Template: "org", Title: code + " " + p.Detail.Name, Data: p, AsOf: at}, nil
}

// orgOf is the organisation code's page, beside the estate's figures rep.
func (s *Server) orgOf(ctx context.Context, rep rhtml.Report, code string) (orgView, error) {
	d, err := estate.ShowOrganisation(ctx, s.cfg.Inventory, code)
	if err != nil {
		return orgView{}, err
	}
	p := orgView{Detail: d, Sites: rep.SitesOf(code), Alerts: rep.Compliance, Since: s.cfg.Now().Add(-30 * 24 * time.Hour)}
	rows, _ := overviewRows(rep)
	for _, row := range rows {
		if row.Progress.Org == code {
			p.Row = row
		}
	}
	one := access.NewOrgs(code)
	for _, cs := range rep.Campaigns {
		sum, err := s.cfg.Campaigns.SummaryIn(ctx, cs.Name, one)
		if errors.Is(err, errkind.NotFound) {
			continue // none of its devices is this organisation's
		}
		if err != nil {
			return orgView{}, err
		}
		if sum.Devices == 0 {
			continue
		}
		p.Campaign = append(p.Campaign, sum)
		// Its failure reasons in the campaign, as the campaign's page
		// gives them to a reader of this organisation alone.
		if sum.States[string(orchestrator.DeviceFailed)]+sum.States[string(orchestrator.DeviceDeferred)] == 0 {
			continue
		}
		d, err := s.cfg.Campaigns.ShowIn(ctx, cs.Name, one)
		if err != nil {
			return orgView{}, err
		}
		for _, r := range d.Reasons {
			p.Reasons = append(p.Reasons, campaignReason{Campaign: cs.Name, Reason: r.Reason, Devices: r.Devices})
		}
	}
	sel, err := inventory.ParseSelector(fmt.Sprintf(`org=%q,last_seen<%s`, code, p.Since.UTC().Format(time.RFC3339)))
	if err != nil {
		return orgView{}, err
	}
	for dev, err := range s.cfg.Inventory.Devices(ctx, sel) {
		if err != nil {
			return orgView{}, err
		}
		if len(p.NotSeen) == notSeenShown {
			p.More = true
			break
		}
		p.NotSeen = append(p.NotSeen, deviceOf(dev))
	}
	return p, nil
}

// campaignsView lists the campaigns in scope.
type campaignsView struct {
	Campaigns []campaigns.Summary
}

func (s *Server) campaignsPage(ctx context.Context, c *Call, _ *http.Request) (view, error) {
	orgs, err := c.Orgs(ctx)
	if err != nil {
		return view{}, err
	}
	list, err := s.cfg.Campaigns.ListIn(ctx, orgs)
	if err != nil {
		return view{}, err
	}
	slices.SortStableFunc(list, func(a, b campaigns.Summary) int { return b.Created.Compare(a.Created) })
	return view{Template: "campaigns", Title: "Campaigns", Data: campaignsView{Campaigns: list}, AsOf: s.cfg.Wall()}, nil
}

// campaignView is a campaign as the caller's scope sees it.
type campaignView struct {
	Detail campaigns.Detail
	States []string
	// Failed are its failed devices in scope, the first page of them.
	Failed []campaigns.DeviceRow
	More   bool
	// Whole: the caller's scope covers every organisation the campaign
	// reaches, so the whole campaign's buttons apply.
	Whole bool
	// Approved are the waves approved, by whom: a wave stays awaiting
	// approval until the scheduler's next pass takes the approval.
	Approved map[string]string
}

// failedShown bounds the failed devices a campaign's page lists.
const failedShown = 100

func (s *Server) campaignPage(ctx context.Context, c *Call, r *http.Request) (view, error) {
	orgs, err := c.Orgs(ctx)
	if err != nil {
		return view{}, err
	}
	name := r.PathValue("name")
	// Kept per scope for as long as the API keeps a campaign's summary: a
	// change through this server clears it, so an action shows at once.
	v, at, err := s.cache.value("ui-campaign\x00"+c.Principal.Scope.String()+"\x00"+name, summaryCache, func() (any, error) {
		// Others may wait for it: it outlives the request that began it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		d, err := s.cfg.Campaigns.ShowIn(ctx, name, orgs)
		if err != nil {
			return nil, err
		}
		p := campaignView{Detail: d, Whole: s.cfg.Campaigns.Whole(ctx, name, orgs) == nil, Approved: map[string]string{}}
		for _, e := range d.Events {
			if e.Action == "approve" {
				p.Approved[e.Wave] = e.Actor
			}
		}
		for _, st := range orchestrator.DeviceStates {
			p.States = append(p.States, string(st))
		}
		page, err := s.cfg.Campaigns.DevicesIn(ctx, name, orgs, campaigns.DeviceQuery{DeviceFilter: orchestrator.DeviceFilter{State: orchestrator.DeviceFailed}, Limit: failedShown})
		if err != nil {
			return nil, err
		}
		p.Failed, p.More = page.Rows(), page.Next != ""
		return p, nil
	})
	if err != nil {
		return view{}, err
	}
	return view{Template: "campaign", Title: "Campaign " + name, Data: v, AsOf: at}, nil
}

// alertView is an alert's compliance in scope.
type alertView struct {
	Alert      Alert
	Compliance report.Compliance
	Rows       []report.ComplianceRow // exposed organisations first
	Exposed    []string               // exposed devices in scope, the first of them
	More       int                    // how many more are exposed
}

// exposedShown bounds the exposed devices an alert's page lists.
const exposedShown = 100

func (s *Server) alertPage(ctx context.Context, c *Call, r *http.Request) (view, error) {
	orgs, err := c.Orgs(ctx)
	if err != nil {
		return view{}, err
	}
	id := r.PathValue("id")
	rep, at, err := s.estateView(ctx, c)
	if err != nil {
		return view{}, err
	}
	i := slices.IndexFunc(rep.Compliance, func(c report.Compliance) bool { return c.Alert == id })
	if i < 0 {
		return view{}, fmt.Errorf("alert %s: %w", id, errkind.NotFound)
	}
	al, exposed, err := s.cfg.Reports.ExposedIn(ctx, orgs, id)
	if err != nil {
		return view{}, err
	}
	p := alertView{Alert: alertOf(al), Compliance: rep.Compliance[i], Rows: slices.Clone(rep.Compliance[i].Rows)}
	slices.SortStableFunc(p.Rows, func(a, b report.ComplianceRow) int {
		return cmp.Or(cmp.Compare(b.Exposed, a.Exposed), cmp.Compare(a.Org, b.Org))
	})
	if len(exposed) > exposedShown {
		p.More = len(exposed) - exposedShown
		exposed = exposed[:exposedShown]
	}
	p.Exposed = exposed
	return view{Template: "alert", Title: "Alert " + al.ID, Data: p, AsOf: at}, nil
}

// deviceView is a device with its facts and its part in each campaign.
type deviceView struct {
	Device    Device
	Facts     []factRow
	Campaigns []DeviceHistory
}

// factRow is an observed fact for a table.
type factRow struct {
	Name       string
	Value      string
	ObservedAt time.Time
}

func (s *Server) devicePage(ctx context.Context, c *Call, r *http.Request) (view, error) {
	orgs, err := c.Orgs(ctx)
	if err != nil {
		return view{}, err
	}
	d, err := estate.ShowDevice(ctx, s.cfg.Inventory, r.PathValue("hostname"))
	if err != nil {
		return view{}, err
	}
	if err := notFoundOutside(orgs, d.Device.Org, "device "+d.Device.Hostname); err != nil {
		return view{}, err
	}
	p := deviceView{Device: deviceOf(&d.Device)}
	for _, f := range inventory.AllFacts() {
		if d.Device.Facts.Known(f) {
			p.Facts = append(p.Facts, factRow{Name: f.String(), Value: fmt.Sprint(d.Device.Facts.Value(f)), ObservedAt: d.Device.Facts.ObservedAt[f]})
		}
	}
	list, err := s.cfg.Campaigns.ListIn(ctx, orgs)
	if err != nil {
		return view{}, err
	}
	for _, cs := range list {
		h, err := s.cfg.Campaigns.DeviceIn(ctx, cs.Name, d.Device.Hostname, orgs)
		if errors.Is(err, errkind.NotFound) {
			continue
		}
		if err != nil {
			return view{}, err
		}
		waves, err := s.cfg.Campaigns.WaveNames(ctx, cs.Name)
		if err != nil {
			return view{}, err
		}
		p.Campaigns = append(p.Campaigns, historyOf(h, waves))
	}
	return view{Template: "device", Title: "Device " + d.Device.Hostname, Data: p, AsOf: s.cfg.Wall()}, nil
}

// auditView is the newest of the audit trail in scope, newest first.
type auditView struct {
	Entries []audit.Entry
	Actor   string
	Action  string
	// Days is how far back it reads; Capped says more matched than shown.
	Days   int
	Capped bool
}

// auditShown is how many entries the audit page shows at once.
const auditShown = 200

func (s *Server) auditPage(ctx context.Context, c *Call, r *http.Request) (view, error) {
	orgs, err := c.Orgs(ctx)
	if err != nil {
		return view{}, err
	}
	q := r.URL.Query()
	p := auditView{Actor: q.Get("actor"), Action: q.Get("action"), Days: 7}
	if d := q.Get("days"); d != "" {
		if p.Days, err = strconv.Atoi(d); err != nil || p.Days < 1 || p.Days > 366 {
			return view{}, &BadRequestError{Where: "query parameter days", Err: fmt.Errorf("%q: want 1 to 366", d)}
		}
	}
	query := audit.Query{Actor: p.Actor, Action: p.Action, Limit: audit.MaxLimit, Since: s.cfg.Now().AddDate(0, 0, -p.Days)}
	if !orgs.All() {
		query.Orgs = nonNil(orgs.List())
	}
	// The trail reads oldest first: the page keeps the newest auditShown
	// of what matches, reading forward a bounded page at a time.
	var ring []audit.Entry
	for {
		es, err := s.cfg.Audit.List(ctx, query)
		if err != nil {
			return view{}, err
		}
		ring = append(ring, es...)
		if len(ring) > auditShown {
			ring, p.Capped = ring[len(ring)-auditShown:], true
		}
		if len(es) < query.Limit {
			break
		}
		query.After = es[len(es)-1].Seq
	}
	slices.Reverse(ring)
	p.Entries = ring
	return view{Template: "audit", Title: "Audit trail", Data: p, AsOf: s.cfg.Wall()}, nil
}
