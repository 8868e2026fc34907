package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

var update = flag.Bool("update", false, "rewrite golden files")

// script runs command lines in order against one database in a temporary
// working directory and records each one's output and exit code.
type script struct {
	t   *testing.T
	out strings.Builder
	env map[string]string
}

func newScript(t *testing.T) *script {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"bad_values.csv", "sccm.csv", "estate-ca.pem"} {
		b, err := os.ReadFile(filepath.Join(wd, "testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	return &script{t: t, env: map[string]string{
		"RINGMASTER_DB":  "test.db",
		"RINGMASTER_NOW": "2026-11-02T10:00:00Z",
	}}
}

func (s *script) run(args ...string) int {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr, func(k string) string { return s.env[k] })
	fmt.Fprintf(&s.out, "$ ringmaster %s\n%s", strings.Join(args, " "), stdout.String())
	if stderr.Len() > 0 {
		fmt.Fprintf(&s.out, "[stderr]\n%s", stderr.String())
	}
	fmt.Fprintf(&s.out, "[exit %d]\n\n", code)
	return code
}

func (s *script) golden(name string) {
	s.t.Helper()
	path, err := filepath.Abs(filepath.Join(wd, "testdata", name+".golden"))
	if err != nil {
		s.t.Fatal(err)
	}
	got := s.out.String()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			s.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		s.t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		s.t.Errorf("output differs from %s:\n%s", path, diff(string(want), got))
	}
}

// wd is the package directory, where testdata lives.
var wd, _ = os.Getwd()

func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("first difference at line %d:\nwant: %q\ngot:  %q", i+1, a, b)
		}
	}
	return ""
}

func TestOrgCommands(t *testing.T) {
	s := newScript(t)
	s.run("org", "add", "rxx", "--name", "Example Hospitals NHS Trust", "--timezone", "Europe/London", "--tag", "acute", "--tag", "north")
	s.run("org", "add", "A81001", "--name", "Example Practice", "--timezone", "Europe/London")
	s.run("org", "add", "RXX", "--name", "Again", "--timezone", "Europe/London")
	s.run("org", "add", "RYY", "--name", "Y", "--timezone", "Mars/Olympus")
	s.run("org", "add", "RYY", "--timezone", "UTC")
	s.run("org", "add")
	s.run("org", "list")
	s.run("org", "list", "-o", "json")
	s.run("org", "list", "-o", "csv")
	s.run("org", "list", "-o", "yaml")
	s.run("org", "show", "rxx")
	s.run("org", "show", "RZZ")
	s.run("org", "remove", "A81001")
	s.run("org", "list")
	s.golden("org")
}

// TestOrgConnectionCommands sets, shows, refuses and clears connection
// profiles.
func TestOrgConnectionCommands(t *testing.T) {
	s := newScript(t)
	s.run("org", "add", "RXX", "--name", "X", "--timezone", "Europe/London")
	s.run("org", "add", "RYY", "--name", "Y", "--timezone", "Europe/London")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"credential", "add", "svc", "--username", "svc", "--password-stdin"},
		strings.NewReader("Conn-Secret-1\n"), &out, &errOut, func(k string) string { return s.env[k] }); code != 0 {
		t.Fatalf("credential add: %s", errOut.String())
	}
	s.run("org", "show", "RXX")
	s.run("org", "set-connection", "--default", "--https", "--ca-file", "estate-ca.pem", "--credential", "svc")
	s.run("org", "set-connection", "RXX", "--port", "15986")
	s.run("org", "set-connection", "RXX", "--auth", "basic", "--https=false")
	s.run("org", "set-connection", "RXX", "--auth", "basic", "--https=false", "--allow-basic-without-tls")
	s.run("org", "show", "RXX")
	s.run("org", "show", "RYY", "-o", "json")
	s.run("org", "set-connection", "RXX", "--executor", "nosuch")
	s.run("org", "set-connection", "RXX", "--auth", "kerberos")
	s.run("org", "set-connection", "RXX", "--port", "70000")
	s.run("org", "set-connection", "RXX", "--ca-file", "sccm.csv")
	s.run("org", "set-connection", "RXX", "--credential", "nosuch")
	s.run("org", "set-connection", "RZZ", "--https")
	s.run("org", "set-connection", "RXX", "--default")
	s.run("org", "set-connection")
	s.run("credential", "remove", "svc")
	s.run("org", "set-connection", "RXX", "--clear")
	s.run("org", "set-connection", "RXX", "--clear")
	s.run("org", "set-connection", "--default", "--clear")
	s.run("org", "show", "RYY")
	s.golden("connection")
}

