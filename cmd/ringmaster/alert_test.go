package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAlertCLI adds a bad and a good alert, reports compliance from the
// observed builds and updates (with supersedence), and creates the
// remediation campaign for exactly the exposed devices.
func TestAlertCLI(t *testing.T) {
	s := newScript(t)
	inv := "hostname,org,os_build,kbs\n" +
		"a1.raa.nhs.uk,RAA,10.0.18363,KB4512508\n" +
		"a2.raa.nhs.uk,RAA,10.0.18363,KB4524570\n" + // a later cumulative update
		"a3.raa.nhs.uk,RAA,10.0.17763,KB4500000\n" + // exposed
		"b1.rbb.nhs.uk,RBB,6.1.7601,\n" + // updates never observed: unknown, never compliant
		"b2.rbb.nhs.uk,RBB,10.0.19045,\n" // not affected
	os.WriteFile("inv.csv", []byte(inv), 0o644)
	data, err := os.ReadFile(filepath.Join(wd, "..", "..", "alerts", "testdata", "dejablue.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile("dejablue.yaml", data, 0o644)
	os.WriteFile("bad.yaml", []byte("id: HSA-1\ntitle: x\nissued: 2019-08-13\ndeadline: soon\nremediation: {\"10.0.18363\": [KB1]}\n"), 0o644)
	s.run("inventory", "import", "inv.csv", "--create-orgs")
	s.run("alert", "add", "-f", "bad.yaml")
	s.run("alert", "add", "-f", "dejablue.yaml")
	s.run("alert", "add", "-f", "dejablue.yaml")
	s.run("alert", "list")
	s.run("report", "alerts", "-o", "csv")
	s.run("report", "scorecard", "--sort", "HSA-2019-0042")
	s.run("report", "scorecard", "--sort", "nope")
	s.run("alert", "remediate", "HSA-2019-0042")
	s.run("alert", "remediate", "HSA-2019-0042", "--source", `\\dp01\updates$`)
	s.run("campaign", "show", "remediate-hsa-2019-0042")
	s.run("alert", "forecast", "HSA-2019-0042", "--runs", "4")
	s.run("alert", "forecast", "HSA-2019-0043")
	s.run("alert", "remove", "HSA-NOPE")
	s.run("alert", "remove", "HSA-2019-0042")
	s.run("alert", "list")
	s.run("report", "alerts", "-o", "csv")
	s.run("alert", "add", "-f", "dejablue.yaml")
	s.golden("alert")
	var o, e bytes.Buffer
	if code := run(context.Background(), []string{"report", "progress", "-o", "html", "--out", "report.html"}, strings.NewReader(""), &o, &e,
		func(k string) string { return s.env[k] }); code != 0 {
		t.Fatalf("report progress -o html: %s", e.String())
	}
	page, err := os.ReadFile("report.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="org-RAA"`, `id="org-RBB"`, `id="alert-HSA-2019-0042"`, `id="detail-RAA"`, "<svg class=\"bar\""} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html lacks %s", want)
		}
	}
}

