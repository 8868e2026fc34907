package campaigns

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// Decision is who takes a decision on a campaign and why: the CLI passes
// the operating system's user, a server the signed-in person. Every
// decision is recorded with it (campaign show lists them).
type Decision struct {
	Actor  string
	Reason string // optional
}

func (d Decision) event(action string) (orchestrator.Event, error) {
	if strings.TrimSpace(d.Actor) == "" {
		return orchestrator.Event{}, fmt.Errorf("campaign %s: say who decides (an actor): %w", action, errkind.Invalid)
	}
	return orchestrator.Event{Actor: d.Actor, Action: action, Reason: d.Reason}, nil
}

// Approve approves a wave whose approval is manual, recording who did. A
// wave with no manual gate is an error wrapping orchestrator.ErrState
// that says so: there is nothing to approve.
func (s *Service) Approve(ctx context.Context, name, wave string, d Decision) error {
	ev, err := d.event("approve")
	if err != nil {
		return err
	}
	spec, err := s.spec(ctx, name)
	if err != nil {
		return fmt.Errorf("campaign approve: %w", err)
	}
	i := slices.IndexFunc(spec.Waves, func(w orchestrator.Wave) bool { return w.Name == wave })
	if i >= 0 && spec.Waves[i].Approval != orchestrator.ApprovalManual {
		return fmt.Errorf("campaign approve: wave %s of campaign %s has no manual gate (approval: %s): it starts by itself: %w",
			wave, name, spec.Waves[i].Approval, orchestrator.ErrState)
	}
	ev.Wave, ev.Detail = wave, "approved"
	if err := s.store.Approve(ctx, name, wave, ev); err != nil {
		return fmt.Errorf("campaign approve: %w", err)
	}
	s.changed()
	return nil
}

// Retry runs again, from the start, the failed devices f selects (by
// wave, organisation and reason; all failed ones for a zero f), reopening
// their halted or done waves and the campaign if it was done
// (orchestrator.EventRetry), and returns how many.
func (s *Service) Retry(ctx context.Context, name string, f orchestrator.DeviceFilter) (int, error) {
	f, _, err := s.checkFilter(ctx, name, f)
	if err != nil {
		return 0, fmt.Errorf("campaign retry: %w", err)
	}
	n, err := s.store.Retry(ctx, name, f)
	if err != nil {
		return 0, fmt.Errorf("campaign retry: %w", err)
	}
	s.changed()
	return n, nil
}

// Continue accepts the failures so far of a halted wave, or of one
// organisation (org) halted in a wave, and lets it go on: the controller
// halts again only on failures beyond those accepted. It returns how many
// failures it accepted.
func (s *Service) Continue(ctx context.Context, name, wave, org string, d Decision) (int, error) {
	ev, err := d.event("continue")
	if err != nil {
		return 0, err
	}
	if org != "" {
		org = inventory.NormaliseOrgCode(org)
	}
	n, err := s.store.Continue(ctx, name, wave, org, ev)
	if err != nil {
		return 0, fmt.Errorf("campaign continue: %w", err)
	}
	s.changed()
	return n, nil
}

// Set changes a campaign's thresholds, concurrency, caps, deadline and
// windows (never its targets or waves), checked exactly as Create checks a
// file: every problem with the change that caused it (a
// *orchestrator.ChangeError), and every window must open within the
// horizon in each of its organisations' zones. The controller decides on
// the new spec at its next pass. It returns the new spec.
func (s *Service) Set(ctx context.Context, name string, changes []orchestrator.Change, d Decision) (*orchestrator.Spec, error) {
	ev, err := d.event("set")
	if err != nil {
		return nil, err
	}
	if len(changes) == 0 {
		return nil, fmt.Errorf("campaign set: nothing to change: %w", errkind.Invalid)
	}
	c, err := s.store.Campaign(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("campaign set: %w", err)
	}
	data, spec, err := orchestrator.Amend(c.SpecFile, []byte(c.Spec), changes)
	if err != nil {
		return nil, fmt.Errorf("campaign set: %w", err)
	}
	orgs, err := s.store.Orgs(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("campaign set: %w", err)
	}
	all, err := s.inv.TimeZones(ctx)
	if err != nil {
		return nil, fmt.Errorf("campaign set: organisations' time zones: %w", err)
	}
	zones := map[string]string{}
	for _, o := range orgs {
		zones[o] = all[o]
	}
	if err := spec.CheckWindows(s.now(), zones); err != nil {
		return nil, fmt.Errorf("campaign set: %w", err)
	}
	var what []string
	for _, ch := range changes {
		what = append(what, ch.Source)
	}
	ev.Detail = strings.Join(what, " ")
	if err := s.store.Amend(ctx, name, c.Spec, string(data), ev); err != nil {
		return nil, fmt.Errorf("campaign set: %w", err)
	}
	return spec, nil
}

