package reports

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/report"
)

// The builds reports count against unless told otherwise.
const (
	// DefaultTargetBuild is the build (or later) that counts as migrated.
	DefaultTargetBuild = "10.0.19045"
	// DefaultSupportedBuild is the oldest Windows 10 build that counts as
	// supported.
	DefaultSupportedBuild = "10.0.19044"
)

// ErrInvalid marks a request the caller got wrong, such as a sort column
// that does not exist; test with errors.Is. Such an error matches
// errkind.Invalid too; ErrInvalid tells it apart from invalid data the
// report read. The error's text is the problem's alone.
var ErrInvalid = errors.New("invalid report request")

type invalidError struct{ err error }

func (e invalidError) Error() string        { return e.err.Error() }
func (e invalidError) Unwrap() error        { return e.err }
func (e invalidError) Is(target error) bool { return target == ErrInvalid || target == errkind.Invalid }

// Inventory is what reports read of the inventory.
type Inventory interface {
	Organisations(ctx context.Context) ([]inventory.Organisation, error)
	// Cohorts yields devices alike, from the rollup, that sel matches.
	Cohorts(ctx context.Context, sel inventory.Selector) iter.Seq2[inventory.Cohort, error]
	// Devices yields every device sel matches.
	Devices(ctx context.Context, sel inventory.Selector) iter.Seq2[*inventory.Device, error]
	// UnwatchedKBs returns those of kbs the rollup does not count.
	UnwatchedKBs(ctx context.Context, kbs []string) ([]string, error)
}

// Alerts is what reports read of the stored alerts.
type Alerts interface {
	List(ctx context.Context) ([]*alerts.Alert, error)
}

// History is the daily history reports read.
type History interface {
	Load(ctx context.Context) ([]report.Snapshot, error)
	// Generation changes whenever the history does: the service keeps
	// what Load returned while it stays the same.
	Generation(ctx context.Context) (int64, error)
}

// Campaigns is what reports read of campaigns.
type Campaigns interface {
	// Campaigns lists every campaign.
	Campaigns(ctx context.Context) ([]orchestrator.Campaign, error)
	// Campaign returns one campaign, or an error wrapping
	// errkind.NotFound.
	Campaign(ctx context.Context, name string) (orchestrator.Campaign, error)
	// Waves returns a campaign's wave names and states, in order.
	Waves(ctx context.Context, name string) ([]string, []orchestrator.WaveState, error)
	// Counts counts a campaign's devices per wave, organisation, site,
	// state and reason.
	Counts(ctx context.Context, name string) ([]orchestrator.Count, error)
	// Members returns a campaign's devices in dispatch order.
	Members(ctx context.Context, name string) ([]orchestrator.DeviceRecord, error)
	// Transitions returns a campaign's state changes (of every device
	// when hostname is empty), oldest first.
	Transitions(ctx context.Context, name, hostname string) ([]orchestrator.Transition, error)
	// LatestForecast returns a campaign's latest stored forecast (as
	// JSON) and when it was made, or an error wrapping errkind.NotFound.
	LatestForecast(ctx context.Context, name string) (time.Time, []byte, error)
}

// Config is what a Service reads from.
type Config struct {
	Inventory Inventory
	Alerts    Alerts
	History   History
	// Campaigns may be nil: reports then follow no campaign and the
	// estate page lists none.
	Campaigns Campaigns
	// Now is the time reports are computed at (default time.Now).
	Now func() time.Time
}

// Service computes reports. Its methods only read, and are safe for
// concurrent use when the stores are.
type Service struct {
	inv       Inventory
	alerts    Alerts
	history   History
	campaigns Campaigns
	now       func() time.Time

	// kept is the whole history as last loaded, with its generation: a
	// year of daily snapshots of hundreds of organisations takes longer to
	// read than the rest of a report, and changes once a day.
	keptMu  sync.Mutex
	kept    []report.Snapshot
	keptGen int64
	keptOK  bool
}

