package campaigns

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// Summary is a campaign's device counts, as campaign list shows them.
type Summary struct {
	Name    string         `json:"name"`
	Status  string         `json:"status"`
	Devices int            `json:"devices"`
	States  map[string]int `json:"states"` // every device state, zeros included
	Created time.Time      `json:"created_at"`
}

// Detail is a campaign as campaign show shows it: its waves, counts per
// state, failure reasons, and what waits and why, as the controller
// decides on the current state without applying anything.
type Detail struct {
	Name    string         `json:"name"`
	Status  string         `json:"status"`
	Waves   []WaveDetail   `json:"waves"`
	Reasons []ReasonCount  `json:"failure_reasons"`
	Blocked []Blocked      `json:"blocked"`
	States  map[string]int `json:"states"`
	WakeAt  *time.Time     `json:"wake_at"`
	// NeedsPerson: it can go no further until someone continues, retries,
	// approves or cancels (a halt, an approval, a window that never opens
	// again); WaitsFor says what waits and the command that moves it on,
	// Waits the same one by one, and Next is the first command.
	NeedsPerson bool `json:"needs_person"`
	// Settled: the store holds what the controller decides on it now (no
	// wave change waits for its next pass), so what waits is as shown.
	Settled  bool                `json:"-"`
	WaitsFor string              `json:"waits_for"`
	Waits    []orchestrator.Wait `json:"waits"`
	Next     string              `json:"next_command"`
	// Held are the organisations their own failures hold, each with the
	// wave and the counts as they are now.
	Held []HeldOrg `json:"held_orgs"`
	// Events are the decisions people took on it, oldest first.
	Events []orchestrator.Event `json:"events"`
	// Nodes are the scheduler nodes running now (ringmaster run), with
	// what each serves; Unserved the organisations with devices that wait
	// for a node (none of them serves it). Both are empty when the
	// Service has no node registry.
	Nodes    []NodeServes `json:"nodes"`
	Unserved []string     `json:"unserved_orgs"`
}

// NodeServes is a running node and what it serves ("" for every
// organisation).
type NodeServes struct {
	Name  string `json:"name"`
	Serve string `json:"serve"`
}

// HeldOrg is an organisation held by its failures in a wave: why, with
// the counts as they are now, and the command that lets it go on.
type HeldOrg struct {
	Org     string `json:"org"`
	Wave    string `json:"wave"`
	Reason  string `json:"reason"`
	Command string `json:"command"`
}

// WaveDetail is one wave of a Detail.
type WaveDetail struct {
	Name      string         `json:"name"`
	Status    string         `json:"status"`
	Devices   int            `json:"devices"`
	States    map[string]int `json:"states"`
	Started   *time.Time     `json:"started_at"`
	Completed *time.Time     `json:"completed_at"`
	// Reason is why a halted wave halted, with its failures counted now
	// (not when it halted) against its threshold as it is now.
	Reason string `json:"reason"`
}

// ReasonCount is how many failed or deferred devices share a reason.
type ReasonCount struct {
	Reason  string `json:"reason"`
	Devices int    `json:"devices"`
}

// Blocked is work that could start but waits, and why (orchestrator.Block).
type Blocked struct {
	Wave    string     `json:"wave"`
	Org     string     `json:"org"`
	Reason  string     `json:"reason"`
	Devices int        `json:"devices"`
	Until   *time.Time `json:"until"`
}

// History is one device of a campaign: where it stands, every transition
// it went through, oldest first, and the decisions that accepted its
// failure (campaign continue on its wave).
type History struct {
	Campaign    string
	Device      orchestrator.DeviceRecord
	Transitions []orchestrator.Transition
	Decisions   []orchestrator.Event
}

// Campaigns lists the stored campaigns, oldest first.
func (s *Service) Campaigns(ctx context.Context) ([]orchestrator.Campaign, error) {
	cs, err := s.store.Campaigns(ctx)
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	return cs, nil
}

