package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
	"riverqueue.com/riverui"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/audit"
	"github.com/ringmaster-fleet/ringmaster/orchestrator/scheduler"
	"github.com/ringmaster-fleet/ringmaster/server"
)

// probeArgs is a job of the tests' own kind: what River's UI lists is
// whatever is in the queue.
type probeArgs struct {
	Device string `json:"device"`
}

func (probeArgs) Kind() string { return "test_probe" }

// riverFixture is a server serving River's real UI over the fixture's
// SQLite database, as ringmaster serve wires it, with two jobs queued;
// it returns the UI's client and the jobs' ids. with, if given, changes
// the server's configuration too.
func riverFixture(t *testing.T, with ...func(*server.Config)) (*fixture, *river.Client[*sql.Tx], []int64) {
	t.Helper()
	var client *river.Client[*sql.Tx]
	f := newFixtureWith(t, func(f *fixture, cfg *server.Config) {
		for _, w := range with {
			w(cfg)
		}
		ctx := t.Context()
		if err := scheduler.Migrate(ctx, scheduler.SQLiteJobs(f.db.SQL(), nil)); err != nil {
			t.Fatal(err)
		}
		c, err := river.NewClient(riversqlite.New(f.db.SQL()), &river.Config{})
		if err != nil {
			t.Fatal(err)
		}
		h, err := riverui.NewHandler(&riverui.HandlerOpts{Endpoints: riverui.NewEndpoints(c, nil), Logger: slog.New(slog.DiscardHandler), Prefix: server.RiverPath})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Start(ctx); err != nil {
			t.Fatal(err)
		}
		client, cfg.River = c, h
	})
	var ids []int64
	for _, d := range []string{"pc1.ra", "pc2.rb"} {
		res, err := client.Insert(context.Background(), probeArgs{Device: d}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Job.ID)
	}
	return f, client, ids
}

// riverTrail is the audit trail's entries of changes through River's UI.
func riverTrail(t *testing.T, f *fixture) []audit.Entry {
	t.Helper()
	es, err := f.trail.List(context.Background(), audit.Query{Action: "river."})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestRiverUI(t *testing.T) {
	f, client, ids := riverFixture(t)
	admin := f.token("root", access.Admin, "estate")

	status, body, h := f.do("GET", "/river/", admin, "")
	if status != ok || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "<title>River</title>") {
		t.Fatalf("GET /river/ as the estate's admin: %d %s %.300s", status, h.Get("Content-Type"), body)
	}
	status, body, _ = f.do("GET", "/river/api/jobs?state=available", admin, "")
	var list struct {
		Data []struct {
			ID    int64  `json:"id"`
			Kind  string `json:"kind"`
			Args  string `json:"args"`
			State string `json:"state"`
		} `json:"data"`
	}
	if status != ok || json.Unmarshal(body, &list) != nil {
		t.Fatalf("GET /river/api/jobs: %d %s", status, body)
	}
	var got []string
	for _, j := range list.Data {
		got = append(got, fmt.Sprintf("%d %s %s", j.ID, j.Kind, j.Args))
	}
	want := []string{fmt.Sprintf(`%d test_probe {"device":"pc1.ra"}`, ids[0]), fmt.Sprintf(`%d test_probe {"device":"pc2.rb"}`, ids[1])}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("River's UI lists the jobs\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Only an admin of the whole estate: River's jobs are every
	// organisation's.
	for _, who := range []struct {
		role  access.Role
		scope string
	}{{access.Admin, "org:RA"}, {access.Admin, "region:north"}, {access.Viewer, "estate"}, {access.Operator, "estate"}, {access.Approver, "estate"}} {
		tok := f.token(string(who.role)+"-"+who.scope, who.role, who.scope)
		for _, path := range []string{"/river/", "/river/api/jobs?state=available"} {
			status, body, h := f.do("GET", path, tok, "")
			var p server.Problem
			if status != forbidden || h.Get("Content-Type") != "application/problem+json" || json.Unmarshal(body, &p) != nil || p.Status != forbidden || p.Kind != "forbidden" {
				t.Errorf("%s of %s: GET %s: %d %s %s, want a 403 problem", who.role, who.scope, path, status, h.Get("Content-Type"), body)
			}
		}
	}
	if status, body, h := f.do("GET", "/river/api/jobs", "", ""); status != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" {
		t.Fatalf("River's UI without a token: %d %s", status, body)
	}

	// A change is made, and recorded; one refused is recorded refused,
	// one River fails failed.
	cancel := fmt.Sprintf(`{"ids":["%d"]}`, ids[0])
	if status, body, _ := f.do("POST", "/river/api/jobs/cancel", admin, cancel); status != ok {
		t.Fatalf("cancel a job through River's UI: %d %s", status, body)
	}
	ops := f.token("ops", access.Operator, "estate")
	if status, body, _ := f.do("POST", "/river/api/jobs/cancel", ops, fmt.Sprintf(`{"ids":["%d"]}`, ids[1])); status != forbidden {
		t.Fatalf("an operator's cancel through River's UI: %d %s", status, body)
	}
	if status, body, _ := f.do("POST", "/river/api/jobs/delete", admin, `{"ids":["999999"]}`); status != http.StatusNotFound {
		t.Fatalf("deleting no job through River's UI: %d %s", status, body)
	}
	for i, want := range []rivertype.JobState{rivertype.JobStateCancelled, rivertype.JobStateAvailable} {
		j, err := client.JobGet(context.Background(), ids[i])
		if err != nil || j.State != want {
			t.Fatalf("job %d after the changes: %v %v, want %s", ids[i], j, err, want)
		}
	}
	es := riverTrail(t, f)
	got = nil
	for _, e := range es {
		got = append(got, strings.Join([]string{e.Action, e.Actor, e.Via, e.Target, e.Outcome, string(e.Before), string(e.After)}, " | "))
	}
	want = []string{
		fmt.Sprintf(`river.POST /api/jobs/cancel | root | token | jobs %d | done | {"ids":["%d"]} | {"status":"ok"}`, ids[0], ids[0]),
		`river.POST /api/jobs/cancel | ops | token | /api/jobs/cancel | refused |  | `,
		`river.POST /api/jobs/delete | root | token | jobs 999999 | failed | {"ids":["999999"]} | ` + string(es[len(es)-1].After),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the audit trail of River's UI holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if last := es[len(es)-1]; !strings.Contains(last.Detail, "(River) answered 404") || !strings.Contains(string(last.After), "999999") {
		t.Errorf("the failed delete's entry: %+v", last)
	}
	if es[0].TokenID == "" || es[0].From == "" {
		t.Errorf("the cancel's entry has no token or address: %+v", es[0])
	}
}

