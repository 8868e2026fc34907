package orchestrator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Placement says which organisations' devices a node runs: those its
// network reaches (`ringmaster run --serve 'org in (RXX,RYY)'`). The zero
// Placement serves every organisation. A placement names organisations
// only: Decide holds back or lets through an organisation's devices as
// one, so a selector on any other key is refused.
type Placement struct {
	sel inventory.Selector
}

// ParsePlacement parses a placement selector: org=X, org in (X,Y),
// org!=X or org notin (X,Y), comma-joined; "" serves every organisation.
func ParsePlacement(src string) (Placement, error) {
	sel, err := inventory.ParseSelector(src)
	if err != nil {
		return Placement{}, fmt.Errorf("placement: %w", err)
	}
	for _, r := range sel.Requirements() {
		if r.Key != "org" {
			return Placement{}, fmt.Errorf("placement %q: %q: a node serves organisations: name them with org (org in (RXX,RYY)): %w", src, r.Key, errkind.Invalid)
		}
	}
	return Placement{sel: sel}, nil
}

// String returns the placement as written ("" for every organisation).
func (p Placement) String() string { return p.sel.String() }

// All reports whether the placement serves every organisation.
func (p Placement) All() bool { return p.sel.Empty() }

// Serves reports whether the placement serves organisation org.
func (p Placement) Serves(org string) bool {
	return p.sel.Matches(&inventory.Device{Org: org})
}

// DefaultQueue is the job queue of the nodes that serve every
// organisation (and of every node before placements existed).
const DefaultQueue = "devices"

// Queue is the job queue of the nodes with this placement: nodes that
// serve the same organisations share one, so each may take the other's
// devices. It is named from the placement as written, so two nodes should
// write theirs alike to share a queue (nothing is lost if they do not:
// each queue is served).
func (p Placement) Queue() string {
	if p.All() {
		return DefaultQueue
	}
	sum := sha256.Sum256([]byte(p.sel.String()))
	return DefaultQueue + "_" + hex.EncodeToString(sum[:6])
}

// Node is a scheduler process as it registered itself: its name, what it
// serves and the queue that takes those devices' jobs, where it runs, and
// until when its registration holds unless it renews it (a node that stops
// renewing, as a killed one does, lapses).
type Node struct {
	Name    string
	Serve   string // its placement as written; "" serves every organisation
	Queue   string // Placement.Queue of Serve
	Host    string // the machine's hostname
	PID     int
	Workers int
	Version string
	Started time.Time
	Seen    time.Time // last renewal
	Until   time.Time // the registration lapses then unless renewed
}

// Live reports whether the node's registration holds at wall.
func (n Node) Live(wall time.Time) bool { return wall.Before(n.Until) }

// Nodes is the registry of scheduler nodes sharing one database.
// Register and Deregister change what is served: both mark the running
// campaigns for a decision (Store.Due lists them), so that organisations
// waiting for a node are dispatched as soon as one serves them.
type Nodes interface {
	// Register records a node, replacing a registration of the same name
	// (a node that restarts takes its name back).
	Register(ctx context.Context, n Node) error
	// Renew extends a node's registration to until, seen at seen; an
	// error wrapping errkind.NotFound when it is not registered (removed
	// by Prune after it lapsed: Register again).
	Renew(ctx context.Context, name string, seen, until time.Time) error
	// Deregister removes a node's registration (it stopped cleanly).
	Deregister(ctx context.Context, name string) error
	// List returns every registered node, live or lapsed, by name.
	List(ctx context.Context) ([]Node, error)
	// Prune removes the registrations that lapsed before before.
	Prune(ctx context.Context, before time.Time) (int, error)
}

// Placements is what the live nodes serve, for deciding and routing: an
// organisation no live node serves waits for one (BlockNoNode), and a
// device is sent to the queue of a node that serves its organisation.
type Placements struct {
	entries []placed
}

type placed struct {
	p     Placement
	queue string
}

// LivePlacements returns what the nodes live at wall serve; a node whose
// stored placement no longer parses is left out (its devices wait for a
// node that can be read), as are nodes registered under another queue
// name than their placement gives.
func LivePlacements(nodes []Node, wall time.Time) Placements {
	var ps Placements
	seen := map[string]bool{}
	for _, n := range nodes {
		if !n.Live(wall) || seen[n.Queue] {
			continue
		}
		p, err := ParsePlacement(n.Serve)
		if err != nil || p.Queue() != n.Queue {
			continue
		}
		seen[n.Queue] = true
		ps.entries = append(ps.entries, placed{p, n.Queue})
	}
	slices.SortFunc(ps.entries, func(a, b placed) int { return strings.Compare(a.queue, b.queue) })
	return ps
}

// Any reports whether any node is live.
func (ps Placements) Any() bool { return len(ps.entries) > 0 }

// Serves reports whether a live node serves org.
func (ps Placements) Serves(org string) bool {
	for _, e := range ps.entries {
		if e.p.Serves(org) {
			return true
		}
	}
	return false
}

// Queues returns the live nodes' queues, sorted.
func (ps Placements) Queues() []string {
	out := make([]string, len(ps.entries))
	for i, e := range ps.entries {
		out[i] = e.queue
	}
	return out
}

// Route returns the queue for a device of org: a node that names org
// before one that serves every organisation (the node in the
// organisation's own network), and among several such, one chosen by the
// hostname so that they share its devices; false when no live node serves
// org.
func (ps Placements) Route(org, hostname string) (string, bool) {
	var named []string
	all := ""
	for _, e := range ps.entries {
		switch {
		case !e.p.Serves(org):
		case e.p.All():
			all = e.queue
		default:
			named = append(named, e.queue)
		}
	}
	switch len(named) {
	case 0:
		return all, all != ""
	case 1:
		return named[0], true
	}
	h := fnv.New32a()
	h.Write([]byte(hostname))
	x := h.Sum32() // FNV's low bits follow the last byte's: mix them
	x ^= x >> 16
	x *= 0x45d9f3b
	x ^= x >> 16
	return named[x%uint32(len(named))], true
}

// Unserved returns, of orgs, those no live node serves; nil when no node
// is live at all (nothing is running, which campaign show says apart).
func (ps Placements) Unserved(orgs []string) map[string]bool {
	if !ps.Any() {
		return nil
	}
	var out map[string]bool
	for _, org := range orgs {
		if !ps.Serves(org) {
			if out == nil {
				out = map[string]bool{}
			}
			out[org] = true
		}
	}
	return out
}
