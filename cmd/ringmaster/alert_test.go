package main

import (
	"bytes"
	"context"
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
