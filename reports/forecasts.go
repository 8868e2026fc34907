package reports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/forecast"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/report"
)

// campaignForecast is a stored forecast a report shows, with the alert
// its campaign remediates (if any).
type campaignForecast struct {
	report.CampaignForecast
	exposedTo string
}

// forecastsFor reads the stored forecasts a report shows: the named
// campaign's, or with none named every running or paused campaign's;
// never a finished or cancelled campaign's (its forecast is history). The
// organisations are those in orgs. A campaign without a forecast yet
// shows none.
func (s *Service) forecastsFor(ctx context.Context, named string, orgs access.Orgs) ([]campaignForecast, error) {
	if s.campaigns == nil {
		return nil, nil
	}
	var list []orchestrator.Campaign
	if named != "" {
		c, err := s.campaigns.Campaign(ctx, named)
		if err != nil {
			return nil, err
		}
		list = []orchestrator.Campaign{c}
	} else {
		all, err := s.campaigns.Campaigns(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range all {
			if c.Status == orchestrator.StatusRunning || c.Status == orchestrator.StatusPaused {
				list = append(list, c)
			}
		}
	}
	var out []campaignForecast
	for _, c := range list {
		if c.Status == orchestrator.StatusDone || c.Status == orchestrator.StatusCancelled {
			continue
		}
		_, doc, err := s.campaigns.LatestForecast(ctx, c.Name)
		if errors.Is(err, errkind.NotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var f forecast.Forecast
		if err := json.Unmarshal(doc, &f); err != nil {
			return nil, fmt.Errorf("campaign %s: its stored forecast: %w", c.Name, err)
		}
		if !orgs.All() {
			// A reader of some organisations sees theirs, nothing of the
			// campaign as a whole.
			f.Orgs = slices.DeleteFunc(f.Orgs, func(o forecast.Org) bool { return !orgs.Covers(o.Org) })
			if len(f.Orgs) == 0 {
				continue
			}
			f.Finish, f.Waves, f.WaitsForPerson, f.Decisions, f.LearnedFrom = forecast.Quantiles{}, []forecast.Wave{}, 0, 0, ""
		}
		cf := campaignForecast{CampaignForecast: report.CampaignForecast{Campaign: c.Name, Whole: orgs.All(), Forecast: f}}
		if spec, err := orchestrator.ParseSpec(c.SpecFile, []byte(c.Spec)); err == nil {
			cf.exposedTo = spec.ExposedTo
		}
		out = append(out, cf)
	}
	return out, nil
}

// forecasts are the stored forecasts the inputs read, for the builders:
// with alert empty those of the campaigns that remediate no alert (the
// migration's), else the latest one's that remediates it (as alert
// forecast reads it).
func (in *Inputs) forecasts(alert string) []report.CampaignForecast {
	out := []report.CampaignForecast{} // an empty list, not null, in JSON
	for _, c := range slices.Backward(in.stored) {
		if c.exposedTo == alert {
			out = append(out, c.CampaignForecast)
			if alert != "" {
				break
			}
		}
	}
	slices.Reverse(out)
	return out
}
