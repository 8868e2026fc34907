package campaigns

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// The methods ending in In are the Service as a reader or operator bounded
// to some organisations (access.Orgs, a principal's resolved scope) sees
// and changes it: every count, device and decision of another
// organisation is left out, a campaign with none of its devices in scope
// is not found, and an action on a whole campaign is refused unless every
// organisation it reaches is in scope. With access.AllOrgs() each is the
// method of the same name without In.

// ListIn summarises the campaigns with devices in orgs, counting those
// devices only.
func (s *Service) ListIn(ctx context.Context, orgs access.Orgs) ([]Summary, error) {
	cs, err := s.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Summary, 0, len(cs))
	for _, c := range cs {
		counts, err := s.store.Counts(ctx, c.Name)
		if err != nil {
			return nil, fmt.Errorf("campaign %s: %w", c.Name, err)
		}
		states, n := CountStates(counts, func(c orchestrator.Count) bool { return orgs.Covers(c.Org) })
		if n == 0 && !orgs.All() {
			continue
		}
		out = append(out, Summary{Name: c.Name, Status: string(c.Status), Devices: n, States: states, Created: c.CreatedAt})
	}
	return out, nil
}

// ShowIn describes a campaign as a reader of orgs sees it.
func (s *Service) ShowIn(ctx context.Context, name string, orgs access.Orgs) (Detail, error) {
	if err := s.visible(ctx, name, orgs); err != nil {
		return Detail{}, err
	}
	c, err := s.store.Campaign(ctx, name)
	if err != nil {
		return Detail{}, err
	}
	return s.describe(ctx, c, orgs)
}

// visible fails with errkind.NotFound for a campaign with no device in
// orgs, as for one that does not exist: a reader learns nothing of others'.
func (s *Service) visible(ctx context.Context, name string, orgs access.Orgs) error {
	if orgs.All() {
		return nil
	}
	_, _, err := s.inScope(ctx, name, orgs)
	return err
}

