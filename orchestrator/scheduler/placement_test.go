package scheduler_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/internal/simtest"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/orchestrator/scheduler"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
	"github.com/ringmaster-fleet/ringmaster/store"
)

// TestPlacement runs a campaign over three organisations with a node that
// serves one of them: its devices run there and no other, the others wait
// for a node (in the plan and in campaign show), never failed; a second
// node serving the other two (beside the first on PostgreSQL, after it on
// SQLite, which one node runs at a time) finishes them; ringmaster nodes
// lists what each serves and runs.
func TestPlacement(t *testing.T) { forEngines(t, placement) }

func placement(t *testing.T, eng engine) {
	const n = 12
	specs := make([]device.Spec, n)
	orgs := []string{"RA", "RB", "RC"}
	for i := range specs {
		s := simtest.Win10(device.Behaviour{})
		s.Hostname = fmt.Sprintf("pc%03d.%s.nhs.uk", i, strings.ToLower(orgs[i%3]))
		s.Build = "10.0.18363"
		specs[i] = s
	}
	e := newEstate(t, eng, specs, func(i int) string { return orgs[i%3] })
	ctx := context.Background()
	var mu sync.Mutex
	ranOn := map[string]string{} // device -> the node that ran it
	start := func(db store.DB, name, serve string) *node {
		p, err := orchestrator.ParsePlacement(serve)
		if err != nil {
			t.Fatal(err)
		}
		reg, err := db.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return e.startWith(t, db, 50*time.Millisecond, func(_, host string, _ playbooks.Outcome) {
			mu.Lock()
			ranOn[host] = name
			mu.Unlock()
		}, func(c *scheduler.Config) { c.Placement, c.Nodes, c.Name = p, reg, name })
	}
	a := start(e.db, "node-a", "org=RA")
	reg, err := e.db.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	app := campaigns.New(campaigns.Config{Store: e.store, Inventory: e, Nodes: reg, Now: e.clock.Now,
		Playbooks: func(name string) (string, []byte, error) {
			src, err := builtin.Source(name)
			return "builtin/" + name + ".yaml", src, err
		}})
	if _, err := app.Create(ctx, "placed.yaml", []byte("name: placed\nplaybook: discover\nwaves: [{name: all}]\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Start(ctx, "placed"); err != nil {
		t.Fatal(err)
	}
	// RA's devices finish; RB's and RC's wait for a node.
	deadline := time.Now().Add(time.Minute)
	var d campaigns.Detail
	for {
		if d, err = app.Show(ctx, "placed"); err != nil {
			t.Fatal(err)
		}
		if d.States["succeeded"] == n/3 && d.States["pending"] == 2*n/3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RA's devices did not finish alone within a minute: %+v", d.States)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !slices.Equal(d.Unserved, []string{"RB", "RC"}) || len(d.Nodes) != 1 || d.Nodes[0].Name != "node-a" {
		t.Fatalf("campaign show: unserved %v, nodes %+v; want RB and RC unserved, node-a running", d.Unserved, d.Nodes)
	}
	waiting := 0
	for _, b := range d.Blocked {
		if b.Reason == string(orchestrator.BlockNoNode) {
			waiting += b.Devices
		}
	}
	if waiting != 2*n/3 || d.States["failed"] != 0 {
		t.Fatalf("%d devices waiting for a node, %d failed; want %d and 0: %+v", waiting, d.States["failed"], 2*n/3, d.Blocked)
	}
	ns, err := scheduler.Nodes(ctx, jobs(t, e.db), reg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 || ns[0].Name != "node-a" || !ns[0].Live || ns[0].Serve != "org=RA" {
		t.Fatalf("nodes %+v, want node-a live serving org=RA", ns)
	}

	db := e.db
	if eng.name == "SQLite" {
		// One node at a time on a file: node-a stops, and its
		// registration goes with it.
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		a.sched.Stop(stopCtx)
		cancel()
		if ns, _ := reg.List(ctx); len(ns) != 0 {
			t.Fatalf("node-a stopped but is registered: %+v", ns)
		}
	} else {
		db = e.open(t)
	}
	start(db, "node-b", "org in (RB,RC)")
	e.waitDone(t, "placed", time.Minute)
	mu.Lock()
	defer mu.Unlock()
	for host, on := range ranOn {
		want := "node-b"
		if strings.Contains(host, ".ra.") {
			want = "node-a"
		}
		if on != want {
			t.Errorf("%s ran on %s, want %s", host, on, want)
		}
	}
	if len(ranOn) != n {
		t.Errorf("%d devices ran, want %d", len(ranOn), n)
	}
	if eng.name == "SQLite" {
		return
	}
	// A node that dies (its context cancelled, as a killed process's
	// work ends) stops renewing: it lapses within a lease.
	a.kill()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		ns, err := scheduler.Nodes(ctx, jobs(t, e.db), reg, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		live := map[string]bool{}
		for _, n := range ns {
			live[n.Name] = n.Live
		}
		if !live["node-a"] && live["node-b"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minute after node-a died: %+v", ns)
		}
	}
}
