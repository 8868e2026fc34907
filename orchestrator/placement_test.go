package orchestrator

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
)

func TestParsePlacement(t *testing.T) {
	for _, c := range []struct {
		src    string
		serves []string
		not    []string
		err    string
	}{
		{src: "", serves: []string{"RA", "RZZ"}},
		{src: "org in (RA,RB)", serves: []string{"RA", "rb"}, not: []string{"RC"}},
		{src: "org=RA", serves: []string{"RA"}, not: []string{"RB"}},
		{src: "org notin (RA)", serves: []string{"RB"}, not: []string{"RA"}},
		{src: "site=S1", err: `"site": a node serves organisations`},
		{src: "org in (RA", err: "placement: selector:"},
	} {
		t.Run(c.src, func(t *testing.T) {
			p, err := ParsePlacement(c.src)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, errkind.Invalid) {
					t.Fatalf("ParsePlacement(%q) = %v, want an invalid error containing %q", c.src, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, org := range c.serves {
				if !p.Serves(org) {
					t.Errorf("%q does not serve %s", c.src, org)
				}
			}
			for _, org := range c.not {
				if p.Serves(org) {
					t.Errorf("%q serves %s", c.src, org)
				}
			}
			if (c.src == "") != (p.Queue() == DefaultQueue) {
				t.Errorf("%q has queue %s", c.src, p.Queue())
			}
		})
	}
}

func TestPlacementsRouteAndUnserved(t *testing.T) {
	wall := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	node := func(name, serve string, live bool) Node {
		p, err := ParsePlacement(serve)
		if err != nil {
			t.Fatal(err)
		}
		until := wall.Add(time.Minute)
		if !live {
			until = wall.Add(-time.Second)
		}
		return Node{Name: name, Serve: serve, Queue: p.Queue(), Until: until}
	}
	ab, _ := ParsePlacement("org in (RA,RB)")
	b, _ := ParsePlacement("org=RB")
	c, _ := ParsePlacement("org=RC")

	if ps := LivePlacements(nil, wall); ps.Any() || ps.Unserved([]string{"RA"}) != nil {
		t.Fatal("no node: nothing is said unserved (nothing runs)")
	}

	ps := LivePlacements([]Node{node("n1", "org in (RA,RB)", true), node("n2", "org=RB", true), node("n3", "org=RC", false)}, wall)
	if got := ps.Unserved([]string{"RA", "RB", "RC", "RD"}); len(got) != 2 || !got["RC"] || !got["RD"] {
		t.Errorf("unserved %v, want RC (its node lapsed) and RD", got)
	}
	if q, ok := ps.Route("RA", "pc1"); !ok || q != ab.Queue() {
		t.Errorf("RA routes to %s %v, want %s", q, ok, ab.Queue())
	}
	if _, ok := ps.Route("RC", "pc1"); ok {
		t.Error("RC routed to a lapsed node's queue")
	}
	// RB is served by two placements: its devices are shared between them,
	// each device always to the same one.
	got := map[string]bool{}
	for i := range 50 {
		host := "pc" + strings.Repeat("x", i)
		q, _ := ps.Route("RB", host)
		if q2, _ := ps.Route("RB", host); q2 != q {
			t.Fatalf("%s routed to %s then %s", host, q, q2)
		}
		got[q] = true
	}
	if !got[ab.Queue()] || !got[b.Queue()] || len(got) != 2 {
		t.Errorf("RB's devices went to %v, want both of its placements' queues", got)
	}

	// A node for every organisation takes what no named node does.
	ps = LivePlacements([]Node{node("n1", "org=RC", true), node("all", "", true)}, wall)
	if q, _ := ps.Route("RC", "pc1"); q != c.Queue() {
		t.Errorf("RC routes to %s, want its own node's %s before the national one", q, c.Queue())
	}
	if q, _ := ps.Route("RA", "pc1"); q != DefaultQueue {
		t.Errorf("RA routes to %s, want %s", q, DefaultQueue)
	}
	if u := ps.Unserved([]string{"RA", "RC"}); u != nil {
		t.Errorf("unserved %v with a node for everything", u)
	}
	if qs := ps.Queues(); !slices.Equal(qs, []string{DefaultQueue, c.Queue()}) && !slices.Equal(qs, []string{c.Queue(), DefaultQueue}) {
		t.Errorf("queues %v", qs)
	}
}

func TestDecideHoldsUnservedOrganisations(t *testing.T) {
	s := spec(t, `
name: placed
playbook: discover
waves: [{name: all}]
`)
	ms := members(s, map[string]int{"RAA": 3, "RBB": 3})
	v := view(s, ms, StatusRunning)
	v.Waves[0].Status = WaveActive
	v.Unserved = map[string]bool{"RBB": true}
	p := Decide(v, t0)
	for _, h := range p.Dispatch {
		if strings.Contains(h, ".rbb.") {
			t.Fatalf("dispatched %s of RBB, which no node serves", h)
		}
	}
	if len(p.Dispatch) != 3 || blocked(p, BlockNoNode) != 3 {
		t.Fatalf("dispatched %d, %d waiting for a node; want 3 and 3: %+v", len(p.Dispatch), blocked(p, BlockNoNode), p)
	}
	if p.Done {
		t.Fatal("a campaign with devices waiting for a node is done")
	}
	// Once RA's are done, only a person (starting a node) moves it on.
	for i := range v.Members {
		if v.Members[i].Org == "RAA" {
			v.Members[i].State = DeviceSucceeded
		}
	}
	p = Decide(v, t0)
	waits := p.PersonWaits(v)
	if len(waits) != 1 || !strings.Contains(waits[0].What, "no running node serves organisation RBB") {
		t.Fatalf("person waits %v", waits)
	}
}
