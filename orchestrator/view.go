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
// spec, waves and members, the last sighting of its deferred devices, and
// each organisation's calendar. The scheduler decides on it and applies
// the plan; campaign show decides on it to say what waits and why,
// applying nothing.
func ReadView(ctx context.Context, store Reader, inv Inventory, c Campaign) (View, error) {
	spec, err := ParseSpec(c.SpecFile, []byte(c.Spec))
	if err != nil {
		return View{}, fmt.Errorf("campaign %s: stored spec: %w", c.Name, err)
	}
	_, waves, err := store.Waves(ctx, c.Name)
	if err != nil {
		return View{}, fmt.Errorf("campaign %s: waves: %w", c.Name, err)
	}
	recs, err := store.Members(ctx, c.Name)
	if err != nil {
		return View{}, fmt.Errorf("campaign %s: devices: %w", c.Name, err)
	}
	members := make([]Member, len(recs))
	var deferred []string
	orgs := map[string]bool{}
	for i, r := range recs {
		members[i] = r.Member
		orgs[r.Org] = true
		if r.State == DeviceDeferred {
			deferred = append(deferred, r.Hostname)
		}
	}
	if len(deferred) > 0 {
		seen, err := inv.LastSeen(ctx, deferred)
		if err != nil {
			return View{}, fmt.Errorf("campaign %s: last seen: %w", c.Name, err)
		}
		for i := range members {
			if t, ok := seen[members[i].Hostname]; ok {
				members[i].LastSeen = t
			}
		}
	}
	zones, err := inv.TimeZones(ctx)
	if err != nil {
		return View{}, fmt.Errorf("campaign %s: time zones: %w", c.Name, err)
	}
	cals := map[string]Calendar{}
	for org := range orgs {
		cal, err := spec.Calendar(org, zones[org])
		if err != nil {
			return View{}, fmt.Errorf("campaign %s: %w", c.Name, err)
		}
		cals[org] = cal
	}
	return View{Spec: spec, Status: c.Status, Waves: waves, Members: members, Calendars: cals}, nil
}
