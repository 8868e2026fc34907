package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/audit"
	"github.com/ringmaster-fleet/ringmaster/internal/npmtest"
)

// clientDir holds the generated client's test: its npm packages (locked),
// the script and its tsconfig.
var clientDir = filepath.Join("testdata", "apiclient")

// TestGeneratedClient generates a TypeScript client from /openapi.json
// with openapi-typescript, type-checks a script that uses it (through
// openapi-fetch) against the generated types with tsc, and runs the
// script with node against the server: it reads whoami, the
// organisations, the campaigns, a campaign, the scorecard (JSON and CSV),
// pauses a campaign, creates a token and calls with it, and reads a
// problem document, checking each answer's fields.
func TestGeneratedClient(t *testing.T) {
	node, npm := npmtest.Tools(t)
	start := time.Now()
	pkgs := npmtest.Install(t, npm, clientDir, "apiclient")
	f := newFixture(t)
	token := f.token("client", access.Admin, "estate")

	work := t.TempDir()
	status, doc, _ := f.do("GET", "/openapi.json", "", "")
	if status != ok {
		t.Fatalf("/openapi.json: %d", status)
	}
	files := map[string][]byte{"openapi.json": doc}
	for _, name := range []string{"client.mjs", "tsconfig.json"} {
		b, err := os.ReadFile(filepath.Join(clientDir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(work, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(pkgs, "node_modules"), filepath.Join(work, "node_modules")); err != nil {
		t.Fatal(err)
	}

	npmtest.Run(t, work, nil, 2*time.Minute, node, "node_modules/openapi-typescript/bin/cli.js", "openapi.json", "-o", "api.d.ts")
	if _, err := os.Stat(filepath.Join(work, "api.d.ts")); errors.Is(err, fs.ErrNotExist) {
		t.Fatal("openapi-typescript wrote no api.d.ts")
	}
	npmtest.Run(t, work, nil, 2*time.Minute, node, "node_modules/typescript/bin/tsc", "-p", "tsconfig.json")
	out := npmtest.Run(t, work, []string{"RINGMASTER_URL=" + f.http.URL, "RINGMASTER_TOKEN=" + token}, 2*time.Minute, node, "client.mjs")
	m := regexp.MustCompile(`(?m)^apiclient: (\d+) calls as the document describes them$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the client printed no verdict:\n%s", out)
	}
	if n, _ := strconv.Atoi(m[1]); n < 10 {
		t.Fatalf("the client made %d calls, want 10 or more:\n%s", n, out)
	}

	// Its changes reached the server, and the audit trail, as the client's.
	status, body, _ := f.do("GET", "/api/v1/campaigns/national", token, "")
	var c struct{ Status string }
	if err := json.Unmarshal(body, &c); err != nil || status != ok || c.Status != "paused" {
		t.Fatalf("after the client paused it, the campaign is %d %s", status, body)
	}
	es, err := f.trail.List(context.Background(), audit.Query{Actor: "client", Limit: audit.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range es {
		actions = append(actions, e.Action+" "+e.Outcome)
	}
	if strings.Join(actions, ", ") != "campaign.pause done, token.create done" {
		t.Fatalf("the audit trail has the client's changes as %v, want the pause and the token", actions)
	}
	t.Logf("%s in %v", m[0], time.Since(start).Round(time.Millisecond))
}
