package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/audit"
)

// clientDir holds the generated client's test: its npm packages (locked),
// the script and its tsconfig.
var clientDir = filepath.Join("testdata", "apiclient")

// needNode returns node's and npm's paths, or skips the test where they
// are absent, unless RINGMASTER_REQUIRE_NODE is set (CI sets it).
func needNode(t *testing.T) (node, npm string) {
	t.Helper()
	node, err1 := exec.LookPath("node")
	npm, err2 := exec.LookPath("npm")
	if err := errors.Join(err1, err2); err != nil {
		if os.Getenv("RINGMASTER_REQUIRE_NODE") != "" {
			t.Fatalf("RINGMASTER_REQUIRE_NODE is set but Node.js is missing: %v", err)
		}
		t.Skipf("Node.js and npm are needed to generate and run the API's client (%v); set RINGMASTER_REQUIRE_NODE=1 to fail instead", err)
	}
	return node, npm
}

// clientPackages installs the client test's npm packages with npm ci, from
// the committed package-lock.json, once per version of it: in the user's
// cache directory (outside the repository), so that a later run reuses
// them. It returns the directory holding node_modules.
func clientPackages(t *testing.T, npm string) string {
	t.Helper()
	h := sha256.New()
	var files [2][]byte
	for i, name := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(clientDir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[i] = b
		h.Write(b)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "ringmaster", "apiclient-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dir, ".installed")); err == nil {
		return dir
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	// Installed beside it, then renamed: a run stopped half way, or one
	// beside this, never leaves a partial install under its name.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	for i, name := range []string{"package.json", "package-lock.json"} {
		if err := os.WriteFile(filepath.Join(tmp, name), files[i], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("installing the client's npm packages into %s", dir)
	runNode(t, tmp, nil, 10*time.Minute, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--prefer-offline")
	if err := os.WriteFile(filepath.Join(tmp, ".installed"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, ".installed")); serr != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runNode runs a command of the client's toolchain in dir and returns its
// output; it fails the test with the output if the command fails.
func runNode(t *testing.T, dir string, env []string, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"NO_COLOR=1", "NO_UPDATE_NOTIFIER=1"}, env...)...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	t.Logf("%s %s: %v", filepath.Base(name), args[0], time.Since(start).Round(time.Millisecond))
	return string(out)
}

// TestGeneratedClient generates a TypeScript client from /openapi.json
// with openapi-typescript, type-checks a script that uses it (through
// openapi-fetch) against the generated types with tsc, and runs the
// script with node against the server: it reads whoami, the
// organisations, the campaigns, a campaign, the scorecard (JSON and CSV),
// pauses a campaign, creates a token and calls with it, and reads a
// problem document, checking each answer's fields.
func TestGeneratedClient(t *testing.T) {
	node, npm := needNode(t)
	start := time.Now()
	pkgs := clientPackages(t, npm)
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

	runNode(t, work, nil, 2*time.Minute, node, "node_modules/openapi-typescript/bin/cli.js", "openapi.json", "-o", "api.d.ts")
	if _, err := os.Stat(filepath.Join(work, "api.d.ts")); errors.Is(err, fs.ErrNotExist) {
		t.Fatal("openapi-typescript wrote no api.d.ts")
	}
	runNode(t, work, nil, 2*time.Minute, node, "node_modules/typescript/bin/tsc", "-p", "tsconfig.json")
	out := runNode(t, work, []string{"RINGMASTER_URL=" + f.http.URL, "RINGMASTER_TOKEN=" + token}, 2*time.Minute, node, "client.mjs")
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
