package campaigns

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
)

// fileError is a campaign file that names what cannot be had (a playbook
// missing or broken): the file is at fault, whatever the cause, so it is
// errkind.Invalid and nothing else.
type fileError struct{ err error }

func (e fileError) Error() string { return e.err.Error() }
func (e fileError) Unwrap() error { return errkind.Invalid }

// Created summarises a new campaign.
type Created struct {
	Spec      *orchestrator.Spec
	WaveSizes []int // devices per wave, in the spec's order
	Unwaved   int   // targets no wave took
}

// Devices is how many devices the campaign holds, in waves or not.
func (c Created) Devices() int {
	n := c.Unwaved
	for _, w := range c.WaveSizes {
		n += w
	}
	return n
}

// Create creates a campaign from a campaign file's bytes (file names it in
// errors). It checks the file whole, its parameters against its playbook
// and its windows against the calendar (each must open within
// orchestrator.WindowHorizonYears of now, in the zone of every
// organisation it serves), splits the targets into waves, and stores the
// campaign as a draft with the playbook as it is now; nothing is stored
// when anything is wrong.
func (s *Service) Create(ctx context.Context, file string, data []byte) (Created, error) {
	return s.create(ctx, access.AllOrgs(), file, data)
}

// create is Create bounded to the organisations in scope.
func (s *Service) create(ctx context.Context, scope access.Orgs, file string, data []byte) (Created, error) {
	spec, err := orchestrator.ParseSpec(file, data)
	if err != nil {
		return Created{}, err
	}
	pbFile, pbSrc, err := s.playbooks(spec.Playbook)
	if err != nil {
		return Created{}, fileError{fmt.Errorf("%s: playbook %s: %w", file, spec.Playbook, err)}
	}
	pb, err := playbooks.Parse(pbFile, pbSrc)
	if err != nil {
		return Created{}, fileError{fmt.Errorf("%s: playbook %s: %w", file, spec.Playbook, err)}
	}
	if _, err := pb.Values(spec.Params); err != nil {
		return Created{}, fmt.Errorf("%s: params for playbook %s: %w", file, pb.Name, err)
	}
	// The targets stream into the split; only what it needs of each is
	// kept, and the members stream from it into the store.
	all, err := s.inv.TimeZones(ctx)
	if err != nil {
		return Created{}, fmt.Errorf("%s: organisations' time zones: %w", file, err)
	}
	keep := func(*inventory.Device) bool { return true }
	if spec.ExposedTo != "" {
		if s.alerts == nil {
			return Created{}, fmt.Errorf("%s: exposed_to: alerts are not available here", file)
		}
		al, err := s.alerts.Get(ctx, spec.ExposedTo)
		if err != nil {
			return Created{}, fmt.Errorf("%s: exposed_to: %w", file, err)
		}
		keep = func(d *inventory.Device) bool { return al.Check(d) == alerts.Exposed }
	}
	split := orchestrator.NewAssignment(spec)
	orgs, err := s.readTargets(ctx, spec.TargetSelector(), keep, slices.Sorted(maps.Keys(all)), split)
	if err != nil {
		return Created{}, fmt.Errorf("%s: target: %w", file, err)
	}
	if split.Len() == 0 && spec.ExposedTo != "" {
		of := "in the inventory"
		if spec.Target != "" {
			of = fmt.Sprintf("target %q selects", spec.Target)
		}
		return Created{}, fmt.Errorf("%s: exposed_to: no device %s is observed to be exposed to %s: %w", file, of, spec.ExposedTo, errkind.NotFound)
	}
	if split.Len() == 0 {
		return Created{}, fileError{fmt.Errorf("%s: target %q matches no device in the inventory", file, spec.Target)}
	}
	if _, ok := scope.CoversAll(slices.Sorted(maps.Keys(orgs))); !ok {
		// Which is not said: others' organisations are theirs to know.
		return Created{}, fmt.Errorf("%s: target reaches organisations outside the caller's scope: narrow it (target: org in (...)): %w", file, errkind.Forbidden)
	}
	zones := map[string]string{}
	for org := range orgs {
		zones[org] = all[org]
	}
	if err := spec.CheckWindows(s.now(), zones); err != nil {
		return Created{}, err
	}
	out := Created{Spec: spec}
	out.WaveSizes, out.Unwaved = split.WaveSizes()
	names := make([]string, len(spec.Waves))
	for i, w := range spec.Waves {
		names[i] = w.Name
	}
	c := orchestrator.Campaign{Name: spec.Name, SpecFile: file, Spec: string(data), PlaybookFile: pbFile, Playbook: string(pbSrc)}
	if err := s.store.Create(ctx, c, names, split.Members()); err != nil {
		return Created{}, err
	}
	return out, nil
}

