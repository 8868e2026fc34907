package scheduler

import (
	"fmt"
	"sync"

	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
)

// parsedCache keeps each campaign's spec and playbook parsed once for all
// of its devices: a feature update's playbook is tens of kilobytes parsed
// into hundreds (its parameters' patterns compiled), and ten thousand
// devices running at once each holding their own copy would hold gigabytes.
// Neither is changed by a run, so the runs share them. An entry is used
// only while the stored text is the same: a campaign's spec amended (set)
// is parsed again.
type parsedCache struct {
	mu     sync.Mutex
	byName map[string]*parsedCampaign
}

// parsedCampaign is one campaign's stored text and what it parsed into.
type parsedCampaign struct {
	specFile, spec, playbookFile, playbook string

	parsedSpec *orchestrator.Spec
	specErr    error
	parsedPB   *playbooks.Playbook
	pbErr      error
}

// maxParsed bounds the cache: a node runs a handful of campaigns at once,
// and one beyond the bound only costs a parse per device again.
const maxParsed = 64

// get returns c's spec and playbook, parsed with parse, from the cache when
// c's stored text is what was parsed. A spec that does not parse is a job
// error (specErr); a playbook that does not parse is the device's outcome
// (pbErr), as when each run parsed its own. The caller must not change
// what it gets.
func (p *parsedCache) get(c orchestrator.Campaign, parse func(file string, src []byte) (*playbooks.Playbook, error)) *parsedCampaign {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.byName[c.Name]
	if e == nil || e.specFile != c.SpecFile || e.spec != c.Spec || e.playbookFile != c.PlaybookFile || e.playbook != c.Playbook {
		e = &parsedCampaign{specFile: c.SpecFile, spec: c.Spec, playbookFile: c.PlaybookFile, playbook: c.Playbook}
		e.parsedSpec, e.specErr = orchestrator.ParseSpec(c.SpecFile, []byte(c.Spec))
		if e.specErr != nil {
			e.specErr = fmt.Errorf("campaign %s: stored spec: %w", c.Name, e.specErr)
		}
		e.parsedPB, e.pbErr = parse(c.PlaybookFile, []byte(c.Playbook))
		if p.byName == nil || len(p.byName) >= maxParsed {
			p.byName = map[string]*parsedCampaign{}
		}
		p.byName[c.Name] = e
	}
	return e
}