// Selection names devices: by hostname, or by a selector over the
// inventory (only those in the campaign count).
type Selection struct {
	Hosts    []string
	Selector string
}

// Exclude takes the selected devices out of a campaign: each not yet
// started (pending) or waiting to be tried again (deferred) is skipped
// with reason orchestrator.ReasonExcluded, which never counts as a
// failure (orchestrator.EventExclude); one in flight finishes its run and
// a final one keeps its outcome, and both are reported unmoved.
func (s *Service) Exclude(ctx context.Context, name string, sel Selection, d Decision) (orchestrator.DeviceChange, error) {
	return s.moveDevices(ctx, name, orchestrator.EventExclude, sel, d)
}

// Include puts excluded devices back: each becomes pending, to start
// afresh, reopening its wave if it was done and the campaign if it was
// done (orchestrator.EventInclude).
func (s *Service) Include(ctx context.Context, name string, sel Selection, d Decision) (orchestrator.DeviceChange, error) {
	return s.moveDevices(ctx, name, orchestrator.EventInclude, sel, d)
}

func (s *Service) moveDevices(ctx context.Context, name string, e orchestrator.DeviceEvent, sel Selection, d Decision) (orchestrator.DeviceChange, error) {
	ev, err := d.event(string(e))
	if err != nil {
		return orchestrator.DeviceChange{}, err
	}
	hosts, err := s.selected(ctx, sel)
	if err != nil {
		return orchestrator.DeviceChange{}, fmt.Errorf("campaign %s: %w", e, err)
	}
	ch, err := s.store.MoveDevices(ctx, name, e, hosts, ev)
	if err != nil {
		return ch, fmt.Errorf("campaign %s: %w", e, err)
	}
	if sel.Selector != "" {
		ch.Missing = nil // the selector matched inventory devices the campaign does not hold
	}
	return ch, nil
}

// selected resolves a selection to normalised hostnames.
func (s *Service) selected(ctx context.Context, sel Selection) ([]string, error) {
	if (len(sel.Hosts) == 0) == (sel.Selector == "") {
		return nil, fmt.Errorf("name devices by hostname or by a selector, one of the two: %w", errkind.Invalid)
	}
	if sel.Selector == "" {
		out := make([]string, len(sel.Hosts))
		for i, h := range sel.Hosts {
			out[i] = inventory.NormaliseHostname(h)
		}
		return out, nil
	}
	q, err := inventory.ParseSelector(sel.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector %q: %w", sel.Selector, err)
	}
	var out []string
	for d, err := range s.inv.Devices(ctx, q) {
		if err != nil {
			return nil, err
		}
		out = append(out, d.Hostname)
	}
	return out, nil
}

// DeviceQuery is a page of a campaign's devices: those the filter
// selects, in dispatch order, after the device After (a hostname; "" for
// the first page), at most Limit (default DefaultPage, at most MaxPage).
type DeviceQuery struct {
	orchestrator.DeviceFilter
	After string
	Limit int
}

// Page sizes of Devices.
const (
	DefaultPage = 100
	MaxPage     = 10000
)

// DevicePage is one page of devices; Next is the After of the next page,
// "" on the last. Waves are the campaign's waves' names, by index (a
// device's Wave).
type DevicePage struct {
	Devices []orchestrator.DeviceRecord
	Next    string
	Waves   []string
}

