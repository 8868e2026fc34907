package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// summaryCache is how long a campaign's summary is kept per scope: it is
// polled by every team following a national campaign.
const summaryCache = 5 * time.Second

type campaignIn struct {
	Name string `path:"name" doc:"the campaign's name"`
}

// campaignStatuses are the statuses campaigns-list filters by.
var campaignStatuses = []string{string(orchestrator.StatusDraft), string(orchestrator.StatusRunning), string(orchestrator.StatusPaused), string(orchestrator.StatusDone), string(orchestrator.StatusCancelled)}

func (s *Server) campaignRoutes() {
	cs := s.cfg.Campaigns
	type campaignsIn struct {
		Status string `query:"status" doc:"only campaigns in this status (draft, running, paused, done, cancelled)"`
		After  string `query:"after" doc:"the cursor of the page before (its next): a campaign's name"`
		Limit  int    `query:"limit" doc:"campaigns in a page: 1 to 1000, default 500"`
	}
	handle(s, Op{ID: "campaigns-list", Method: "GET", Path: "/api/v1/campaigns", Summary: "List the campaigns with devices in scope, counting those", Tag: "campaigns", Role: access.Viewer},
		func(ctx context.Context, c *Call, in *campaignsIn) (List[campaigns.Summary], error) {
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return List[campaigns.Summary]{}, err
			}
			list, err := cs.ListIn(ctx, orgs)
			if err != nil {
				return List[campaigns.Summary]{}, err
			}
			if in.Status != "" && !slices.Contains(campaignStatuses, in.Status) {
				return List[campaigns.Summary]{}, &BadRequestError{Where: "query parameter status", Err: fmt.Errorf("%q: want one of %s", in.Status, strings.Join(campaignStatuses, ", "))}
			}
			if in.Status != "" {
				list = slices.DeleteFunc(list, func(c campaigns.Summary) bool { return c.Status != in.Status })
			}
			return listOf(list, in.After, in.Limit, func(c campaigns.Summary) string { return c.Name })
		})
	type createIn struct {
		Body struct {
			// File names the spec in errors.
			File string `json:"file,omitempty" jsonschema:"description=a name for the spec in errors (default campaign.yaml)"`
			Spec string `json:"spec" jsonschema:"description=the campaign file (YAML)"`
		}
	}
	handle(s, Op{ID: "campaign-create", Method: "POST", Path: "/api/v1/campaigns", Summary: "Create a draft campaign from a campaign file; its target must lie within the caller's scope", Tag: "campaigns", Role: access.Operator, Audit: "campaign.create"},
		func(ctx context.Context, c *Call, in *createIn) (Created, error) {
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return Created{}, err
			}
			file := in.Body.File
			if file == "" {
				file = "campaign.yaml"
			}
			cr, err := cs.CreateIn(ctx, orgs, file, []byte(in.Body.Spec))
			if err != nil {
				return Created{}, err
			}
			out := Created{Name: cr.Spec.Name, Playbook: cr.Spec.Playbook, Devices: cr.Devices(), WaveSizes: nonNil(cr.WaveSizes), Unwaved: cr.Unwaved}
			c.Audit(out.Name, "")
			c.Record(nil, out)
			return out, nil
		})
	type discoverIn struct {
		Body struct {
			Name     string `json:"name,omitempty" jsonschema:"description=the campaign's name (default discover- and the time)"`
			Selector string `json:"selector,omitempty" jsonschema:"description=the devices to probe (default every device in scope)"`
			Start    *bool  `json:"start,omitempty" jsonschema:"description=start it at once (default true)"`
		}
	}
	handle(s, Op{ID: "discovery-create", Method: "POST", Path: "/api/v1/discovery", Summary: "Probe the devices in scope a selector picks and record what they report: a campaign of the discover playbook, followed as any campaign", Tag: "inventory", Role: access.Operator, Audit: "campaign.discover"},
		func(ctx context.Context, c *Call, in *discoverIn) (Created, error) {
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return Created{}, err
			}
			sel, err := inventory.ParseSelector(in.Body.Selector)
			if err != nil {
				return Created{}, &BadRequestError{Where: "body field selector", Err: err}
			}
			d := campaigns.Discovery{Name: in.Body.Name, Selector: sel, Start: in.Body.Start == nil || *in.Body.Start}
			cr, err := cs.DiscoverIn(ctx, orgs, d)
			if cr.Spec != nil {
				c.Audit(cr.Spec.Name, soleOrg(orgs))
			}
			if err != nil {
				return Created{}, err
			}
			out := Created{Name: cr.Spec.Name, Playbook: cr.Spec.Playbook, Devices: cr.Devices(), WaveSizes: nonNil(cr.WaveSizes), Unwaved: cr.Unwaved, Started: d.Start}
			c.Record(nil, out)
			return out, nil
		})
	handle(s, Op{ID: "campaign-show", Method: "GET", Path: "/api/v1/campaigns/{name}", Summary: "Show a campaign as the caller's scope sees it: waves, counts, what waits and why", Tag: "campaigns", Role: access.Viewer, Cache: summaryCache},
		func(ctx context.Context, c *Call, in *campaignIn) (campaigns.Detail, error) {
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return campaigns.Detail{}, err
			}
			return cs.ShowIn(ctx, in.Name, orgs)
		})
	for _, a := range []struct {
		action orchestrator.Action
		do     func(context.Context, string) (orchestrator.Status, error)
	}{
		{orchestrator.ActionStart, cs.Start}, {orchestrator.ActionPause, cs.Pause},
		{orchestrator.ActionResume, cs.Resume}, {orchestrator.ActionCancel, cs.Cancel},
	} {
		handle(s, Op{ID: "campaign-" + string(a.action), Method: "POST", Path: "/api/v1/campaigns/{name}/" + string(a.action),
			Summary: "Campaign: " + string(a.action) + " (every organisation it reaches must be in scope)", Tag: "campaigns", Role: access.Operator, Audit: "campaign." + string(a.action)},
			func(ctx context.Context, c *Call, in *campaignIn) (StatusChange, error) {
				c.Audit(in.Name, "")
				before, err := s.whole(ctx, c, in.Name)
				if err != nil {
					return StatusChange{}, err
				}
				st, err := a.do(ctx, in.Name)
				if err != nil {
					return StatusChange{}, err
				}
				out := StatusChange{Campaign: in.Name, Before: string(before.Status), Status: string(st)}
				c.Record(map[string]string{"status": out.Before}, map[string]string{"status": out.Status})
				return out, nil
			})
	}
	type waveIn struct {
		Name string `path:"name"`
		Wave string `path:"wave"`
		Body struct {
			Reason string `json:"reason,omitempty"`
		}
	}
	handle(s, Op{ID: "wave-approve", Method: "POST", Path: "/api/v1/campaigns/{name}/waves/{wave}/approve", Summary: "Approve a wave's manual gate (every organisation the campaign reaches must be in scope)", Tag: "campaigns", Role: access.Approver, Audit: "campaign.approve"},
		func(ctx context.Context, c *Call, in *waveIn) (Changed, error) {
			c.Audit(in.Name+"/"+in.Wave, "")
			if _, err := s.whole(ctx, c, in.Name); err != nil {
				return Changed{}, err
			}
			if err := cs.Approve(ctx, in.Name, in.Wave, campaigns.Decision{Actor: c.Principal.Subject, Reason: in.Body.Reason}); err != nil {
				return Changed{}, err
			}
			return Changed{Campaign: in.Name}, nil
		})
	type continueIn struct {
		Name string `path:"name"`
		Wave string `path:"wave"`
		Body struct {
			Org    string `json:"org,omitempty" jsonschema:"description=one organisation's failures (default: the whole wave's)"`
			Reason string `json:"reason,omitempty"`
		}
	}
	handle(s, Op{ID: "wave-continue", Method: "POST", Path: "/api/v1/campaigns/{name}/waves/{wave}/continue", Summary: "Accept the failures so far of a halted wave (or of one organisation in it) and let it go on", Tag: "campaigns", Role: access.Approver, Audit: "campaign.continue"},
		func(ctx context.Context, c *Call, in *continueIn) (Changed, error) {
			c.Audit(in.Name+"/"+in.Wave, in.Body.Org)
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return Changed{}, err
			}
			n, err := cs.ContinueIn(ctx, in.Name, in.Wave, in.Body.Org, orgs, campaigns.Decision{Actor: c.Principal.Subject, Reason: in.Body.Reason})
			if err != nil {
				return Changed{}, err
			}
			return Changed{Campaign: in.Name, Devices: n}, nil
		})
	type retryIn struct {
		Name string `path:"name"`
		Body struct {
			Wave   string `json:"wave,omitempty"`
			Org    string `json:"org,omitempty" jsonschema:"description=default: every organisation in scope"`
			Reason string `json:"reason,omitempty" jsonschema:"description=only devices that failed for this reason"`
		}
	}
	handle(s, Op{ID: "campaign-retry", Method: "POST", Path: "/api/v1/campaigns/{name}/retry", Summary: "Retry the failed devices in scope (by wave, organisation, reason)", Tag: "campaigns", Role: access.Operator, Audit: "campaign.retry"},
		func(ctx context.Context, c *Call, in *retryIn) (Changed, error) {
			c.Audit(in.Name, in.Body.Org)
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return Changed{}, err
			}
			n, err := cs.RetryIn(ctx, in.Name, orgs, orchestrator.DeviceFilter{Wave: in.Body.Wave, Org: in.Body.Org, State: orchestrator.DeviceFailed, Reason: orchestrator.Reason(in.Body.Reason)})
			if err != nil {
				return Changed{}, err
			}
			c.Record(nil, map[string]int{"retried": n})
			return Changed{Campaign: in.Name, Devices: n}, nil
		})
	type devicesIn struct {
		Name   string `path:"name"`
		Wave   string `query:"wave"`
		Org    string `query:"org" doc:"needed when the caller's scope covers several of its organisations"`
		State  string `query:"state"`
		Reason string `query:"reason"`
		After  string `query:"after" doc:"the next of the page before"`
		Limit  int    `query:"limit" doc:"1 to 10000, default 100"`
	}
	handle(s, Op{ID: "campaign-devices", Method: "GET", Path: "/api/v1/campaigns/{name}/devices", Summary: "A page of the campaign's devices in scope, in dispatch order", Tag: "campaigns", Role: access.Viewer},
		func(ctx context.Context, c *Call, in *devicesIn) (CampaignDevicePage, error) {
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return CampaignDevicePage{}, err
			}
			p, err := cs.DevicesIn(ctx, in.Name, orgs, campaigns.DeviceQuery{
				DeviceFilter: orchestrator.DeviceFilter{Wave: in.Wave, Org: in.Org, State: orchestrator.DeviceState(in.State), Reason: orchestrator.Reason(in.Reason)},
				After:        in.After, Limit: in.Limit})
			if err != nil {
				return CampaignDevicePage{}, err
			}
			return CampaignDevicePage{Devices: p.Rows(), Next: p.Next}, nil
		})
	type deviceIn struct {
		Name     string `path:"name"`
		Hostname string `path:"hostname"`
	}
	handle(s, Op{ID: "campaign-device", Method: "GET", Path: "/api/v1/campaigns/{name}/devices/{hostname}", Summary: "A campaign device's standing and every transition it went through", Tag: "campaigns", Role: access.Viewer},
		func(ctx context.Context, c *Call, in *deviceIn) (DeviceHistory, error) {
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return DeviceHistory{}, err
			}
			h, err := cs.DeviceIn(ctx, in.Name, in.Hostname, orgs)
			if err != nil {
				return DeviceHistory{}, err
			}
			waves, err := cs.WaveNames(ctx, in.Name)
			if err != nil {
				return DeviceHistory{}, err
			}
			return historyOf(h, waves), nil
		})
}

// whole checks that the caller's scope covers every organisation of
// campaign name, and returns the campaign.
func (s *Server) whole(ctx context.Context, c *Call, name string) (orchestrator.Campaign, error) {
	orgs, err := c.Orgs(ctx)
	if err != nil {
		return orchestrator.Campaign{}, err
	}
	if err := s.cfg.Campaigns.Whole(ctx, name, orgs); err != nil {
		return orchestrator.Campaign{}, err
	}
	return s.cfg.Campaigns.Campaign(ctx, name)
}
