package campaigns

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// Store is the campaign store as this package consumes it: the reads of a
// View, and the changes a person makes.
type Store interface {
	orchestrator.Reader
	// Create stores a campaign, its waves and members (read once, in
	// dispatch order, as it stores them) in one transaction, or fails with
	// an error wrapping errkind.Exists.
	Create(ctx context.Context, c orchestrator.Campaign, waves []string, members iter.Seq[orchestrator.Member]) error
	// Campaigns lists the campaigns, oldest first.
	Campaigns(ctx context.Context) ([]orchestrator.Campaign, error)
	// ChangeStatus applies a status action as orchestrator's machine
	// allows (else orchestrator.ErrState) and returns the new status.
	ChangeStatus(ctx context.Context, name string, a orchestrator.Action) (orchestrator.Status, error)
	// Approve gives a wave its manual approval and records the decision.
	Approve(ctx context.Context, name, wave string, ev orchestrator.Event) error
	// Retry reopens the failed devices f selects (by wave, organisation
	// and reason) and returns how many.
	Retry(ctx context.Context, name string, f orchestrator.DeviceFilter) (int, error)
	// Devices returns up to limit devices f selects, in dispatch order,
	// after dispatch order after (-1 for the first page), from an index.
	Devices(ctx context.Context, name string, f orchestrator.DeviceFilter, after, limit int) ([]orchestrator.DeviceRecord, error)
	// Orgs lists the organisations of a campaign's devices.
	Orgs(ctx context.Context, name string) ([]string, error)
	// Continue accepts a wave's (an organisation's in it) failures so far,
	// makes a halted wave active again and records the decision; it
	// returns how many failures it accepted.
	Continue(ctx context.Context, name, wave, org string, ev orchestrator.Event) (int, error)
	// Amend replaces the campaign's spec, still old, with spec and records
	// the decision.
	Amend(ctx context.Context, name, old, spec string, ev orchestrator.Event) error
	// MoveDevices moves named devices by a person's event (exclude,
	// include) as the state machine allows and records the decision.
	MoveDevices(ctx context.Context, name string, e orchestrator.DeviceEvent, hosts []string, ev orchestrator.Event) (orchestrator.DeviceChange, error)
	// Events returns the campaign's recorded decisions, oldest first.
	Events(ctx context.Context, name string) ([]orchestrator.Event, error)
	// Device returns one member of a campaign.
	Device(ctx context.Context, name, hostname string) (orchestrator.DeviceRecord, error)
	// Transitions returns a device's recorded transitions, oldest first.
	Transitions(ctx context.Context, name, hostname string) ([]orchestrator.Transition, error)
	// TransitionsAfter returns up to limit of a campaign's transitions
	// with an id above after, in id order, each with its ID and Org: of
	// devices in orgs, or of every organisation when orgs is nil (an
	// empty orgs selects none). A reader following a campaign passes the
	// last id it saw and meets every transition once, in id order; a
	// transition still being written is left to a later read. It reads
	// from an index, in time that grows with the page, not the campaign.
	// An unknown campaign is an error wrapping errkind.NotFound; a limit
	// under 1, errkind.Invalid.
	TransitionsAfter(ctx context.Context, name string, after int64, orgs []string, limit int) ([]orchestrator.Transition, error)
	// PutForecast keeps doc (a forecast, as JSON) as the campaign's
	// latest, made at made, unless a newer one is kept.
	PutForecast(ctx context.Context, campaign string, made time.Time, doc []byte) error
	// LatestForecast returns the campaign's latest forecast and when it
	// was made, or an error wrapping errkind.NotFound.
	LatestForecast(ctx context.Context, campaign string) (time.Time, []byte, error)
}

// Inventory is what campaigns read of the inventory: the devices a
// selector matches (a new campaign's targets), the organisations' time
// zones and when devices were last seen (for windows and the controller's
// view).
type Inventory interface {
	orchestrator.Inventory
	Devices(ctx context.Context, sel inventory.Selector) iter.Seq2[*inventory.Device, error]
}

// Playbooks resolves a campaign's playbook reference (a built-in name or a
// file) to where it came from and its YAML.
type Playbooks func(ref string) (file string, src []byte, err error)

// Alerts finds a stored alert; an unknown id is an error wrapping
// errkind.NotFound.
type Alerts interface {
	Get(ctx context.Context, id string) (*alerts.Alert, error)
}

// Service runs campaigns' commands and read models over a store.
type Service struct {
	store     Store
	inv       Inventory
	playbooks Playbooks
	alerts    Alerts
	nodes     Nodes
	changed   func()
	now       func() time.Time
}

// Nodes is the registry of scheduler nodes, read to say which
// organisations no running node serves (orchestrator.Nodes is one).
type Nodes interface {
	List(ctx context.Context) ([]orchestrator.Node, error)
}

// Config wires a Service.
type Config struct {
	Store     Store
	Inventory Inventory
	Playbooks Playbooks
	// Alerts finds the alert a campaign's exposed_to names (alerts.Store
	// is one); a Service without it creates no such campaign.
	Alerts Alerts
	// Nodes, when set, is read by Show to say which organisations wait
	// for a node (no running node serves them).
	Nodes Nodes
	// Changed, when set, is called after a person's start, pause, resume,
	// cancel, approve, retry or continue: a node running the scheduler in
	// this process passes its Kick, so that the controller decides at once
	// rather than at its next tick.
	Changed func()
	// Now is the time windows are checked against and the controller
	// decides at (default time.Now).
	Now func() time.Time
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Changed == nil {
		cfg.Changed = func() {}
	}
	return &Service{store: cfg.Store, inv: cfg.Inventory, playbooks: cfg.Playbooks, alerts: cfg.Alerts, nodes: cfg.Nodes, changed: cfg.Changed, now: cfg.Now}
}

// Start starts a draft campaign: the scheduler dispatches its devices.
func (s *Service) Start(ctx context.Context, name string) (orchestrator.Status, error) {
	return s.act(ctx, name, orchestrator.ActionStart)
}

// Pause stops a running campaign from starting anything new; runs in
// flight finish.
func (s *Service) Pause(ctx context.Context, name string) (orchestrator.Status, error) {
	return s.act(ctx, name, orchestrator.ActionPause)
}

// Resume resumes a paused campaign.
func (s *Service) Resume(ctx context.Context, name string) (orchestrator.Status, error) {
	return s.act(ctx, name, orchestrator.ActionResume)
}

// Cancel stops a campaign for good; runs in flight stop.
func (s *Service) Cancel(ctx context.Context, name string) (orchestrator.Status, error) {
	return s.act(ctx, name, orchestrator.ActionCancel)
}

// Act applies a status action by name (start, pause, resume, cancel). An
// action the campaign's status does not allow is an error wrapping
// orchestrator.ErrState.
func (s *Service) Act(ctx context.Context, name string, a orchestrator.Action) (orchestrator.Status, error) {
	return s.act(ctx, name, a)
}

func (s *Service) act(ctx context.Context, name string, a orchestrator.Action) (orchestrator.Status, error) {
	to, err := s.store.ChangeStatus(ctx, name, a)
	if err != nil {
		return "", fmt.Errorf("campaign %s: %w", a, err)
	}
	s.changed()
	return to, nil
}