// DeviceRow is a campaign's device as people read it, in the CLI's JSON
// and the API's alike: where it stands, its wave named.
type DeviceRow struct {
	Hostname    string    `json:"hostname"`
	Org         string    `json:"org"`
	Site        string    `json:"site"`
	Wave        string    `json:"wave"` // "" when in none
	State       string    `json:"state"`
	Reason      string    `json:"reason"`
	Attempts    int       `json:"attempts"`
	Accepted    bool      `json:"accepted"`
	Step        string    `json:"step"`
	Message     string    `json:"message"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	Changed     time.Time `json:"changed_at,omitzero"`
}

// Rows are the page's devices as DeviceRows, in its order.
func (p DevicePage) Rows() []DeviceRow {
	out := make([]DeviceRow, len(p.Devices))
	for i, d := range p.Devices {
		out[i] = RowOf(d, p.Waves)
	}
	return out
}

// RowOf is d as a DeviceRow, its wave named from the campaign's waves.
func RowOf(d orchestrator.DeviceRecord, waves []string) DeviceRow {
	wave := ""
	if d.Wave >= 0 && d.Wave < len(waves) {
		wave = waves[d.Wave]
	}
	return DeviceRow{Hostname: d.Hostname, Org: d.Org, Site: d.Site, Wave: wave, State: string(d.State), Reason: string(d.Reason),
		Attempts: d.Attempts, Accepted: d.Accepted, Step: d.Step, Message: d.Message, NextAttempt: utc(d.NextAttempt), Changed: utc(d.Changed)}
}

// utc is t in UTC, the zero time kept zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// Devices lists a page of a campaign's devices by wave, organisation,
// state and reason, answered from the store's index a page at a time (a
// campaign may hold a million devices).
func (s *Service) Devices(ctx context.Context, name string, q DeviceQuery) (DevicePage, error) {
	return s.devices(ctx, name, q, nil)
}

// devices is Devices of the organisations orgs alone when orgs is not
// nil: a page of each from the store's index, merged in dispatch order,
// so a region's page costs a query per organisation, not a scan.
func (s *Service) devices(ctx context.Context, name string, q DeviceQuery, orgs []string) (DevicePage, error) {
	f, names, err := s.checkFilter(ctx, name, q.DeviceFilter)
	if err != nil {
		return DevicePage{}, fmt.Errorf("campaign devices: %w", err)
	}
	limit := q.Limit
	switch {
	case limit == 0:
		limit = DefaultPage
	case limit < 0 || limit > MaxPage:
		return DevicePage{}, fmt.Errorf("campaign devices: a page of %d devices: want 1 to %d: %w", limit, MaxPage, errkind.Invalid)
	}
	after := -1
	if q.After != "" {
		host := inventory.NormaliseHostname(q.After)
		d, err := s.store.Device(ctx, name, host)
		if err != nil {
			return DevicePage{}, fmt.Errorf("campaign devices: after: %w", err)
		}
		// A page bounded to organisations starts after one of theirs
		// only: another's device is not found, as if it were not in it.
		if orgs != nil && !slices.Contains(orgs, d.Org) {
			return DevicePage{}, fmt.Errorf("campaign devices: after: campaign %s device %s: %w", name, host, errkind.NotFound)
		}
		after = d.Order
	}
	var ds []orchestrator.DeviceRecord
	if orgs == nil {
		if ds, err = s.store.Devices(ctx, name, f, after, limit+1); err != nil {
			return DevicePage{}, fmt.Errorf("campaign devices: %w", err)
		}
	}
	for _, org := range orgs {
		one := f
		one.Org = org
		more, err := s.store.Devices(ctx, name, one, after, limit+1)
		if err != nil {
			return DevicePage{}, fmt.Errorf("campaign devices: %w", err)
		}
		ds = append(ds, more...)
	}
	if len(orgs) > 1 {
		slices.SortFunc(ds, func(a, b orchestrator.DeviceRecord) int { return cmp.Compare(a.Order, b.Order) })
		ds = ds[:min(len(ds), limit+1)]
	}
	p := DevicePage{Devices: ds, Waves: names}
	if len(ds) > limit {
		p.Devices = ds[:limit]
		p.Next = ds[limit-1].Hostname
	}
	return p, nil
}

// checkFilter checks that the campaign and the filter's wave exist and its
// state is a device state, and normalises its organisation code; it
// returns the campaign's waves' names besides.
func (s *Service) checkFilter(ctx context.Context, name string, f orchestrator.DeviceFilter) (orchestrator.DeviceFilter, []string, error) {
	if _, err := s.store.Campaign(ctx, name); err != nil {
		return f, nil, err
	}
	names, _, err := s.store.Waves(ctx, name)
	if err != nil {
		return f, nil, err
	}
	if f.Wave != "" && !slices.Contains(names, f.Wave) {
		return f, nil, fmt.Errorf("campaign %s has no wave %s (waves: %s): %w", name, f.Wave, strings.Join(names, ", "), errkind.NotFound)
	}
	if f.State != "" && !slices.Contains(orchestrator.DeviceStates, f.State) {
		return f, nil, fmt.Errorf("state %q: want one of %s: %w", f.State, joinStates(), errkind.Invalid)
	}
	if f.Org != "" {
		f.Org = inventory.NormaliseOrgCode(f.Org)
	}
	return f, names, nil
}

func joinStates() string {
	var out []string
	for _, st := range orchestrator.DeviceStates {
		out = append(out, string(st))
	}
	return strings.Join(out, ", ")
}

// Events returns a campaign's recorded decisions, oldest first.
func (s *Service) Events(ctx context.Context, name string) ([]orchestrator.Event, error) {
	if _, err := s.store.Campaign(ctx, name); err != nil {
		return nil, err
	}
	return s.store.Events(ctx, name)
}

// spec reads a campaign's stored spec.
func (s *Service) spec(ctx context.Context, name string) (*orchestrator.Spec, error) {
	c, err := s.store.Campaign(ctx, name)
	if err != nil {
		return nil, err
	}
	spec, err := orchestrator.ParseSpec(c.SpecFile, []byte(c.Spec))
	if err != nil {
		return nil, fmt.Errorf("campaign %s: stored spec: %w", name, err)
	}
	return spec, nil
}
