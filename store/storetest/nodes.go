package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// Nodes runs the node registry's conformance suite: registrations read
// back as written (times to the microsecond, in UTC), a node registering
// again under its name replaces its registration, a renewal moves its
// times and fails for a node not registered, Deregister and Prune remove
// what they say and nothing else, and registering or deregistering makes
// the running campaigns due.
func Nodes(t *testing.T, open Open) {
	clock := NewClock(zoned)
	st := open(t, clock.Now)
	s := st.Nodes
	if ns, err := s.List(ctx); err != nil || len(ns) != 0 {
		t.Fatalf("a new registry lists %v %v", ns, err)
	}
	// A running campaign the controller has decided for is not due...
	cs := st.Campaigns
	newCampaign(t, cs, "c", 2)
	if _, err := cs.ChangeStatus(ctx, "c", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	decided := func() {
		t.Helper()
		c, err := cs.Campaign(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cs.Apply(ctx, "c", c.Seq, orchestrator.Plan{}, clock.Now(), "controller", nil); err != nil {
			t.Fatal(err)
		}
		if due, err := cs.Due(ctx, clock.Now(), clock.Now()); err != nil || len(due) != 0 {
			t.Fatalf("due after a decision: %v %v", due, err)
		}
	}
	isDue := func(after string) {
		t.Helper()
		if due, err := cs.Due(ctx, clock.Now(), clock.Now()); err != nil || len(due) != 1 || due[0] != "c" {
			t.Fatalf("due after %s = %v %v, want [c]: what is served changed", after, due, err)
		}
	}
	decided()
	at := zoned.Add(123456789 * time.Nanosecond)
	a := orchestrator.Node{Name: "node-a", Serve: "org in (RA,RB)", Queue: "devices_0123456789ab", Host: "a.example", PID: 41,
		Workers: 200, Version: "v1", Started: at, Seen: at, Until: at.Add(30 * time.Second)}
	b := orchestrator.Node{Name: "node-b", Queue: orchestrator.DefaultQueue, Host: "b.example", PID: 42, Workers: 50, Version: "v1",
		Started: at, Seen: at, Until: at.Add(time.Minute)}
	for _, n := range []orchestrator.Node{b, a} {
		if err := s.Register(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	// ...until a node registers: it may serve organisations that waited.
	isDue("a node registered")
	decided()
	norm := func(n orchestrator.Node) orchestrator.Node {
		n.Started, n.Seen, n.Until = n.Started.UTC().Truncate(time.Microsecond), n.Seen.UTC().Truncate(time.Microsecond), n.Until.UTC().Truncate(time.Microsecond)
		return n
	}
	list := func() []orchestrator.Node {
		t.Helper()
		ns, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
	if ns := list(); len(ns) != 2 || ns[0] != norm(a) || ns[1] != norm(b) {
		t.Fatalf("registry lists %+v, want %+v and %+v by name", ns, norm(a), norm(b))
	}
	// Restarted under its name with another placement: replaced.
	a2 := a
	a2.Serve, a2.Queue, a2.PID, a2.Started = "org=RC", "devices_ba9876543210", 77, at.Add(time.Hour)
	if err := s.Register(ctx, a2); err != nil {
		t.Fatal(err)
	}
	if ns := list(); len(ns) != 2 || ns[0] != norm(a2) {
		t.Fatalf("after registering again: %+v, want %+v first", ns, norm(a2))
	}
	seen := at.Add(2 * time.Hour)
	if err := s.Renew(ctx, "node-a", seen, seen.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if ns := list(); !ns[0].Seen.Equal(seen.Truncate(time.Microsecond)) || !ns[0].Until.Equal(seen.Add(30*time.Second).Truncate(time.Microsecond)) || ns[0].Serve != "org=RC" {
		t.Fatalf("renewed: %+v", ns[0])
	}
	if err := s.Renew(ctx, "node-z", seen, seen); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("renew an unknown node = %v, want NotFound", err)
	}
	// b lapsed at at+1m; a holds until seen+30s.
	if n, err := s.Prune(ctx, at.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("prune = %d %v, want 1 (node-b)", n, err)
	}
	if ns := list(); len(ns) != 1 || ns[0].Name != "node-a" {
		t.Fatalf("after prune: %+v", ns)
	}
	decided()
	if err := s.Deregister(ctx, "node-a"); err != nil {
		t.Fatal(err)
	}
	isDue("a node left")
	if err := s.Deregister(ctx, "node-a"); err != nil {
		t.Fatalf("deregister twice: %v", err)
	}
	if ns := list(); len(ns) != 0 {
		t.Fatalf("after deregister: %+v", ns)
	}
}
