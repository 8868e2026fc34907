package orchestrator

import (
	"context"
	"fmt"
	"time"
)

// Inventory is what reading a View takes from the inventory: the
// organisations' time zones (their windows are read in them) and when
// devices were last seen alive (a deferred device seen again is tried at
// once).
type Inventory interface {
	TimeZones(ctx context.Context) (map[string]string, error)
	LastSeen(ctx context.Context, hostnames []string) (map[string]time.Time, error)
}

// ReadView reads campaign c's state into the View Decide takes: its stored
// spec, waves and counts, its deferred devices with their last sighting,
// each organisation's calendar, and a reader of its pending devices that
// Decide pages through as it dispatches (check View.Err after deciding).
// The scheduler decides on it and applies the plan; campaign show decides
// on it to say what waits and why, applying nothing.
func ReadView(ctx context.Context, store Reader, inv Inventory, c Campaign) (View, error) {
	spec, err := ParseSpec(c.SpecFile, []byte(c.Spec))
	if err != nil {
		return View{}, fmt.Errorf("campaign %s: stored spec: %w", c.Name, err)
	}
	_, waves, err := store.Waves(ctx, c.Name)
	if err != nil {
		return View{}, fmt.Errorf("campaign %s: waves: %w", c.Name, err)
	}
	counts, err := store.Counts(ctx, c.Name)
	if err != nil {
		return View{}, fmt.Errorf("campaign %s: counts: %w", c.Name, err)
	}
	recs, err := store.Deferred(ctx, c.Name)
	if err != nil {
		return View{}, fmt.Errorf("campaign %s: deferred devices: %w", c.Name, err)
	}
	deferred := make([]Member, len(recs))
	hosts := make([]string, len(recs))
	for i, r := range recs {
		deferred[i], hosts[i] = r.Member, r.Hostname
	}
	if len(hosts) > 0 {
		seen, err := inv.LastSeen(ctx, hosts)
		if err != nil {
			return View{}, fmt.Errorf("campaign %s: last seen: %w", c.Name, err)
		}
		for i := range deferred {
			if t, ok := seen[deferred[i].Hostname]; ok {
				deferred[i].LastSeen = t
			}
		}
	}
	zones, err := inv.TimeZones(ctx)
	if err != nil {
		return View{}, fmt.Errorf("campaign %s: time zones: %w", c.Name, err)
	}
	cals := map[string]Calendar{}
	for _, n := range counts {
		if _, ok := cals[n.Org]; ok {
			continue
		}
		cal, err := spec.Calendar(n.Org, zones[n.Org])
		if err != nil {
			return View{}, fmt.Errorf("campaign %s: %w", c.Name, err)
		}
		cals[n.Org] = cal
	}
	return View{Spec: spec, Status: c.Status, Waves: waves, Counts: counts, Deferred: deferred,
		Pending: &storePending{ctx: ctx, store: store, name: c.Name}, Calendars: cals}, nil
}

// storePending is a PendingReader over a store.
type storePending struct {
	ctx   context.Context
	store Reader
	name  string
	err   error
}

func (p *storePending) Pending(wave int, org string, after, limit int) []Member {
	if p.err != nil {
		return nil
	}
	ms, err := p.store.Pending(p.ctx, p.name, wave, org, after, limit)
	if err != nil {
		p.err = fmt.Errorf("campaign %s: %w", p.name, err)
		return nil
	}
	return ms
}

func (p *storePending) Heads(wave int, orgs []string, limit int) [][]Member {
	if p.err != nil {
		return nil
	}
	heads, err := p.store.PendingHeads(p.ctx, p.name, wave, orgs, limit)
	if err != nil {
		p.err = fmt.Errorf("campaign %s: %w", p.name, err)
		return nil
	}
	return heads
}

func (p *storePending) Err() error { return p.err }
