package campaigns

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// DiscoverPlaybook is the built-in playbook a discovery runs: it only
// reads, and the engine's probe records what each device reports in the
// inventory.
const DiscoverPlaybook = "discover"

// Discovery asks for the devices a selector picks to be probed and their
// facts recorded, as a campaign of the discover playbook: durable, paced
// by the nodes, followed and retried as any campaign.
type Discovery struct {
	// Name is the campaign's name (default "discover-" and the time, UTC,
	// to the second).
	Name string
	// Selector picks the devices; every device in scope when empty.
	Selector inventory.Selector
	// Start starts the campaign once created.
	Start bool
}

// Spec is the discovery campaign over target, named for now when d names
// none.
func (d Discovery) Spec(target string, now time.Time) *orchestrator.Spec {
	name := d.Name
	if name == "" {
		name = "discover-" + strings.ToLower(now.UTC().Format("20060102t150405"))
	}
	return &orchestrator.Spec{Name: name, Playbook: DiscoverPlaybook, Target: target, Waves: []orchestrator.Wave{{Name: "all"}}}
}

// DiscoverIn creates (and with d.Start starts) the discovery campaign of
// the devices in orgs that d's selector picks: the selector is bounded to
// the scope, so an organisation's operator probes its own devices only.
func (s *Service) DiscoverIn(ctx context.Context, orgs access.Orgs, d Discovery) (Created, error) {
	sel, ok := orgs.Bound(d.Selector)
	if !ok {
		return Created{}, fmt.Errorf("discovery: no organisation is in scope: %w", errkind.Forbidden)
	}
	spec := d.Spec(sel.String(), s.now())
	data, err := spec.Marshal()
	if err != nil {
		return Created{}, err
	}
	cr, err := s.create(ctx, orgs, spec.Name+".yaml", data)
	if err != nil {
		return Created{}, err
	}
	if d.Start {
		if _, err := s.Start(ctx, cr.Spec.Name); err != nil {
			return cr, fmt.Errorf("discovery %s was created but not started: %w", cr.Spec.Name, err)
		}
	}
	return cr, nil
}
