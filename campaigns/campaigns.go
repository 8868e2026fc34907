package campaigns

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// Store is the campaign store as this package consumes it: the reads of a
// View, and the changes a person makes.
type Store interface {
	orchestrator.Reader
	// Create stores a campaign, its waves and members in one transaction,
	// or fails with an error wrapping errkind.Exists.
	Create(ctx context.Context, c orchestrator.Campaign, waves []string, members []orchestrator.Member) error
	// Campaigns lists the campaigns, oldest first.
	Campaigns(ctx context.Context) ([]orchestrator.Campaign, error)
	// ChangeStatus applies a status action as orchestrator's machine
	// allows (else orchestrator.ErrState) and returns the new status.
	ChangeStatus(ctx context.Context, name string, a orchestrator.Action) (orchestrator.Status, error)
	// Approve gives a wave its manual approval.
	Approve(ctx context.Context, name, wave string) error
	// Retry reopens failed devices (with reason, if not "") and returns
	// how many.
	Retry(ctx context.Context, name string, reason orchestrator.Reason) (int, error)
	// Device returns one member of a campaign.
	Device(ctx context.Context, name, hostname string) (orchestrator.DeviceRecord, error)
	// Transitions returns a device's recorded transitions, oldest first.
	Transitions(ctx context.Context, name, hostname string) ([]orchestrator.Transition, error)
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

// Service runs campaigns' commands and read models over a store.
type Service struct {
	store     Store
	inv       Inventory
	playbooks Playbooks
	now       func() time.Time
}

// Config wires a Service.
type Config struct {
	Store     Store
	Inventory Inventory
	Playbooks Playbooks
	// Now is the time windows are checked against and the controller
	// decides at (default time.Now).
	Now func() time.Time
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{store: cfg.Store, inv: cfg.Inventory, playbooks: cfg.Playbooks, now: cfg.Now}
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
	return to, nil
}

// Approve approves a wave whose approval is manual.
func (s *Service) Approve(ctx context.Context, name, wave string) error {
	if err := s.store.Approve(ctx, name, wave); err != nil {
		return fmt.Errorf("campaign approve: %w", err)
	}
	return nil
}

// Retry runs a campaign's failed devices (only those failed with reason,
// if not "") again from the start, reopening their halted or done waves
// and the campaign if it was done (orchestrator.EventRetry), and returns
// how many.
func (s *Service) Retry(ctx context.Context, name string, reason orchestrator.Reason) (int, error) {
	n, err := s.store.Retry(ctx, name, reason)
	if err != nil {
		return 0, fmt.Errorf("campaign retry: %w", err)
	}
	return n, nil
}
