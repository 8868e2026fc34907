package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// defaultPilotSoak is how long a remediation's pilot wave soaks unless
// told otherwise, as alert remediate's --pilot-soak.
const defaultPilotSoak = 4 * time.Hour

// alertRoutes are the changes to the High Severity Alerts: adding and
// removing one (national acts: an alert changes every organisation's
// figures), and remediating one with a campaign over the exposed devices
// in the caller's scope. Reading them is in reportRoutes.
func (s *Server) alertRoutes() {
	type addIn struct {
		Body struct {
			File string `json:"file,omitempty" jsonschema:"description=a name for the alert file in errors (default alert.yaml)"`
			YAML string `json:"yaml" jsonschema:"description=the alert file (YAML)"`
		}
	}
	handle(s, Op{ID: "alert-add", Method: "POST", Path: "/api/v1/alerts", Summary: "Add a High Severity Alert from an alert file (needs the estate scope: an alert changes every organisation's figures)", Tag: "alerts", Role: access.Operator, Audit: "alert.add"},
		func(ctx context.Context, c *Call, in *addIn) (Alert, error) {
			if err := c.RequireEstate(ctx, "alert add: alerts are issued nationally and change every organisation's figures"); err != nil {
				return Alert{}, err
			}
			file := in.Body.File
			if file == "" {
				file = "alert.yaml"
			}
			data := []byte(in.Body.YAML)
			al, err := alerts.ParseContext(ctx, file, data)
			if err != nil {
				return Alert{}, err
			}
			c.Audit(al.ID, "")
			// Reports count its updates from the moment it is stored: the
			// store watches them in the same transaction.
			if err := s.cfg.Alerts.Add(ctx, al, data); err != nil {
				return Alert{}, err
			}
			out := alertOf(al)
			c.Record(nil, out)
			return out, nil
		})
	type removeIn struct {
		ID string `path:"id"`
	}
	handle(s, Op{ID: "alert-remove", Method: "DELETE", Path: "/api/v1/alerts/{id}", Summary: "Remove a High Severity Alert, readable or not, with its figures in the daily history (needs the estate scope); campaigns made from it stay", Tag: "alerts", Role: access.Operator, Audit: "alert.remove"},
		func(ctx context.Context, c *Call, in *removeIn) (RemovedAlert, error) {
			c.Audit(in.ID, "")
			if err := c.RequireEstate(ctx, "alert remove "+in.ID+": alerts are issued nationally and change every organisation's figures"); err != nil {
				return RemovedAlert{}, err
			}
			// The record before, as far as it can be read: an alert stored by
			// an earlier version that can no longer be read is removed all
			// the same (as alert remove does), its error kept instead.
			out := RemovedAlert{ID: in.ID}
			var before any
			al, err := s.cfg.Alerts.Get(ctx, in.ID)
			var unreadable *alerts.UnreadableError
			switch {
			case err == nil:
				a := alertOf(al)
				out.Alert, before = &a, a
			case errors.As(err, &unreadable):
				out.Unreadable = unreadable.Error()
				before = map[string]string{"id": in.ID, "unreadable": out.Unreadable}
			case errors.Is(err, errkind.NotFound):
				// Remove says so, as it does to the CLI.
			default:
				return RemovedAlert{}, err
			}
			if err := s.cfg.Alerts.Remove(ctx, in.ID); err != nil {
				return RemovedAlert{}, err
			}
			c.Record(before, nil)
			return out, nil
		})
	type remediateIn struct {
		ID   string `path:"id"`
		Body struct {
			Name      string `json:"name,omitempty" jsonschema:"description=the campaign's name (default remediate- and the alert's id in lower case)"`
			Source    string `json:"source" jsonschema:"description=the folder (share or local) holding the updates as KBnnnnnnn.msu\\, e.g. \\\\dp01\\updates$"`
			PilotSoak string `json:"pilot_soak,omitempty" jsonschema:"description=how long the pilot wave (a twentieth of the devices) soaks before the rest (Go duration; default 4h)"`
		}
	}
	handle(s, Op{ID: "alert-remediate", Method: "POST", Path: "/api/v1/alerts/{id}/remediate", Summary: "Create a draft campaign that installs an alert's updates on the devices in the caller's scope observed to be exposed to it", Tag: "alerts", Role: access.Operator, Audit: "alert.remediate"},
		func(ctx context.Context, c *Call, in *remediateIn) (Created, error) {
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return Created{}, err
			}
			org := ""
			if list := orgs.List(); len(list) == 1 {
				org = list[0]
			}
			c.Audit(in.ID, org)
			if in.Body.Source == "" {
				return Created{}, &BadRequestError{Where: "body field source", Err: errors.New("give the folder holding the updates (KBnnnnnnn.msu)")}
			}
			soak := defaultPilotSoak
			if in.Body.PilotSoak != "" {
				if soak, err = time.ParseDuration(in.Body.PilotSoak); err != nil {
					return Created{}, &BadRequestError{Where: "body field pilot_soak", Err: err}
				}
			}
			r, cr, err := s.cfg.Campaigns.RemediateAlertIn(ctx, orgs, s.cfg.Reports, in.ID,
				campaigns.Remediation{Source: in.Body.Source, Name: in.Body.Name, PilotSoak: soak})
			if err != nil {
				return Created{}, err
			}
			if len(r.Exposed) == 0 {
				return Created{}, fmt.Errorf("alert %s: no device in the caller's scope is observed to be exposed to it: nothing to remediate: %w", r.Alert.ID, errkind.Conflict)
			}
			out := Created{Name: cr.Spec.Name, Playbook: cr.Spec.Playbook, Devices: cr.Devices(), WaveSizes: nonNil(cr.WaveSizes), Unwaved: cr.Unwaved}
			c.Record(nil, out)
			return out, nil
		})
}