// TestLargeAlert adds an alert naming 5,000 updates for one build (more
// than SQLite takes in one expression) to an estate with devices: it is
// stored, every report and alert command works with it, and it can be
// removed. A file over --max-file-size is refused by name.
func TestLargeAlert(t *testing.T) {
	s := newScript(t)
	inv := "hostname,org,os_build,kbs\n" +
		"a1.raa.nhs.uk,RAA,10.0.18363,KB5104999\n" + // the last update the alert names
		"a2.raa.nhs.uk,RAA,10.0.18363,KB4500000\n" + // exposed
		"b1.rbb.nhs.uk,RBB,10.0.19045,KB5100000\n" // not affected
	os.WriteFile("inv.csv", []byte(inv), 0o644)
	kbs := make([]string, 5000)
	for i := range kbs {
		kbs[i] = fmt.Sprintf("KB51%05d", i)
	}
	big := "id: HSA-BIG\ntitle: Five thousand updates\nissued: 2026-10-13\ndeadline: 2026-12-01\nremediation:\n" +
		"  \"10.0.18363\": [" + strings.Join(kbs, ", ") + "]\n"
	os.WriteFile("big.yaml", []byte(big), 0o644)

	var stdout, stderr string
	run := func(want int, args ...string) {
		t.Helper()
		var o, e bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(""), &o, &e, func(k string) string { return s.env[k] })
		stdout, stderr = o.String(), e.String()
		if code != want {
			t.Fatalf("ringmaster %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, stdout, stderr)
		}
	}
	run(0, "inventory", "import", "inv.csv", "--create-orgs")
	run(1, "--max-file-size", "1000", "alert", "add", "-f", "big.yaml")
	if want := "big.yaml: larger than the limit of 1000 bytes (raise it with --max-file-size)"; !strings.Contains(stderr, want) {
		t.Fatalf("alert add over the limit: %q, want %q", stderr, want)
	}
	run(0, "alert", "list")
	if stdout != "" {
		t.Fatalf("an alert over the limit was stored: %s", stdout)
	}

	run(0, "alert", "add", "-f", "big.yaml")
	run(0, "report", "alerts", "-o", "csv")
	if want := "TOTAL,all organisations,3,2,1,50.0,1,0,0,"; !strings.Contains(stdout, want) {
		t.Fatalf("report alerts:\n%s\nwant a row %s", stdout, want)
	}
	run(0, "report", "scorecard")
	run(0, "report", "progress")
	run(0, "report", "snapshot")
	run(0, "alert", "show", "HSA-BIG", "-o", "csv")
	run(0, "alert", "remediate", "HSA-BIG", "--source", `\\dp01\updates$`)
	if !strings.Contains(stdout, "for the 1 exposed devices") {
		t.Fatalf("alert remediate: %s", stdout)
	}
	run(0, "alert", "remove", "HSA-BIG")
	run(1, "alert", "remove", "HSA-BIG")
	if want := "error: alert remove: alert HSA-BIG: not found"; !strings.Contains(stderr, want) {
		t.Fatalf("alert remove again: %q, want %q", stderr, want)
	}
	run(0, "report", "alerts", "-o", "csv")
	run(0, "report", "snapshot")
}

// TestUnreadableStoredAlert starts from a database an earlier version
// left: an alert stored beyond today's limits, whose updates were never
// watched. Every report names it and says how to remove it; once removed,
// they work.
func TestUnreadableStoredAlert(t *testing.T) {
	s := newScript(t)
	os.WriteFile("inv.csv", []byte("hostname,org,os_build,kbs\na1.raa.nhs.uk,RAA,10.0.18363,KB4512508\n"), 0o644)
	s.run("inventory", "import", "inv.csv", "--create-orgs")
	s.run("alert", "list") // creates the alert table
	var src strings.Builder
	src.WriteString("id: HSA-OLD\ntitle: old\nissued: 2019-01-08\ndeadline: 2019-01-22\nremediation:\n")
	for i := range 1001 {
		fmt.Fprintf(&src, "  \"10.0.%d\": [KB4480966]\n", i)
	}
	db, err := sql.Open("sqlite", "test.db")
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO alerts (id, title, issued, deadline, file, source, added_at) VALUES ('HSA-OLD', 'old', '2019-01-08', '2019-01-22', 'old.yaml', ?, 0)`, src.String())
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"report", "alerts"}, {"report", "snapshot"}, {"alert", "show", "HSA-OLD"}} {
		var o, e bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(""), &o, &e, func(k string) string { return s.env[k] })
		if code != 1 || !strings.Contains(e.String(), "alert HSA-OLD as stored cannot be read") ||
			!strings.Contains(e.String(), "remediation names 1001 builds") || !strings.Contains(e.String(), "ringmaster alert remove HSA-OLD") {
			t.Fatalf("%s: exit %d\n%s", strings.Join(args, " "), code, e.String())
		}
	}
	for _, args := range [][]string{{"alert", "remove", "HSA-OLD"}, {"report", "alerts"}, {"report", "snapshot"}} {
		var o, e bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(""), &o, &e, func(k string) string { return s.env[k] }); code != 0 {
			t.Fatalf("%s: exit %d\n%s", strings.Join(args, " "), code, e.String())
		}
	}
}