// readers is how many readers read a new campaign's targets at once,
// each the devices of its share of the organisations: reading and
// decoding devices is most of what creating a campaign costs, and
// readers on separate connections share it between cores.
const readers = 2

// readTargets adds the devices sel selects and keep keeps to split,
// reading the organisations orgs in shares at once, and returns the
// organisations they belong to. The split does not depend on the order
// devices come in.
func (s *Service) readTargets(ctx context.Context, sel inventory.Selector, keep func(*inventory.Device) bool, orgs []string,
	split *orchestrator.Assignment) (map[string]bool, error) {
	shares := make([]inventory.Selector, 0, readers)
	for i := range min(readers, len(orgs)) {
		var share []string
		for j := i; j < len(orgs); j += readers {
			share = append(share, orgs[j])
		}
		only, err := inventory.ParseSelector("org in (" + strings.Join(share, ",") + ")")
		if err != nil { // a code a selector cannot spell: read it all at once
			shares = []inventory.Selector{sel}
			break
		}
		shares = append(shares, sel.And(only))
	}
	if len(shares) == 0 {
		shares = []inventory.Selector{sel}
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	g, ctx := errgroup.WithContext(ctx)
	for _, share := range shares {
		g.Go(func() error {
			for d, err := range s.inv.Devices(ctx, share) {
				if err != nil {
					return err
				}
				if !keep(d) {
					continue
				}
				mu.Lock()
				split.Add(d)
				seen[d.Org] = true
				mu.Unlock()
			}
			return nil
		})
	}
	return seen, g.Wait()
}

// RemediatePlaybook is the built-in playbook a remediation runs.
const RemediatePlaybook = "hsa-remediate"

// Remediation asks for a campaign that installs an alert's updates on the
// devices observed to be exposed to it.
type Remediation struct {
	Alert *alerts.Alert
	// Exposed are the hostnames observed to be exposed (on a build the
	// alert names, without a remediating update): they size the pilot.
	// The campaign itself keeps the devices exposed when it is created
	// (its spec's exposed_to).
	Exposed []string
	// Source is the folder (share or local) holding the updates as
	// KBnnnnnnn.msu.
	Source string
	// Name is the campaign's name (default "remediate-" and the alert's
	// id in lower case, then "-" and the organisation's code when the
	// scope is one organisation).
	Name string
	// PilotSoak is how long the pilot wave (a twentieth of the devices, at
	// least one) soaks before the rest.
	PilotSoak time.Duration
}

// Spec is the remediation campaign: the hsa-remediate playbook on the
// exposed devices, in a pilot wave and the rest, with a deadline the day
// after the alert's.
func (r Remediation) Spec() *orchestrator.Spec {
	spec, _ := r.SpecIn(access.AllOrgs()) // over every organisation it cannot fail
	return spec
}

// SpecIn is Spec with its target bounded to the organisations of orgs
// (target: build in (...), org in (...)). An orgs that covers none is
// refused with an error wrapping errkind.Forbidden: there is no campaign
// to make.
func (r Remediation) SpecIn(orgs access.Orgs) (*orchestrator.Spec, error) {
	// The alert's builds, and of their devices those exposed when the
	// campaign is created: a selector naming every exposed device would be
	// megabytes at the national estate's scale.
	target := "build in (" + strings.Join(r.Alert.Builds(), ",") + ")"
	if !orgs.All() {
		builds, err := inventory.ParseSelector(target)
		if err != nil {
			return nil, fmt.Errorf("alert %s: its builds as a target: %w", r.Alert.ID, err)
		}
		bounded, ok := orgs.Bound(builds)
		if !ok {
			return nil, fmt.Errorf("alert %s: the caller's scope covers no organisation: %w", r.Alert.ID, errkind.Forbidden)
		}
		target = bounded.String()
	}
	name := r.Name
	if name == "" {
		name = "remediate-" + strings.ToLower(r.Alert.ID)
		// An organisation's own remediation is named for it, so that each
		// organisation's team may make its own under the default name.
		if list := orgs.List(); !orgs.All() && len(list) == 1 {
			name += "-" + strings.ToLower(list[0])
		}
	}
	deadline := r.Alert.DeadlineAt().AddDate(0, 0, 1).UTC()
	return &orchestrator.Spec{
		Name:      name,
		Playbook:  RemediatePlaybook,
		Params:    map[string]any{"alert": r.Alert.ID, "required": r.Alert.Required(), "source": r.Source},
		Target:    target,
		ExposedTo: r.Alert.ID,
		Deadline:  &orchestrator.Timestamp{Time: deadline},
		Waves: []orchestrator.Wave{
			{Name: "pilot", Count: max(1, len(r.Exposed)/20), Soak: orchestrator.Duration{Duration: r.PilotSoak}},
			{Name: "rest"},
		},
	}, nil
}

// Remediate creates the draft campaign of r (see Remediation.Spec), as
// Create does from a file named after the campaign.
func (s *Service) Remediate(ctx context.Context, r Remediation) (Created, error) {
	return s.RemediateIn(ctx, access.AllOrgs(), r)
}

// RemediateIn is Remediate for a caller bounded to orgs: the campaign's
// target is bounded to them (see Remediation.SpecIn), so it holds their
// exposed devices only, and it is created as CreateIn creates one.
// r.Exposed should be the devices exposed in orgs (it sizes the pilot).
func (s *Service) RemediateIn(ctx context.Context, orgs access.Orgs, r Remediation) (Created, error) {
	if len(r.Exposed) == 0 {
		return Created{}, fmt.Errorf("alert %s: no device is exposed: %w", r.Alert.ID, errkind.NotFound)
	}
	spec, err := r.SpecIn(orgs)
	if err != nil {
		return Created{}, err
	}
	data, err := spec.Marshal()
	if err != nil {
		return Created{}, err
	}
	return s.create(ctx, orgs, spec.Name+".yaml", data)
}

// Exposure finds the devices observed to be exposed to a stored alert
// (*reports.Service is one).
type Exposure interface {
	// ExposedIn returns the alert and the hostnames of the devices of
	// orgs exposed to it; an unknown alert is an error wrapping
	// errkind.NotFound.
	ExposedIn(ctx context.Context, orgs access.Orgs, id string) (*alerts.Alert, []string, error)
}

// RemediateAlert remediates the stored alert id: it asks ex which devices
// are exposed to it and creates the draft campaign of r (see Remediate)
// for them, r's Alert and Exposed filled in. It returns r so filled in;
// when no device is exposed there is nothing to do, and it creates
// nothing and returns a zero Created.
func (s *Service) RemediateAlert(ctx context.Context, ex Exposure, id string, r Remediation) (Remediation, Created, error) {
	return s.RemediateAlertIn(ctx, access.AllOrgs(), ex, id, r)
}

// RemediateAlertIn is RemediateAlert for a caller bounded to orgs (an
// organisation's operator): the devices exposed in orgs alone are asked
// for, counted and put in the campaign (see RemediateIn). When none of
// them is exposed it creates nothing and returns a zero Created.
func (s *Service) RemediateAlertIn(ctx context.Context, orgs access.Orgs, ex Exposure, id string, r Remediation) (Remediation, Created, error) {
	al, exposed, err := ex.ExposedIn(ctx, orgs, id)
	if err != nil {
		return r, Created{}, err
	}
	r.Alert, r.Exposed = al, exposed
	if len(exposed) == 0 {
		return r, Created{}, nil
	}
	c, err := s.RemediateIn(ctx, orgs, r)
	return r, c, err
}
