package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/ringmaster-fleet/ringmaster/audit"
	"github.com/ringmaster-fleet/ringmaster/internal/pgtest"
)

// lockedBuffer is a buffer a running command writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTokensServeAndAudit creates a token on the CLI, serves the API with
// it, and reads the audit trail of both: the CLI's changes, made and
// failed, and the API's.
func TestTokensServeAndAudit(t *testing.T) {
	s := newScript(t)
	s.env["RINGMASTER_ACTOR"] = "alice"
	if code := s.run("inventory", "generate", "--devices", "20", "--orgs", "2", "--seed", "1", "--out", "estate.csv"); code != 0 {
		t.Fatal(s.out.String())
	}
	if code := s.run("inventory", "import", "estate.csv", "--create-orgs"); code != 0 {
		t.Fatal(s.out.String())
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"token", "create", "ops", "--role", "operator", "--scope", "estate"}, strings.NewReader(""), &stdout, &stderr,
		func(k string) string { return s.env[k] }); code != 0 {
		t.Fatalf("token create: %s", stderr.String())
	}
	secret := strings.TrimSpace(stdout.String())
	stdout.Reset()
	if code := run(context.Background(), []string{"token", "create", "root", "--role", "admin", "--scope", "estate"}, strings.NewReader(""), &stdout, &stderr,
		func(k string) string { return s.env[k] }); code != 0 {
		t.Fatalf("token create: %s", stderr.String())
	}
	admin := strings.TrimSpace(stdout.String())
	if !regexp.MustCompile(`^rmt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$`).MatchString(secret) {
		t.Fatalf("token create printed %q, want the secret alone", secret)
	}
	stdout.Reset()
	run(context.Background(), []string{"token", "list", "-o", "json"}, strings.NewReader(""), &stdout, &stderr, func(k string) string { return s.env[k] })
	if strings.Contains(stdout.String(), secret[17:]) || strings.Contains(stdout.String(), "hash") || !strings.Contains(stdout.String(), `"subject": "ops"`) {
		t.Fatalf("token list shows the secret or its hash, or not the token: %s", stdout.String())
	}
	if code := s.run("campaign", "pause", "nope"); code == 0 {
		t.Fatal("pausing a campaign that does not exist succeeded")
	}

	// Plain HTTP beyond loopback is refused.
	if code := s.run("serve", "--listen", "0.0.0.0:0", "--run-campaigns=false"); code != exitUsage {
		t.Fatalf("serve on 0.0.0.0 without TLS: exit %d, want %d:\n%s", code, exitUsage, s.out.String())
	}
	base, get, stop := serve(t, s)
	if code, body := get("/api/v1/whoami", secret); code != 200 || !strings.Contains(body, `"subject":"ops"`) {
		t.Fatalf("whoami: %d %s", code, body)
	}
	if code, body := get("/api/v1/orgs", ""); code != 401 {
		t.Fatalf("without a token: %d %s", code, body)
	}
	// River's UI, on the database's own queue, to the estate's admins only.
	if code, body := get("/river/", admin); code != 200 || !strings.Contains(body, "<title>River</title>") {
		t.Fatalf("River's UI: %d %.200s", code, body)
	}
	if code, body := get("/river/api/jobs?state=available", admin); code != 200 || !strings.HasPrefix(body, `{"data":[`) {
		t.Fatalf("River's jobs: %d %s", code, body)
	}
	if code, body := get("/river/api/jobs", secret); code != 403 {
		t.Fatalf("River's UI to an operator: %d %s", code, body)
	}
	if code, body := get("/openapi.json", ""); code != 200 || !strings.Contains(body, `"openapi": "3.1.0"`) {
		t.Fatalf("openapi.json: %d %.200s", code, body)
	}
	req, _ := http.NewRequest("POST", base+"/api/v1/campaigns/nope/pause", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 404 {
		t.Fatalf("pause of no campaign through the API: %v %v", resp, err)
	}
	if errs := stop(); strings.Contains(errs, secret[17:]) {
		t.Fatal("the server logged a token's secret")
	}

	stdout.Reset()
	if code := run(context.Background(), []string{"audit", "-o", "ndjson"}, strings.NewReader(""), &stdout, &stderr, func(k string) string { return s.env[k] }); code != 0 {
		t.Fatalf("audit: %s", stderr.String())
	}
	var got []string
	for line := range strings.Lines(stdout.String()) {
		var e audit.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit -o ndjson line %q: %v", line, err)
		}
		got = append(got, e.Action+" "+e.Actor+" "+e.Via+" "+e.Outcome)
	}
	want := []string{"inventory.import alice cli done", "token.create alice cli done", "token.create alice cli done", "campaign.pause alice cli failed", "campaign.pause ops token failed"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the audit trail holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// serve runs ringmaster serve (not running campaigns) on s's database and
// returns its base URL, a GET with a bearer token giving the status and
// body, and stop, which ends it, checks it exited 0 and returns its
// stderr.
func serve(t *testing.T, s *script) (base string, get func(path, token string) (int, string), stop func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errs lockedBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--run-campaigns=false"}, strings.NewReader(""), &out, &errs, func(k string) string { return s.env[k] })
	}()
	for deadline := time.Now().Add(30 * time.Second); base == ""; {
		if m := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/`).FindStringSubmatch(out.String()); m != nil {
			base = "http://" + m[1]
		}
		select {
		case code := <-done:
			cancel()
			t.Fatalf("serve exited %d: %s %s", code, out.String(), errs.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve printed no address: %s %s", out.String(), errs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	get = func(path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	return base, get, func() string {
		t.Helper()
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("serve exited %d after its context ended: %s", code, errs.String())
		}
		return errs.String()
	}
}

// probeJob is a job of the tests' own kind.
type probeJob struct {
	Device string `json:"device"`
}

func (probeJob) Kind() string { return "test_probe" }

// TestServeRiverUIPostgres serves River's UI over a PostgreSQL database's
// queue, which no node has run on yet (serve migrates River's tables).
func TestServeRiverUIPostgres(t *testing.T) {
	s := newScript(t)
	s.env["RINGMASTER_DB"] = pgtest.URL(t)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"token", "create", "root", "--role", "admin", "--scope", "estate"}, strings.NewReader(""), &stdout, &stderr,
		func(k string) string { return s.env[k] }); code != 0 {
		t.Fatalf("token create: %s", stderr.String())
	}
	admin := strings.TrimSpace(stdout.String())
	_, get, stop := serve(t, s)
	defer stop()
	if code, body := get("/river/", admin); code != 200 || !strings.Contains(body, "<title>River</title>") {
		t.Fatalf("River's UI: %d %.200s", code, body)
	}
	// A job inserted by another client of the queue is listed.
	pool, err := pgxpool.New(context.Background(), s.env["RINGMASTER_DB"])
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Insert(context.Background(), probeJob{Device: "pc1.ra"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Data []struct {
			ID   int64  `json:"id"`
			Kind string `json:"kind"`
		} `json:"data"`
	}
	code, body := get("/river/api/jobs?state=available", admin)
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Data) != 1 || list.Data[0].ID != res.Job.ID || list.Data[0].Kind != "test_probe" {
		t.Fatalf("River's jobs: %d %s, want job %d", code, body, res.Job.ID)
	}
	if code, body := get("/river/api/queues", admin); code != 200 {
		t.Fatalf("River's queues: %d %s", code, body)
	}
	if code, body := get("/river/api/jobs", ""); code != 401 {
		t.Fatalf("River's UI without a token: %d %s", code, body)
	}
}