// List summarises every campaign, oldest first.
func (s *Service) List(ctx context.Context) ([]Summary, error) {
	return s.ListIn(ctx, access.AllOrgs())
}

// CountStates sums the counts that keep selects per state, every state
// present (zero when none is in it), and in all.
func CountStates(counts []orchestrator.Count, keep func(orchestrator.Count) bool) (map[string]int, int) {
	out := make(map[string]int, len(orchestrator.DeviceStates))
	for _, st := range orchestrator.DeviceStates {
		out[string(st)] = 0
	}
	n := 0
	for _, c := range counts {
		if keep(c) {
			out[string(c.State)] += c.Devices
			n += c.Devices
		}
	}
	return out, n
}

// Show describes one campaign.
func (s *Service) Show(ctx context.Context, name string) (Detail, error) {
	c, err := s.store.Campaign(ctx, name)
	if err != nil {
		return Detail{}, err
	}
	return s.Describe(ctx, c)
}

// Describe describes a campaign already read (the live view reads them
// all, then describes the live ones); what waits and why comes from the
// controller itself, deciding at now on the current state.
func (s *Service) Describe(ctx context.Context, c orchestrator.Campaign) (Detail, error) {
	return s.describe(ctx, c, access.AllOrgs())
}

// describe is Describe as seen by a reader of orgs: counts, reasons,
// what waits and the decisions of those organisations only (see ShowIn).
func (s *Service) describe(ctx context.Context, c orchestrator.Campaign, orgs access.Orgs) (Detail, error) {
	names, waves, err := s.store.Waves(ctx, c.Name)
	if err != nil {
		return Detail{}, fmt.Errorf("campaign %s: waves: %w", c.Name, err)
	}
	v, err := orchestrator.ReadView(ctx, s.store, s.inv, c)
	if err != nil {
		return Detail{}, err
	}
	d := Detail{Name: c.Name, Status: string(c.Status), WakeAt: timePtr(c.WakeAt), Reasons: []ReasonCount{}, Blocked: []Blocked{},
		Nodes: []NodeServes{}, Unserved: []string{}}
	if s.nodes != nil {
		nodes, err := s.nodes.List(ctx)
		if err != nil {
			return Detail{}, fmt.Errorf("campaign %s: %w", c.Name, err)
		}
		wall := time.Now() // registrations are renewed on the nodes' wall clocks
		for _, n := range nodes {
			if n.Live(wall) {
				d.Nodes = append(d.Nodes, NodeServes{n.Name, n.Serve})
			}
		}
		var orgs []string
		for _, n := range v.Counts {
			if !slices.Contains(orgs, n.Org) {
				orgs = append(orgs, n.Org)
			}
		}
		v.Unserved = orchestrator.LivePlacements(nodes, wall).Unserved(orgs)
	}
	seen := func(c orchestrator.Count) bool { return orgs.Covers(c.Org) }
	d.States, _ = CountStates(v.Counts, seen)
	for i, n := range names {
		states, devices := CountStates(v.Counts, func(c orchestrator.Count) bool { return c.Wave == i && seen(c) })
		d.Waves = append(d.Waves, WaveDetail{Name: n, Status: string(waves[i].Status), Devices: devices, States: states,
			Started: timePtr(waves[i].Started), Completed: timePtr(waves[i].Completed), Reason: waves[i].Reason})
	}
	reasons := map[orchestrator.Reason]int{}
	for _, c := range v.Counts {
		if (c.State == orchestrator.DeviceFailed || c.State == orchestrator.DeviceDeferred) && seen(c) {
			reasons[c.Reason] += c.Devices
		}
	}
	for r, n := range reasons {
		d.Reasons = append(d.Reasons, ReasonCount{string(r), n})
	}
	slices.SortFunc(d.Reasons, func(x, y ReasonCount) int { return cmp.Or(y.Devices-x.Devices, strings.Compare(x.Reason, y.Reason)) })
	for i := range d.Waves {
		if i < len(v.Spec.Waves) && waves[i].Status == orchestrator.WaveHalted {
			d.Waves[i].Reason = v.WaveFailures(i).String()
		}
	}
	d.Held = []HeldOrg{}
	for _, f := range v.HeldOrgs() {
		w := f.HeldWait(v.Spec)
		d.Held = append(d.Held, HeldOrg{Org: f.Org, Wave: f.WaveName, Reason: f.String(), Command: w.Command})
	}
	plan := orchestrator.Decide(v, s.now())
	if err := v.Err(); err != nil {
		return Detail{}, err
	}
	for _, b := range plan.Blocked {
		d.Blocked = append(d.Blocked, Blocked{Wave: b.Wave, Org: b.Org, Reason: string(b.Reason), Devices: b.Devices, Until: timePtr(b.Until)})
		if b.Reason == orchestrator.BlockNoNode && !slices.Contains(d.Unserved, b.Org) {
			d.Unserved = append(d.Unserved, b.Org)
		}
	}
	slices.Sort(d.Unserved)
	d.Settled = len(plan.WaveChanges) == 0
	d.Waits = plan.PersonWaits(v)
	d.WaitsFor = plan.PersonWait(v)
	d.NeedsPerson = len(d.Waits) > 0
	if d.NeedsPerson {
		d.Next, _, _ = strings.Cut(d.Waits[0].Command, ", or ")
	} else {
		d.Waits = []orchestrator.Wait{}
	}
	if d.Events, err = s.store.Events(ctx, c.Name); err != nil {
		return Detail{}, err
	}
	if d.Events == nil {
		d.Events = []orchestrator.Event{}
	}
	if !orgs.All() {
		bound(&d, orgs, v.Counts)
	}
	return d, nil
}