// TestRiverUICrossOrigin: a signed-in admin's session cookie changes
// River's queue from the server's own pages only, as it does the API.
func TestRiverUICrossOrigin(t *testing.T) {
	f, client, ids := riverFixture(t)
	signInOn(t, f)
	alice, status, body := browser(t, f, "alice")
	if status != ok {
		t.Fatalf("alice's sign-in: %d %s", status, body)
	}
	post := func(id int64, headers map[string]string) int {
		req, _ := http.NewRequest("POST", f.http.URL+"/river/api/jobs/cancel", strings.NewReader(fmt.Sprintf(`{"ids":["%d"]}`, id)))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := alice.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if resp, err := alice.Get(f.http.URL + "/river/api/jobs?state=available"); err != nil || resp.StatusCode != ok {
		t.Fatalf("alice reads River's UI: %v %v", resp, err)
	}
	if status := post(ids[0], map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}); status != forbidden {
		t.Fatalf("a cross-site cancel with alice's cookie: %d, want 403", status)
	}
	if j, err := client.JobGet(context.Background(), ids[0]); err != nil || j.State != rivertype.JobStateAvailable {
		t.Fatalf("the job after a cross-site cancel: %v %v", j, err)
	}
	if status := post(ids[0], map[string]string{"Sec-Fetch-Site": "same-origin"}); status != ok {
		t.Fatalf("alice's cancel from River's page: %d", status)
	}
	es := riverTrail(t, f)
	if len(es) != 1 || es[0].Actor != "alice@nhs.example" || es[0].Via != access.ViaOIDC || es[0].Outcome != audit.Done {
		t.Fatalf("the audit trail of River's UI: %+v", es)
	}
}

// failingTrail is an audit trail that keeps nothing.
type failingTrail struct{ audit.Store }

func (failingTrail) Append(context.Context, *audit.Entry) error {
	return errors.New("the disk is full")
}

// TestRiverUIUnrecorded: a change through River's UI that the audit trail
// cannot record is answered with an error, not River's answer, as the
// API's changes are.
func TestRiverUIUnrecorded(t *testing.T) {
	f, _, ids := riverFixture(t, func(cfg *server.Config) { cfg.Audit = failingTrail{cfg.Audit} })
	admin := f.token("root", access.Admin, "estate")
	status, body, _ := f.do("POST", "/river/api/jobs/cancel", admin, fmt.Sprintf(`{"ids":["%d"]}`, ids[0]))
	if status != http.StatusInternalServerError || strings.Contains(string(body), `"status":"ok"`) {
		t.Fatalf("an unrecorded cancel through River's UI: %d %s, want a 500 problem", status, body)
	}
}