func TestInventoryCommands(t *testing.T) {
	s := newScript(t)
	s.run("inventory", "generate", "--devices", "40", "--orgs", "3", "--seed", "4", "--now", "2026-11-01", "--out", "estate.csv")
	s.run("inventory", "import", "estate.csv", "--dry-run", "--show", "3")
	s.run("inventory", "import", "estate.csv")
	s.run("inventory", "import", "estate.csv", "--create-orgs")
	s.run("inventory", "import", "estate.csv", "--create-orgs")
	s.run("inventory", "summary")
	s.run("inventory", "summary", "-o", "json")
	s.run("org", "list")
	s.run("inventory", "list", "-l", "org=RMC,build<10.0.19045")
	s.run("inventory", "list", "-l", "label.ring=pilot", "-o", "json")
	s.run("inventory", "list", "-l", "release=22H2", "-o", "csv")
	s.run("inventory", "show", "LT000001.RMC.NHS.UK")
	s.run("inventory", "show", "pc000002.rmc.nhs.uk", "-o", "json")
	s.run("inventory", "import", "sccm.csv", "--create-orgs")
	s.run("inventory", "export", "-l", "org=RXX", "-o", "ndjson")
	s.run("inventory", "remove", "pc0001", "nosuch.rxx.nhs.uk")
	s.run("inventory", "remove", "-l", "org=RXX")
	s.run("org", "remove", "RXX")
	s.golden("inventory")
}

func TestErrors(t *testing.T) {
	s := newScript(t)
	s.run("org", "add", "RXX", "--name", "Example", "--timezone", "Europe/London")
	s.run("inventory", "import", "bad_values.csv")
	s.run("inventory", "import", "missing.csv")
	s.run("inventory", "import", "devices.xlsx")
	s.run("inventory", "import", "-")
	s.run("inventory", "list", "-l", "org=RXX,,site=A")
	s.run("inventory", "list", "-l", "colour=blue")
	s.run("inventory", "lst")
	s.run("inventory", "list", "--bogus")
	s.run("inventory", "show")
	s.run("inventory", "show", "nosuch.rxx.nhs.uk")
	s.run("inventory", "remove")
	s.run("inventory", "generate", "--devices", "2", "--orgs", "5")
	s.run("--log-level", "loud", "org", "list")
	s.run("nosuch")
	s.env["RINGMASTER_DB"] = "no/such/dir/r.db"
	s.run("org", "list")
	s.golden("errors")
}

func TestDatabaseFlagOverridesEnvironment(t *testing.T) {
	s := newScript(t)
	if code := s.run("--db", "flag.db", "org", "add", "RXX", "--name", "X", "--timezone", "UTC"); code != 0 {
		t.Fatalf("exit %d:\n%s", code, s.out.String())
	}
	if _, err := os.Stat("flag.db"); err != nil {
		t.Fatalf("--db was not used: %v", err)
	}
	if _, err := os.Stat("test.db"); err == nil {
		t.Fatal("$RINGMASTER_DB was used despite --db")
	}
	delete(s.env, "RINGMASTER_DB")
	s.run("org", "list")
	if _, err := os.Stat("ringmaster.db"); err != nil {
		t.Fatalf("default ./ringmaster.db was not used: %v", err)
	}
}

