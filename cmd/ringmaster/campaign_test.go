package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/inputfile"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

const quickCampaign = `name: discover-all
playbook: discover
target: 'org in (RA,RB)'
caps: {per_org: 2}
waves:
  - {name: pilot, count: 2}
  - {name: rest, approval: manual}
`

// campaignEstate starts n simulated devices, alternately in organisations
// RA and RB, imports them into a new database and gives both organisations
// a credential that logs on; call runs a command line against it, and env
// is the environment it runs in.
func campaignEstate(t *testing.T, n int) (call func(stdin string, argv ...string) (string, string, int), env func(string) string) {
	t.Helper()
	_, call, env = fleetEstate(t, n, nil)
	return call, env
}

// fleetEstate is campaignEstate with each device's spec adjusted (when
// adjust is not nil) before the fleet starts, and the script it set up.
func fleetEstate(t *testing.T, n int, adjust func(*device.Spec)) (s *script, call func(stdin string, argv ...string) (string, string, int),
	env func(string) string) {
	t.Helper()
	var specs []device.Spec
	for i := range n {
		specs = append(specs, device.Spec{Hostname: fmt.Sprintf("pc%03d.r%c.nhs.uk", i, 'a'+i%2), Caption: "Microsoft Windows 10 Enterprise",
			Edition: "Enterprise", Build: "10.0.18363", UBR: 1556, DiskFreeGB: 40, RAMGB: 8})
		if adjust != nil {
			adjust(&specs[i])
		}
	}
	f, err := fleetsim.Start(context.Background(), fleetsim.Config{Username: "svc", Password: "Camp-Secret-1", Devices: specs,
		FirstAddress: net.IPv4(127, byte(100+rand.IntN(150)), byte(1+rand.IntN(250)), 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	s = newScript(t)
	var csv strings.Builder
	csv.WriteString("hostname,org,address\n")
	for i, ep := range f.Endpoints() {
		fmt.Fprintf(&csv, "%s,R%c,%s\n", ep.Machine.Hostname(), 'A'+i%2, ep.Address(false))
	}
	if err := os.WriteFile("d.csv", []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := s.run("inventory", "import", "d.csv", "--create-orgs"); code != 0 {
		t.Fatal(s.out.String())
	}
	env = func(k string) string { return s.env[k] }
	call = func(stdin string, argv ...string) (string, string, int) {
		var o, e bytes.Buffer
		code := run(context.Background(), argv, strings.NewReader(stdin), &o, &e, env)
		return o.String(), e.String(), code
	}
	if _, e, code := call("Camp-Secret-1\n", "credential", "add", "svc", "--username", "svc", "--password-stdin"); code != 0 {
		t.Fatal(e)
	}
	for _, org := range []string{"RA", "RB"} {
		if _, e, code := call("", "org", "set-credential", org, "svc"); code != 0 {
			t.Fatal(e)
		}
	}
	return s, call, env
}

// TestCampaignCLI drives campaigns through the commands an operator uses:
// create (a bad file first), start, run until done with a manual approval
// given from "another shell", show, list, retry, and the state rules of
// pause, resume and cancel.
func TestCampaignCLI(t *testing.T) {
	call, _ := campaignEstate(t, 6)
	os.WriteFile("bad.yaml", []byte("name: Bad\nplaybook: discover\nwaves:\n  - {name: all, percent: 300}\n"), 0o644)
	if _, e, code := call("", "campaign", "create", "-f", "bad.yaml"); code != 1 ||
		!strings.Contains(e, "bad.yaml:1: name \"Bad\"") || !strings.Contains(e, "bad.yaml:4: wave all: percent must be between 0 and 100") {
		t.Fatalf("create a bad campaign: %d %s", code, e)
	}
	os.WriteFile("c.yaml", []byte(quickCampaign), 0o644)
	if o, e, code := call("", "campaign", "create", "-f", "c.yaml"); code != 0 || !strings.Contains(o, "created campaign discover-all (draft): 6 devices; waves: pilot 2, rest 4") {
		t.Fatalf("create: %d %q %s", code, o, e)
	}
	if _, e, code := call("", "campaign", "create", "-f", "c.yaml"); code != 1 || !strings.Contains(e, "already exists") {
		t.Fatalf("create twice: %d %s", code, e)
	}
	if _, e, code := call("", "campaign", "pause", "discover-all"); code != 1 || !strings.Contains(e, "is draft") {
		t.Fatalf("pause a draft: %d %s", code, e)
	}
	if _, e, code := call("", "campaign", "start", "discover-all"); code != 0 {
		t.Fatal(e)
	}
	// The rest wave needs approval: run --until-done stops when the pilot
	// is done and says what it waits for; approved, a second run finishes.
	o, e, code := call("", "run", "--until-done", "--view", "plain", "--workers", "4")
	if code != 0 || !strings.Contains(o+e, "campaign approve") {
		t.Fatalf("run up to the approval: %d %q %s", code, o, e)
	}
	if o, _, _ := call("", "campaign", "show", "discover-all"); !strings.Contains(o, "awaiting_approval") {
		t.Fatalf("after the first run the rest wave does not await approval:\n%s", o)
	}
	if _, e, code := call("", "campaign", "approve", "discover-all", "rest"); code != 0 {
		t.Fatal(e)
	}
	o, e, code = call("", "run", "--until-done", "--view", "plain", "--workers", "4")
	if code != 0 || !strings.Contains(e, "msg=progress") && !strings.Contains(e, "device finished") {
		t.Fatalf("run: %d %q %s", code, o, e)
	}
	o, _, _ = call("", "campaign", "show", "discover-all")
	for _, want := range []string{"campaign discover-all: done", "pilot  done", "rest   done"} {
		if !strings.Contains(o, want) {
			t.Errorf("show lacks %q:\n%s", want, o)
		}
	}
	o, _, _ = call("", "campaign", "list")
	if !strings.Contains(o, "discover-all  done    6") {
		t.Errorf("list:\n%s", o)
	}
	o, _, _ = call("", "campaign", "show", "discover-all", "--device", "PC000.ra.nhs.uk")
	if !strings.Contains(o, "pc000.ra.nhs.uk in campaign discover-all: succeeded (completed)") || !strings.Contains(o, "pending -> queued") ||
		!strings.Contains(o, "running -> succeeded (completed)  by worker") {
		t.Errorf("show --device:\n%s", o)
	}
	// What the runs observed is in the inventory now (nothing was declared).
	if o, _, _ := call("", "inventory", "show", "pc000.ra.nhs.uk"); !strings.Contains(o, "10.0.18363") {
		t.Errorf("inventory show after the campaign lacks the observed build:\n%s", o)
	}
	// discover changes nothing: every device was observed on 1909, none migrated.
	if o, e, code := call("", "report", "progress", "--campaign", "discover-all", "-o", "csv"); code != 0 ||
		!strings.Contains(o, "\nRA,RA,3,0,0.0,0,0,0,0,3,0,0,,0.4,") || !strings.Contains(o, "\nTOTAL,all organisations,6,0,0.0,0,0,0,0,6,0,0,,0.9,") {
		t.Errorf("report progress: %d %s %s", code, o, e)
	}
	if _, e, code := call("", "report", "progress", "--campaign", "nope"); code != 1 || !strings.Contains(e, "not found") {
		t.Errorf("report progress for a missing campaign: %d %s", code, e)
	}
	if o, _, code := call("", "campaign", "retry", "discover-all", "--failed"); code != 0 || !strings.Contains(o, "0 failed devices") {
		t.Errorf("retry: %d %s", code, o)
	}
	if _, _, code := call("", "campaign", "retry", "discover-all"); code != 2 {
		t.Errorf("retry without --failed: exit %d, want 2", code)
	}
	if _, e, code := call("", "campaign", "approve", "discover-all", "nope"); code != 1 || !strings.Contains(e, "no wave nope") {
		t.Errorf("approve a missing wave: %d %s", code, e)
	}
	if _, e, code := call("", "campaign", "resume", "discover-all"); code != 1 || !strings.Contains(e, "is done") {
		t.Errorf("resume a done campaign: %d %s", code, e)
	}
	if o, _, code := call("", "campaign", "list", "-o", "json"); code != 0 || !strings.Contains(o, `"succeeded":6`) {
		t.Errorf("list -o json: %d %s", code, o)
	}
}

// TestRunUntilDoneStopsForAPerson: run --until-done stops, and says why,
// when the only wave halted with every device failed: nothing is pending,
// so there is no held device to show, yet only campaign retry moves it on.
// (It used to run until killed.)
func TestRunUntilDoneStopsForAPerson(t *testing.T) {
	call, env := campaignEstate(t, 4)
	os.WriteFile("fail.yaml", []byte("name: always-fails\nversion: 1.0.0\ndescription: Fails on every device.\n"+
		"steps:\n  - {name: refuse, fail: \"broken: on purpose\"}\n"), 0o644)
	os.WriteFile("doomed.yaml", []byte("name: doomed\nplaybook: fail.yaml\nwaves: [{name: only, max_failure_percent: 10}]\n"), 0o644)
	for _, argv := range [][]string{{"campaign", "create", "-f", "doomed.yaml"}, {"campaign", "start", "doomed"}} {
		if o, e, code := call("", argv...); code != 0 {
			t.Fatalf("%s: %d %s %s", argv, code, o, e)
		}
	}
	// The guard against the old behaviour: a run that never ends is
	// stopped here, and fails below.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var o, e bytes.Buffer
	code := run(ctx, []string{"run", "--until-done", "--view", "plain", "--workers", "4"}, strings.NewReader(""), &o, &e, env)
	if ctx.Err() != nil || code != 0 {
		t.Fatalf("run --until-done: exit %d, stopped by the test's deadline %v: %s", code, ctx.Err() != nil, e.String())
	}
	const why = "wave only halted: 4 of 4 devices failed, above max_failure_percent 10 (ringmaster campaign continue doomed --wave only, or ringmaster campaign retry doomed --failed --wave only)"
	if !strings.Contains(e.String(), "campaign waits for a person") || !strings.Contains(e.String(), why) {
		t.Errorf("run --until-done does not say why it stopped:\n%s", e.String())
	}
	sh, _, _ := call("", "campaign", "show", "doomed", "-o", "json")
	if !strings.Contains(sh, `"needs_person":true`) || !strings.Contains(sh, why) {
		t.Errorf("campaign show -o json:\n%s", sh)
	}
}

// TestCampaignCreateRefuses: campaign create refuses, storing nothing, a
// file larger than --max-file-size (before parsing it) and a window that
// never opens, naming the file, line and window.
func TestCampaignCreateRefuses(t *testing.T) {
	s := newScript(t) // now is 2026-11-02T10:00:00Z
	os.WriteFile("d.csv", []byte("hostname,org\npc1.ra.nhs.uk,RA\n"), 0o644)
	if code := s.run("inventory", "import", "d.csv", "--create-orgs", "--org-timezone", "Europe/London"); code != 0 {
		t.Fatal(s.out.String())
	}
	const valid = "name: c\nplaybook: discover\nwaves: [{name: all}]\n"
	huge := valid + "# " + strings.Repeat("x", int(inputfile.DefaultMax)) + "\n"
	tests := []struct {
		name  string
		file  string
		flags []string
		code  int
		want  string // in stderr
	}{
		{"over --max-file-size", valid, []string{"--max-file-size", "40"}, 1,
			"error: campaign create: c.yaml: larger than the limit of 40 bytes (raise it with --max-file-size)"},
		{"over the default limit", huge, nil, 1,
			"error: campaign create: c.yaml: larger than the limit of 4194304 bytes (raise it with --max-file-size)"},
		{"a limit that is no limit", valid, []string{"--max-file-size", "0"}, 2, "--max-file-size 0: want a positive number of bytes"},
		{"30 February", "name: c\nplaybook: discover\nwindows:\n  default: {cron: \"0 0 30 2 *\", duration: 8h}\nwaves: [{name: all}]\n", nil, 1,
			`c.yaml:4: windows.default: cron "0 0 30 2 *" never opens from 2026-11-02 to 2028-11-02 (read in organisation RA's zone, Europe/London): its devices would wait forever`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile("c.yaml", []byte(tt.file), 0o644); err != nil {
				t.Fatal(err)
			}
			var o, e bytes.Buffer
			code := run(context.Background(), append(tt.flags, "campaign", "create", "-f", "c.yaml"), strings.NewReader(""), &o, &e,
				func(k string) string { return s.env[k] })
			if code != tt.code || !strings.Contains(e.String(), tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, e.String(), tt.code, tt.want)
			}
		})
	}
	// Within the limit and with a window that opens, it is created: nothing
	// of the refused attempts was stored.
	os.WriteFile("c.yaml", []byte(valid), 0o644)
	if code := s.run("--max-file-size", "1000", "campaign", "create", "-f", "c.yaml"); code != 0 || !strings.Contains(s.out.String(), "created campaign c (draft): 1 devices") {
		t.Errorf("create within the limit: exit %d\n%s", code, s.out.String())
	}
}
