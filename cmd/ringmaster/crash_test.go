//go:build slow

package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

const crashCampaign = `name: crash
playbook: win10-feature-update
params:
  media_source: '\\dp01\media$\Win10_22H2'
target: 'build<10.0.19045'
waves:
  - {name: pilot, count: 4, max_failure_percent: 60}
  - {name: rest, max_failure_percent: 60}
`

// TestCrashSafety kills ringmaster run with SIGKILL at random moments, five
// times, while a feature-update campaign runs, then lets a last run finish:
// every device ends in exactly one final state, none is lost, and the
// simulator's own count shows setup launched at most once on every device
// (exactly once where it upgraded). It runs on the wall clock for a few
// minutes, so it is built only with -tags slow: make test runs it as a
// test run of its own, with its own timeout.
func TestCrashSafety(t *testing.T) {
	const n = 16
	var specs []device.Spec
	for i := range n {
		s := device.Spec{Hostname: fmt.Sprintf("pc%03d.r%c.nhs.uk", i, 'a'+i%2), Caption: "Microsoft Windows 10 Enterprise",
			Edition: "Enterprise", Build: "10.0.18363", UBR: 1556, DiskFreeGB: 40, RAMGB: 8,
			// Wall-clock time here: an upgrade of 16 s with a 1 s reboot.
			Behaviour: device.Behaviour{UpgradeTime: 16 * time.Second, RebootDuration: time.Second, CompatBlock: i%7 == 3}}
		specs = append(specs, s)
	}
	f, err := fleetsim.Start(context.Background(), fleetsim.Config{Username: "svc", Password: "Crash-Secret-1", Devices: specs,
		FirstAddress: net.IPv4(127, byte(100+rand.IntN(150)), byte(1+rand.IntN(250)), 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := newScript(t)
	var csv strings.Builder
	csv.WriteString("hostname,org,address,os_build\n")
	for i, ep := range f.Endpoints() {
		fmt.Fprintf(&csv, "%s,R%c,%s,10.0.18363\n", ep.Machine.Hostname(), 'A'+i%2, ep.Address(false))
	}
	os.WriteFile("d.csv", []byte(csv.String()), 0o644)
	os.WriteFile("c.yaml", []byte(crashCampaign), 0o644)
	call := s.call
	call("", "inventory", "import", "d.csv", "--create-orgs")
	call("Crash-Secret-1\n", "credential", "add", "svc", "--username", "svc", "--password-stdin")
	call("", "org", "set-credential", "RA", "svc")
	call("", "org", "set-credential", "RB", "svc")
	call("", "campaign", "create", "-f", "c.yaml")
	call("", "campaign", "start", "crash")

	db, _ := filepath.Abs(s.env["RINGMASTER_DB"])
	if db == "" {
		db, _ = filepath.Abs("ringmaster.db")
	}
	child := func(logName string) *exec.Cmd { return runChild(t, db, logName, "--workers", "16", "--lease", "3s") }
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for k := range 5 {
		cmd := child(fmt.Sprintf("run%d.log", k))
		time.Sleep(time.Duration(3000+rng.IntN(9000)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
	}
	cmd := child("final.log")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			log, _ := os.ReadFile("final.log")
			t.Fatalf("final run: %v\n%s", err, log)
		}
	case <-time.After(6 * time.Minute):
		cmd.Process.Kill()
		log, _ := os.ReadFile("final.log")
		t.Fatalf("the campaign did not finish after the crashes:\n%s\n%s\n%s", call("", "campaign", "show", "crash"), log, riverDump(db))
	}

	show := call("", "campaign", "show", "crash", "-o", "json")
	if !strings.Contains(show, `"status":"done"`) {
		t.Fatalf("after the final run: %s", show)
	}
	resumed := 0
	for i, ep := range f.Endpoints() {
		truth := ep.Machine.Truth()
		d := call("", "campaign", "show", "crash", "--device", ep.Machine.Hostname())
		resumed += strings.Count(d, "worker went silent")
		first, _, _ := strings.Cut(d, "\n")
		want, launched := "succeeded (completed)", 1
		if i%7 == 3 {
			want, launched = "failed (compat_blocked:0xC1900208)", 0
		}
		if !strings.Contains(first, ": "+want) {
			t.Errorf("%s: %s, want %s", ep.Machine.Hostname(), first, want)
		}
		if truth.UpgradesLaunched != launched {
			t.Errorf("%s: setup launched %d times on the device, want %d\n%s", ep.Machine.Hostname(), truth.UpgradesLaunched, launched, d)
		}
	}
	// The executors of the killed runs (their plugin processes) must not
	// outlive them.
	var orphans []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if orphans = orphanedExecutors(); len(orphans) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(orphans) > 0 {
		t.Errorf("executor plugins outlived the killed ringmaster run: %v", orphans)
	}
	// The kills must have caught devices mid-run, or this proved nothing.
	if resumed == 0 {
		t.Errorf("no device was resumed after its worker was killed")
	}
	t.Logf("%d device runs were resumed after a kill", resumed)
}

// riverDump lists River's jobs and leader row, for a failure message.
func riverDump(path string) string {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return err.Error()
	}
	defer db.Close()
	var b strings.Builder
	for _, q := range []string{
		`SELECT id, kind, state, attempt, coalesce(attempted_at, ''), scheduled_at, args FROM river_job WHERE state NOT IN ('completed') ORDER BY id`,
		`SELECT leader_id, elected_at, expires_at, '', '', '', '' FROM river_leader`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", q, err)
			continue
		}
		for rows.Next() {
			var v [7]any
			rows.Scan(&v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6])
			fmt.Fprintf(&b, "%v\n", v)
		}
		rows.Close()
	}
	fmt.Fprintf(&b, "now %s\n", time.Now().UTC().Format(time.RFC3339Nano))
	return b.String()
}

// orphanedExecutors lists this binary's executor-plugin processes that are
// not children of this test process (those of killed runs), from /proc.
func orphanedExecutors() []string {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []string
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) < 2 || args[0] != os.Args[0] || args[1] != "executor-plugin" {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] != fmt.Sprint(os.Getpid()) {
			out = append(out, filepath.Base(filepath.Dir(p))+" (parent "+fields[1]+")")
		}
	}
	return out
}
