//go:build slow

package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/pgtest"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// TestSeveralNodesCrash runs a feature-update campaign with faults on
// three ringmaster run processes sharing one PostgreSQL database: n1
// serves RA and RB, n2 serves RC (disjoint), n3 serves all three. No node
// serves RD. It SIGKILLs River's leader, then another node, at random
// moments, and restarts each. Then:
//   - RA to RC finish, and every device there ends as the simulator says,
//     with setup launched at most once (exactly once where it upgraded);
//   - RD's devices wait for a node: campaign show lists RD unserved and its
//     devices pending, waiting_for_node, none failed, and ringmaster nodes
//     shows what each node serves;
//   - a fourth node serving RD finishes the campaign, and the progress
//     report's figures per organisation equal the simulator's.
//
// It runs on the wall clock for a few minutes: built only with -tags slow
// (make test runs it beside TestCrashSafety).
func TestSeveralNodesCrash(t *testing.T) {
	url := pgtest.URL(t)
	orgs := []string{"RA", "RB", "RC", "RD"}
	const n = 32
	var specs []device.Spec
	for i := range n {
		specs = append(specs, device.Spec{Hostname: fmt.Sprintf("pc%03d.%s.nhs.uk", i, strings.ToLower(orgs[i%4])),
			Caption: "Microsoft Windows 10 Enterprise", Edition: "Enterprise", Build: "10.0.18363", UBR: 1556, DiskFreeGB: 40, RAMGB: 8,
			Behaviour: device.Behaviour{UpgradeTime: 12 * time.Second, RebootDuration: time.Second, CompatBlock: i%7 == 3, RollBack: i%11 == 5}})
	}
	f, err := fleetsim.Start(t.Context(), fleetsim.Config{Username: "svc", Password: "Nodes-Secret-1", Devices: specs,
		FirstAddress: net.IPv4(127, byte(100+rand.IntN(150)), byte(1+rand.IntN(250)), 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := newScript(t)
	s.env["RINGMASTER_DB"] = url
	var csv strings.Builder
	csv.WriteString("hostname,org,address,os_build\n")
	for i, ep := range f.Endpoints() {
		fmt.Fprintf(&csv, "%s,%s,%s,10.0.18363\n", ep.Machine.Hostname(), orgs[i%4], ep.Address(false))
	}
	os.WriteFile("d.csv", []byte(csv.String()), 0o644)
	// A run resumed on another node can find its device restarting
	// mid-upgrade, unreachable: it is deferred and tried again, here
	// seconds later rather than the default quarter of an hour.
	os.WriteFile("c.yaml", []byte(crashCampaign+"defer: {backoff: 5s, max_backoff: 10s}\n"), 0o644)
	call := s.call
	call("", "inventory", "import", "d.csv", "--create-orgs")
	call("Nodes-Secret-1\n", "credential", "add", "svc", "--username", "svc", "--password-stdin")
	for _, org := range orgs {
		call("", "org", "set-credential", org, "svc")
	}
	call("", "campaign", "create", "-f", "c.yaml")
	call("", "campaign", "start", "crash")

	serves := map[string]string{"n1": "org in (RA,RB)", "n2": "org=RC", "n3": "org in (RA,RB,RC)", "n4": "org=RD"}
	running := map[string]*exec.Cmd{}
	exited := map[string]chan error{}
	restarts := map[string]int{}
	start := func(name string) {
		cmd := runChild(t, url, fmt.Sprintf("%s-%d.log", name, restarts[name]), "--workers", "8", "--lease", "3s",
			"--node", name, "--serve", serves[name])
		restarts[name]++
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		running[name], exited[name] = cmd, done
	}
	nodes := func() []struct {
		Name    string `json:"name"`
		Serve   string `json:"serve"`
		Live    bool   `json:"live"`
		Leader  bool   `json:"leader"`
		Running int    `json:"running"`
	} {
		var out []struct {
			Name    string `json:"name"`
			Serve   string `json:"serve"`
			Live    bool   `json:"live"`
			Leader  bool   `json:"leader"`
			Running int    `json:"running"`
		}
		if err := json.Unmarshal([]byte(call("", "nodes", "-o", "json")), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	kill := func(name string) {
		running[name].Process.Signal(syscall.SIGKILL)
		<-exited[name]
		t.Logf("killed %s", name)
	}
	for _, name := range []string{"n1", "n2", "n3"} {
		start(name)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 16))
	// The leader dies first, at a random moment once it has been elected.
	time.Sleep(time.Duration(4000+rng.IntN(6000)) * time.Millisecond)
	// It is killed while it runs devices, if it comes to run any within
	// a minute: a kill of an idle node tests little.
	leader := ""
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		busy := false
		for _, nd := range nodes() {
			if nd.Leader && nd.Live {
				leader, busy = nd.Name, nd.Running > 0
			}
		}
		if busy {
			break
		}
	}
	if leader == "" {
		t.Fatalf("no leader among the nodes: %s", call("", "nodes"))
	}
	kill(leader)
	time.Sleep(time.Duration(1000+rng.IntN(3000)) * time.Millisecond)
	start(leader)
	// Then another.
	time.Sleep(time.Duration(3000+rng.IntN(6000)) * time.Millisecond)
	// Then another: the busiest of the others, a random one if none runs
	// a device.
	others := slices.DeleteFunc([]string{"n1", "n2", "n3"}, func(s string) bool { return s == leader })
	other := others[rng.IntN(len(others))]
	most := 0
	for _, nd := range nodes() {
		if nd.Live && nd.Running > most && slices.Contains(others, nd.Name) {
			other, most = nd.Name, nd.Running
		}
	}
	kill(other)
	time.Sleep(time.Duration(1000+rng.IntN(3000)) * time.Millisecond)
	start(other)
	// n0 serves an organisation with no device and runs until told to
	// stop (started after the kills, so that the leader killed is one of
	// n1 to n3): a node is running once n1 to n3 are done, so RD shows as
	// waiting for a node, not as waiting for any node to start.
	n0 := exec.Command(os.Args[0], "run", "--view", "plain", "--node", "n0", "--serve", "org=RZ", "--lease", "3s")
	n0.Env = append(os.Environ(), "RINGMASTER_TEST_MAIN=1", "RINGMASTER_DB="+url)
	if err := n0.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		n0.Process.Signal(syscall.SIGTERM)
		n0.Wait()
	}()

	// RA to RC finish; the nodes exit (--until-done) once only RD is left,
	// which waits for a node (a person's to start).
	for _, name := range []string{"n1", "n2", "n3"} {
		select {
		case err := <-exited[name]:
			if err != nil {
				log, _ := os.ReadFile(fmt.Sprintf("%s-%d.log", name, restarts[name]-1))
				t.Fatalf("%s: %v\n%s", name, err, log)
			}
		case <-time.After(6 * time.Minute):
			for _, c := range running {
				c.Process.Kill()
			}
			t.Fatalf("%s did not finish RA to RC after the kills:\n%s\n%s", name, call("", "campaign", "show", "crash"), call("", "nodes"))
		}
	}
	var show struct {
		Status   string         `json:"status"`
		States   map[string]int `json:"states"`
		Unserved []string       `json:"unserved_orgs"`
		Blocked  []struct {
			Org     string `json:"org"`
			Reason  string `json:"reason"`
			Devices int    `json:"devices"`
		} `json:"blocked"`
	}
	if err := json.Unmarshal([]byte(call("", "campaign", "show", "crash", "-o", "json")), &show); err != nil {
		t.Fatal(err)
	}
	rd := n / 4
	waiting := 0
	for _, b := range show.Blocked {
		if b.Reason == "waiting_for_node" && b.Org == "RD" {
			waiting += b.Devices
		}
	}
	if !slices.Equal(show.Unserved, []string{"RD"}) || waiting != rd || show.States["pending"] != rd || show.Status != "running" {
		t.Fatalf("with RD unserved: status %s, unserved %v, %d waiting for a node, states %v; want RD's %d devices pending, waiting for a node\n%s",
			show.Status, show.Unserved, waiting, show.States, rd, call("", "campaign", "show", "crash"))
	}
	text := call("", "campaign", "show", "crash")
	if !strings.Contains(text, "no running node serves RD") {
		t.Errorf("campaign show does not say RD waits for a node:\n%s", text)
	}
	if ns := nodes(); len(ns) != 1 || ns[0].Name != "n0" || !ns[0].Live || ns[0].Serve != "org=RZ" {
		t.Errorf("nodes %+v, want n0 alone, serving org=RZ (the others stopped and left the registry)", ns)
	}

	// A node in RD's network finishes the campaign.
	start("n4")
	select {
	case err := <-exited["n4"]:
		if err != nil {
			log, _ := os.ReadFile("n4-0.log")
			t.Fatalf("n4: %v\n%s", err, log)
		}
	case <-time.After(4 * time.Minute):
		running["n4"].Process.Kill()
		t.Fatalf("n4 did not finish RD:\n%s", call("", "campaign", "show", "crash"))
	}
	if out := call("", "campaign", "show", "crash", "-o", "json"); !strings.Contains(out, `"status":"done"`) {
		t.Fatalf("after n4: %s", out)
	}

	resumed := 0
	type tally struct{ succeeded, failed int }
	truth := map[string]*tally{}
	for i, ep := range f.Endpoints() {
		host, org := ep.Machine.Hostname(), orgs[i%4]
		tr := ep.Machine.Truth()
		d := call("", "campaign", "show", "crash", "--device", host)
		resumed += strings.Count(d, "worker went silent")
		first, _, _ := strings.Cut(d, "\n")
		want, launched := "succeeded (completed)", 1
		switch {
		case i%7 == 3:
			want, launched = "failed (compat_blocked:0xC1900208)", 0
		case i%11 == 5:
			want = "failed (rolled_back:0xC1900101)"
		}
		if truth[org] == nil {
			truth[org] = &tally{}
		}
		if tr.Build == "10.0.19045" {
			truth[org].succeeded++
		} else {
			truth[org].failed++
		}
		if !strings.Contains(first, ": "+want) {
			t.Errorf("%s: %s, want %s", host, first, want)
		}
		if tr.UpgradesLaunched != launched {
			t.Errorf("%s: setup launched %d times on the device, want %d\n%s", host, tr.UpgradesLaunched, launched, d)
		}
	}
	// The progress report, per organisation, is the simulator's truth.
	var progress struct {
		Rows []struct {
			Org      string `json:"org"`
			OnTarget int    `json:"on_target"`
			Failed   int    `json:"failed"`
		} `json:"organisations"`
	}
	out := call("", "report", "progress", "--campaign", "crash", "-o", "json")
	if err := json.Unmarshal([]byte(out), &progress); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, p := range progress.Rows {
		want := truth[p.Org]
		if want == nil {
			continue
		}
		seen++
		if p.OnTarget != want.succeeded || p.Failed != want.failed {
			t.Errorf("progress report for %s: %d on the target build, %d failed; the devices say %d and %d", p.Org, p.OnTarget, p.Failed, want.succeeded, want.failed)
		}
	}
	if seen != len(orgs) {
		t.Errorf("the progress report has %d of the %d organisations:\n%s", seen, len(orgs), out)
	}
	if resumed == 0 {
		t.Errorf("no device was resumed after its node was killed: the kills tested nothing")
	}
	t.Logf("killed %s (the leader) and %s; %d device runs resumed after a kill", leader, other, resumed)
}