// Device returns one device's standing in a campaign and its history; the
// hostname is normalised as the inventory does.
func (s *Service) Device(ctx context.Context, name, hostname string) (History, error) {
	d, err := s.store.Device(ctx, name, inventory.NormaliseHostname(hostname))
	if err != nil {
		return History{}, err
	}
	tr, err := s.store.Transitions(ctx, name, d.Hostname)
	if err != nil {
		return History{}, fmt.Errorf("campaign %s device %s: transitions: %w", name, d.Hostname, err)
	}
	h := History{Campaign: name, Device: d, Transitions: tr}
	if d.Accepted {
		names, _, err := s.store.Waves(ctx, name)
		if err != nil {
			return History{}, fmt.Errorf("campaign %s: waves: %w", name, err)
		}
		evs, err := s.store.Events(ctx, name)
		if err != nil {
			return History{}, err
		}
		for _, e := range evs {
			if e.Action == "continue" && d.Wave >= 0 && d.Wave < len(names) && e.Wave == names[d.Wave] && (e.Org == "" || e.Org == d.Org) {
				h.Decisions = append(h.Decisions, e)
			}
		}
	}
	return h, nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Campaign returns one stored campaign (errkind.NotFound if none).
func (s *Service) Campaign(ctx context.Context, name string) (orchestrator.Campaign, error) {
	return s.store.Campaign(ctx, name)
}

// WaveState is a wave's name and status.
type WaveState struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

// WaveStates are a campaign's waves' statuses, in order: what a reader
// following it watches to learn that a wave awaits approval, halted or
// is done when no device changed (a soak ending, a pass deciding).
func (s *Service) WaveStates(ctx context.Context, name string) ([]WaveState, error) {
	names, waves, err := s.store.Waves(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: waves: %w", name, err)
	}
	out := make([]WaveState, len(names))
	for i, n := range names {
		out[i] = WaveState{Name: n, Status: string(waves[i].Status)}
	}
	return out, nil
}

// WaveNames are a campaign's waves' names, by index (a device's Wave).
func (s *Service) WaveNames(ctx context.Context, name string) ([]string, error) {
	names, _, err := s.store.Waves(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: waves: %w", name, err)
	}
	return names, nil
}