// New returns a Service over the stores in cfg.
func New(cfg Config) (*Service, error) {
	if cfg.Inventory == nil || cfg.Alerts == nil || cfg.History == nil {
		return nil, errors.New("reports: Inventory, Alerts and History are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{inv: cfg.Inventory, alerts: cfg.Alerts, history: cfg.History, campaigns: cfg.Campaigns, now: cfg.Now}, nil
}

// Inputs is what every report reads besides the devices: the
// organisations, the alerts, the daily history and, when a campaign is
// followed, each device's state in it and the campaign's pace.
type Inputs struct {
	Orgs    []inventory.Organisation
	Alerts  []*alerts.Alert
	History []report.Snapshot
	// Campaign is the campaign followed over time (nil: none).
	Campaign *report.CampaignProgress

	inv Inventory
	// byOrg is History by organisation.
	byOrg  report.Histories
	states map[string]*report.CampaignState
	// finished are the followed campaign's transitions into final
	// states, with the organisation of each device.
	finished []finished
	// stored are the campaigns' stored forecasts the reports show
	// (forecastsFor), oldest campaign first.
	stored []campaignForecast
	// deadline is the followed campaign's (zero: none).
	deadline time.Time
	// perDevice is set when cohorts cannot answer: a campaign is
	// followed (each device has its own state) or an alert names an
	// update the rollup does not count.
	perDevice bool
}

type finished struct {
	org string
	at  time.Time
}

// Inputs reads what every report needs; campaign, when not empty, is the
// campaign whose devices' states split the figures.
func (s *Service) Inputs(ctx context.Context, campaign string) (*Inputs, error) {
	return s.inputs(ctx, campaign, access.AllOrgs())
}

// inputs are the Inputs a reader of orgs sees: their organisations, and
// the followed campaign's devices in them.
func (s *Service) inputs(ctx context.Context, campaign string, orgs access.Orgs) (*Inputs, error) {
	in := &Inputs{inv: s.inv, states: map[string]*report.CampaignState{}}
	var err error
	if in.Orgs, err = s.inv.Organisations(ctx); err != nil {
		return nil, err
	}
	in.Orgs = slices.DeleteFunc(in.Orgs, func(o inventory.Organisation) bool { return !orgs.Covers(o.Code) })
	if in.Alerts, err = s.alerts.List(ctx); err != nil {
		return nil, err
	}
	var kbs []string
	for _, al := range in.Alerts {
		kbs = append(kbs, al.KBs()...)
	}
	unwatched, err := s.inv.UnwatchedKBs(ctx, kbs)
	if err != nil {
		return nil, fmt.Errorf("read the updates alerts name: %w", err)
	}
	in.perDevice = len(unwatched) > 0
	if in.History, err = s.historyIn(ctx, orgs); err != nil {
		return nil, err
	}
	in.byOrg = report.IndexHistory(in.History)
	if in.stored, err = s.forecastsFor(ctx, campaign, orgs); err != nil {
		return nil, err
	}
	if campaign == "" {
		return in, nil
	}
	if s.campaigns == nil {
		return nil, fmt.Errorf("campaign %s: no campaign store: %w", campaign, errkind.NotFound)
	}
	in.perDevice = true
	c, err := s.campaigns.Campaign(ctx, campaign)
	if err != nil {
		return nil, err
	}
	if spec, err := orchestrator.ParseSpec(c.SpecFile, []byte(c.Spec)); err == nil && spec.Deadline != nil {
		in.deadline = spec.Deadline.Time
	}
	ms, err := s.campaigns.Members(ctx, campaign)
	if err != nil {
		return nil, err
	}
	ms = slices.DeleteFunc(ms, func(m orchestrator.DeviceRecord) bool { return !orgs.Covers(m.Org) })
	if len(ms) == 0 && !orgs.All() {
		return nil, fmt.Errorf("campaign %s: %w", campaign, errkind.NotFound)
	}
	org := make(map[string]string, len(ms))
	for _, m := range ms {
		in.states[m.Hostname] = &report.CampaignState{State: string(m.State), Reason: string(m.Reason)}
		org[m.Hostname] = m.Org
	}
	tr, err := s.campaigns.Transitions(ctx, campaign, "")
	if err != nil {
		return nil, err
	}
	// The pace, and the burn-down: when each device now final last
	// became so.
	last := map[string]time.Time{}
	for _, t := range tr {
		if _, ours := org[t.Hostname]; t.To.Final() && ours {
			in.finished = append(in.finished, finished{org: org[t.Hostname], at: t.At})
			last[t.Hostname] = t.At
		}
	}
	cp := &report.CampaignProgress{Name: campaign, Devices: len(ms)}
	for _, m := range ms {
		if at, ok := last[m.Hostname]; ok && m.State.Final() {
			cp.Finished = append(cp.Finished, at)
		}
	}
	in.Campaign = cp
	return in, nil
}

// historyIn is the daily history a reader of orgs sees: their
// organisations' snapshots, and each day's total over them alone.
func (s *Service) historyIn(ctx context.Context, orgs access.Orgs) ([]report.Snapshot, error) {
	h, err := s.wholeHistory(ctx)
	if err != nil || orgs.All() {
		return h, err
	}
	return report.ScopeHistory(h, orgs.Covers), nil
}

// wholeHistory is the stored history: the one kept while its generation
// is unchanged, else loaded (and kept). Callers share what it returns and
// must not change it.
func (s *Service) wholeHistory(ctx context.Context) ([]report.Snapshot, error) {
	gen, err := s.history.Generation(ctx)
	if err != nil {
		return nil, err
	}
	s.keptMu.Lock()
	defer s.keptMu.Unlock() // concurrent reports wait for one load
	if s.keptOK && s.keptGen == gen {
		return s.kept, nil
	}
	// Read after the generation: a write between the two is loaded now
	// and, its generation being newer, loaded again by the next report.
	h, err := s.history.Load(ctx)
	if err != nil {
		return nil, err
	}
	s.kept, s.keptGen, s.keptOK = h, gen, true
	return h, nil
}

// Alert returns the stored alert id; the error wraps errkind.NotFound
// when there is none.
func (in *Inputs) Alert(id string) (*alerts.Alert, error) {
	for _, al := range in.Alerts {
		if al.ID == id {
			return al, nil
		}
	}
	return nil, fmt.Errorf("alert %s: %w", id, errkind.NotFound)
}

// pace gives a progress builder the followed campaign's pace.
func (in *Inputs) pace(b *report.ProgressBuilder) {
	for _, f := range in.finished {
		b.Finished(f.org, f.at)
	}
}

// Each calls f for what the reports count: cohorts of devices alike from
// the inventory's rollup or, when cohorts cannot answer, every device (a
// cohort of one) with its state in the followed campaign (nil: none).
func (in *Inputs) Each(ctx context.Context, sel inventory.Selector, f func(*inventory.Cohort, *report.CampaignState)) error {
	if !in.perDevice {
		return overlapped(ctx, func(ctx context.Context) iter.Seq2[inventory.Cohort, error] { return in.inv.Cohorts(ctx, sel) },
			func(c *inventory.Cohort) { f(c, nil) })
	}
	for d, err := range in.inv.Devices(ctx, sel) {
		if err != nil {
			return err
		}
		c := inventory.CohortOf(d)
		f(&c, in.states[d.Hostname])
	}
	return nil
}

// cohortBatch is how many cohorts overlapped hands over at a time.
const cohortBatch = 1024

// overlapped calls f for each cohort of the sequence read, reading in a
// goroutine of its own: the store decodes the next rows while the reports
// count these (over the 1.3M-device estate's two hundred thousand cohorts
// each takes about as long as the other: the estate's figures went from
// 450 ms to 255 ms on two cores). It returns the read's error; when f panics, the
// read is stopped before the panic goes on.
func overlapped(ctx context.Context, read func(context.Context) iter.Seq2[inventory.Cohort, error], f func(*inventory.Cohort)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	full := make(chan []inventory.Cohort, 2)
	free := make(chan []inventory.Cohort, 3)
	var readErr error
	go func() {
		defer close(full)
		send := func(b []inventory.Cohort) bool {
			select {
			case full <- b:
				return true
			case <-ctx.Done():
				return false
			}
		}
		b := make([]inventory.Cohort, 0, cohortBatch)
		for c, err := range read(ctx) {
			if err != nil {
				readErr = err
				return
			}
			if b = append(b, c); len(b) == cohortBatch {
				if !send(b) {
					return
				}
				select {
				case b = <-free:
					b = b[:0]
				default:
					b = make([]inventory.Cohort, 0, cohortBatch)
				}
			}
		}
		if len(b) > 0 {
			send(b)
		}
	}()
	for b := range full { // closed after readErr is set
		for i := range b {
			f(&b[i])
		}
		select {
		case free <- b:
		default:
		}
	}
	if readErr == nil && ctx.Err() != nil { // cancelled by the caller
		return ctx.Err()
	}
	return readErr
}