// inScope reads the organisations campaign name reaches (all) and keeps
// those orgs covers (in); a campaign with none in scope is not found.
func (s *Service) inScope(ctx context.Context, name string, orgs access.Orgs) (in, all []string, err error) {
	all, err = s.store.Orgs(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	in = slices.DeleteFunc(slices.Clone(all), func(o string) bool { return !orgs.Covers(o) })
	if len(in) == 0 && !orgs.All() {
		return nil, nil, fmt.Errorf("campaign %s: %w", name, errkind.NotFound)
	}
	return in, all, nil
}

// Whole checks that orgs covers every organisation campaign name reaches:
// what acts on a whole campaign (start, pause, resume, cancel, approve a
// wave, change its spec) needs it. The error wraps errkind.Forbidden.
func (s *Service) Whole(ctx context.Context, name string, orgs access.Orgs) error {
	if orgs.All() {
		return nil
	}
	in, all, err := s.inScope(ctx, name, orgs)
	if err != nil {
		return err
	}
	if len(in) != len(all) {
		// Which, or how many, is theirs to know: it is not said.
		return fmt.Errorf("campaign %s reaches organisations outside the caller's scope: this needs a scope that covers every organisation it reaches: %w",
			name, errkind.Forbidden)
	}
	return nil
}

// DevicesIn is a page of the campaign's devices in orgs, in dispatch
// order: of the one organisation q.Org names, else of every organisation
// of the campaign in scope (a page of each, merged).
func (s *Service) DevicesIn(ctx context.Context, name string, orgs access.Orgs, q DeviceQuery) (DevicePage, error) {
	if orgs.All() {
		return s.Devices(ctx, name, q)
	}
	f, err := s.orgFilter(ctx, name, orgs, q.Org)
	if err != nil {
		return DevicePage{}, err
	}
	return s.devices(ctx, name, q, f)
}

// orgFilter is the organisations of campaign name a request bounded to
// orgs reaches: the one it names (which must be covered), else every one
// covered. A campaign with none in scope is not found.
func (s *Service) orgFilter(ctx context.Context, name string, orgs access.Orgs, org string) ([]string, error) {
	in, _, err := s.inScope(ctx, name, orgs)
	if err != nil || org == "" {
		return in, err
	}
	org = inventory.NormaliseOrgCode(org)
	if !orgs.Covers(org) {
		return nil, fmt.Errorf("organisation %s is outside the caller's scope: %w", org, errkind.Forbidden)
	}
	return []string{org}, nil
}

// DeviceIn is one device's history in the campaign, if its organisation
// is in orgs (else errkind.NotFound, as for a device not in it).
func (s *Service) DeviceIn(ctx context.Context, name, hostname string, orgs access.Orgs) (History, error) {
	h, err := s.Device(ctx, name, hostname)
	if err != nil {
		return History{}, err
	}
	if !orgs.Covers(h.Device.Org) {
		return History{}, fmt.Errorf("campaign %s device %s: %w", name, inventory.NormaliseHostname(hostname), errkind.NotFound)
	}
	return h, nil
}

// RetryIn reopens the failed devices f selects in the organisations of
// orgs only (f.Org, if set, must be one of them) and returns how many.
func (s *Service) RetryIn(ctx context.Context, name string, orgs access.Orgs, f orchestrator.DeviceFilter) (int, error) {
	if orgs.All() {
		return s.Retry(ctx, name, f)
	}
	in, err := s.orgFilter(ctx, name, orgs, f.Org)
	if err != nil {
		return 0, fmt.Errorf("campaign retry: %w", err)
	}
	total := 0
	for _, org := range in {
		f.Org = org
		n, err := s.Retry(ctx, name, f)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// ContinueIn is Continue for a caller bounded to orgs: an organisation's
// failures (org, which must be in scope), or a whole wave's only for a
// caller covering the whole campaign.
func (s *Service) ContinueIn(ctx context.Context, name, wave, org string, orgs access.Orgs, d Decision) (int, error) {
	if org == "" {
		if err := s.Whole(ctx, name, orgs); err != nil {
			return 0, err
		}
	} else if _, err := s.orgFilter(ctx, name, orgs, org); err != nil {
		return 0, fmt.Errorf("campaign continue: %w", err)
	}
	return s.Continue(ctx, name, wave, org, d)
}

// CreateIn is Create for a caller bounded to orgs: a campaign whose
// targets reach an organisation outside them is refused, naming it, and
// nothing is stored.
func (s *Service) CreateIn(ctx context.Context, orgs access.Orgs, file string, data []byte) (Created, error) {
	return s.create(ctx, orgs, file, data)
}

// bound leaves out of d what belongs to organisations outside orgs: the
// blocks, holds, nodes and waits of others, and decisions other than a
// covered organisation's (or a wave's approval). A text naming another of
// the campaign's organisations is dropped whole.
func bound(d *Detail, orgs access.Orgs, counts []orchestrator.Count) {
	var others []string
	for _, c := range counts {
		if !orgs.Covers(c.Org) && !slices.Contains(others, c.Org) {
			others = append(others, regexp.QuoteMeta(c.Org))
		}
	}
	names := func(string) bool { return false }
	if len(others) > 0 {
		re := regexp.MustCompile(`\b(` + strings.Join(others, "|") + `)\b`)
		names = re.MatchString
	}
	d.Blocked = slices.DeleteFunc(d.Blocked, func(b Blocked) bool { return !orgs.Covers(b.Org) && (b.Org != "" || names(b.Reason)) })
	d.Held = slices.DeleteFunc(d.Held, func(h HeldOrg) bool { return !orgs.Covers(h.Org) })
	d.Unserved = slices.DeleteFunc(d.Unserved, func(o string) bool { return !orgs.Covers(o) })
	d.Nodes = []NodeServes{} // what nodes serve names organisations
	d.Waits = slices.DeleteFunc(d.Waits, func(w orchestrator.Wait) bool { return names(w.What) || names(w.Command) })
	d.NeedsPerson = len(d.Waits) > 0
	d.WaitsFor, d.Next = "", ""
	if d.NeedsPerson {
		d.WaitsFor = d.Waits[0].String()
		d.Next = d.Waits[0].Command
	}
	for i := range d.Waves {
		if names(d.Waves[i].Reason) {
			d.Waves[i].Reason = "halted by failures"
		}
	}
	d.Events = slices.DeleteFunc(d.Events, func(e orchestrator.Event) bool {
		if e.Org != "" {
			return !orgs.Covers(e.Org)
		}
		return e.Action != "approve" || names(e.Detail) || names(e.Reason)
	})
}

// SummaryIn is one campaign's counts as a reader of orgs sees them (as
// ListIn gives each): read from the counts alone, cheap to poll.
func (s *Service) SummaryIn(ctx context.Context, name string, orgs access.Orgs) (Summary, error) {
	if err := s.visible(ctx, name, orgs); err != nil {
		return Summary{}, err
	}
	c, err := s.store.Campaign(ctx, name)
	if err != nil {
		return Summary{}, err
	}
	counts, err := s.store.Counts(ctx, name)
	if err != nil {
		return Summary{}, fmt.Errorf("campaign %s: %w", name, err)
	}
	states, n := CountStates(counts, func(c orchestrator.Count) bool { return orgs.Covers(c.Org) })
	return Summary{Name: c.Name, Status: string(c.Status), Devices: n, States: states, Created: c.CreatedAt}, nil
}

// TransitionsIn are the campaign's device transitions after the one with
// id after, oldest first, at most limit, of the devices in orgs: a feed a
// reader follows (the API's server-sent events).
func (s *Service) TransitionsIn(ctx context.Context, name string, orgs access.Orgs, after int64, limit int) ([]orchestrator.Transition, error) {
	if err := s.visible(ctx, name, orgs); err != nil {
		return nil, err
	}
	var only []string
	if !orgs.All() {
		only = orgs.List()
		if only == nil {
			only = []string{}
		}
	}
	return s.store.TransitionsAfter(ctx, name, after, only, limit)
}