// TestEveryCommandHasHelpAndExample walks the command tree.
func TestEveryCommandHasHelpAndExample(t *testing.T) {
	root := newRootCmd(&app{})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" {
			t.Errorf("%s has no short help", c.CommandPath())
		}
		if c.HasSubCommands() {
			for _, sub := range c.Commands() {
				if sub.Name() != "help" && sub.Name() != "completion" {
					walk(sub)
				}
			}
			return
		}
		if c.Example == "" {
			t.Errorf("%s has no example", c.CommandPath())
		}
	}
	walk(root)
	s := newScript(t)
	s.run("--help")
	s.run("inventory", "import", "--help")
	s.run("org", "set-connection", "--help")
	s.golden("help")
}

// TestExportIsAtomic checks that a failed export leaves no file behind and
// a good one replaces the target whole.
func TestExportIsAtomic(t *testing.T) {
	s := newScript(t)
	s.run("inventory", "import", "sccm.csv", "--create-orgs")
	if err := os.WriteFile("out.csv", []byte("previous\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := s.run("inventory", "export", "-o", "csv", "--out", "out.csv", "-l", "org=RXX"); code != 0 {
		t.Fatalf("export failed:\n%s", s.out.String())
	}
	b, err := os.ReadFile("out.csv")
	if err != nil || !strings.HasPrefix(string(b), "hostname,") || strings.Count(string(b), "\n") != 4 {
		t.Fatalf("out.csv = %q, %v", b, err)
	}
	if code := s.run("inventory", "export", "-o", "csv", "--out", "no/such/dir/out.csv"); code != 1 {
		t.Fatalf("export to a missing directory exited %d", code)
	}
	entries, _ := os.ReadDir(".")
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestCredentialCommands(t *testing.T) {
	s := newScript(t)
	const secret = "Tr0ub4dor&3-never-shown"
	stdinRun := func(stdin string, args ...string) int {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr, func(k string) string { return s.env[k] })
		fmt.Fprintf(&s.out, "$ ringmaster %s\n%s", strings.Join(args, " "), stdout.String())
		if stderr.Len() > 0 {
			fmt.Fprintf(&s.out, "[stderr]\n%s", stderr.String())
		}
		fmt.Fprintf(&s.out, "[exit %d]\n\n", code)
		return code
	}
	s.run("org", "add", "RXX", "--name", "Example", "--timezone", "Europe/London")
	stdinRun(secret+"\n", "credential", "add", "estate-admin", "--username", `NHS\svc-ringmaster`, "--password-stdin")
	stdinRun(secret, "credential", "add", "estate-admin", "--username", "x", "--password-stdin")
	s.run("credential", "add", "no-password", "--username", "x")
	stdinRun("", "credential", "add", "empty", "--username", "x", "--password-stdin")
	s.run("org", "set-credential", "RXX", "estate-admin")
	s.run("org", "set-credential", "RXX", "missing")
	s.run("credential", "list")
	s.run("credential", "remove", "estate-admin")
	s.run("org", "set-credential", "RXX", "")
	s.run("credential", "remove", "estate-admin")
	if strings.Contains(s.out.String(), secret) {
		t.Fatalf("a command printed the secret:\n%s", s.out.String())
	}
	db, err := os.ReadFile("test.db")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte(secret)) {
		t.Fatal("the secret is stored in the clear")
	}
	s.golden("credential")
}

func TestPlaybookValidate(t *testing.T) {
	s := newScript(t)
	for _, f := range []string{"valid/check-build.yaml", "invalid/undefined_param.yaml"} {
		b, err := os.ReadFile(filepath.Join(wd, "..", "..", "playbooks", "testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Base(f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.run("playbook", "validate", "check-build.yaml")
	s.run("playbook", "validate", "check-build.yaml", "undefined_param.yaml")
	s.run("playbook", "validate", "missing.yaml")
	s.run("playbook", "list")
	s.run("playbook", "show", "nope")
	s.run("playbook", "export", "discover", "mine")
	s.run("playbook", "export", "discover", "mine") // never overwrites an edited copy
	s.run("playbook", "validate", "mine/discover.yaml")
	s.golden("playbook")
}
