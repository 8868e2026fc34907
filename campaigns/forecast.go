package campaigns

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/forecast"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// ForecastOptions say how to forecast a campaign.
type ForecastOptions struct {
	Runs          int           // replays (default 20)
	ApprovalDelay time.Duration // a person's assumed delay to approve a wave (zero: at once)
	Seed          uint64        // makes the forecast reproducible
	// MinRuns is how many observed runs an organisation needs for its
	// own figures (default 30); below it, the campaign's are used.
	MinRuns int
	// Changes, when given, are forecast as if made (campaign set's
	// changes; nothing is stored): a what-if.
	Changes []orchestrator.Change
}

// DefaultForecast are the options of the forecasts a node makes in the
// background, and campaign forecast's defaults: only a forecast made with
// them is stored for the reports, so that what they show does not change
// with the options a person last tried.
var DefaultForecast = ForecastOptions{Runs: 20, ApprovalDelay: 24 * time.Hour, MinRuns: 30}

// stored says whether a forecast made with o is what the reports show:
// one made with the default options, no what-if.
func (o ForecastOptions) stored() bool {
	return len(o.Changes) == 0 && cmp.Or(o.Runs, 20) == DefaultForecast.Runs && o.ApprovalDelay == DefaultForecast.ApprovalDelay &&
		cmp.Or(o.MinRuns, 30) == DefaultForecast.MinRuns
}

// Forecast says when the named campaign will finish, per wave and per
// organisation (see package forecast): its controller replayed from its
// current state, a draft's as if started now and a paused one's as if
// resumed now, with runs drawn from what it has observed so far, else
// from the latest earlier campaign of its playbook, else stated defaults.
func (s *Service) Forecast(ctx context.Context, name string, o ForecastOptions) (forecast.Forecast, error) {
	c, err := s.store.Campaign(ctx, name)
	if err != nil {
		return forecast.Forecast{}, err
	}
	if c.Status == orchestrator.StatusDone || c.Status == orchestrator.StatusCancelled {
		return forecast.Forecast{}, fmt.Errorf("campaign %s is %s: there is nothing to forecast: %w", name, c.Status, errkind.Invalid)
	}
	var whatIf []string
	if len(o.Changes) > 0 {
		data, _, err := orchestrator.Amend(c.SpecFile, []byte(c.Spec), o.Changes)
		if err != nil {
			return forecast.Forecast{}, fmt.Errorf("campaign %s: what if: %w", name, err)
		}
		c.Spec = string(data) // this forecast's copy only
		for _, ch := range o.Changes {
			whatIf = append(whatIf, ch.Source)
		}
	}
	v, err := orchestrator.ReadView(ctx, s.store, s.inv, c)
	if err != nil {
		return forecast.Forecast{}, err
	}
	m, seen, err := s.learn(ctx, name, 0)
	if err != nil {
		return forecast.Forecast{}, err
	}
	m.MinRuns, m.ApprovalDelay = o.MinRuns, o.ApprovalDelay
	if m.Campaign.Runs() < max(o.MinRuns, 30) {
		if m.Default, err = s.earlier(ctx, c, v.Spec.Playbook); err != nil {
			return forecast.Forecast{}, err
		}
	}
	f, err := forecast.Run(ctx, forecast.Input{View: v, Now: s.now(), Model: m, Runs: o.Runs, Seed: o.Seed,
		Running: seen.running, Finished: seen.finished})
	if err != nil {
		return forecast.Forecast{}, fmt.Errorf("campaign %s: forecast: %w", name, err)
	}
	f.WhatIf = whatIf
	if o.stored() {
		// What the reports show: the latest forecast made, by a node in
		// the background or by a person, with the default options.
		doc, err := json.Marshal(f)
		if err != nil {
			return forecast.Forecast{}, err
		}
		if err := s.store.PutForecast(ctx, name, f.From, doc); err != nil {
			return forecast.Forecast{}, err
		}
	}
	return f, nil
}

// StoredForecast returns the latest forecast made of the named campaign
// (by Forecast or RefreshForecasts), or an error wrapping
// errkind.NotFound when none has been.
func (s *Service) StoredForecast(ctx context.Context, name string) (forecast.Forecast, error) {
	_, doc, err := s.store.LatestForecast(ctx, name)
	if err != nil {
		return forecast.Forecast{}, err
	}
	var f forecast.Forecast
	if err := json.Unmarshal(doc, &f); err != nil {
		return forecast.Forecast{}, fmt.Errorf("campaign %s: its stored forecast: %w", name, err)
	}
	return f, nil
}

// RefreshForecasts forecasts every running or paused campaign whose
// stored forecast is older than maxAge (or missing), with the default
// options but for o's Seed, and stores it: what
// a node does in the background, so that reports read a recent forecast
// rather than wait for one (a national campaign's takes tens of
// seconds). It returns the campaigns forecast; a campaign that fails is
// logged by the caller from the error, the others still forecast.
func (s *Service) RefreshForecasts(ctx context.Context, maxAge time.Duration, seed uint64) ([]string, error) {
	o := DefaultForecast
	o.Seed = seed
	list, err := s.store.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, c := range list {
		if c.Status != orchestrator.StatusRunning && c.Status != orchestrator.StatusPaused {
			continue
		}
		made, _, err := s.store.LatestForecast(ctx, c.Name)
		switch {
		case err == nil && s.now().Sub(made) < maxAge:
			continue // recent enough (made here, or by another node)
		case err != nil && !errors.Is(err, errkind.NotFound):
			errs = append(errs, err)
			continue
		}
		if _, err := s.Forecast(ctx, c.Name, o); err != nil {
			if ctx.Err() != nil {
				return done, ctx.Err()
			}
			errs = append(errs, err)
			continue
		}
		done = append(done, c.Name)
	}
	return done, errors.Join(errs...)
}

// transitionPage is how many transitions a forecast reads at a time.
const transitionPage = 5000

// learn reads what the campaign's device runs have been so far: each run's
// duration (from running to its outcome), which failed (counting towards a
// halt or not), found nothing to do, or found the device unreachable, on
// its first attempt or a retry; per organisation and for the whole
// campaign. With enough above 0 it stops once the campaign has that many
// runs. It also says what it saw of the runs themselves.
func (s *Service) learn(ctx context.Context, name string, enough int) (forecast.Model, seen, error) {
	type device struct {
		org     string
		started time.Time // the run going on, if any
		offline bool      // an earlier attempt found it unreachable
	}
	devices := map[string]device{} // devices with a run going on or a deferral behind them
	orgs := map[string]*forecast.Profile{}
	seen := seen{running: map[string][]time.Time{}, finished: map[string]time.Time{}}
	var all forecast.Profile
	var after int64
	for {
		page, err := s.store.TransitionsAfter(ctx, name, after, nil, transitionPage)
		if err != nil {
			return forecast.Model{}, seen, err
		}
		for _, t := range page {
			after = t.ID
			if t.To.Final() && t.At.After(seen.finished[t.Org]) {
				seen.finished[t.Org] = t.At
			}
			d := devices[t.Hostname]
			switch {
			case t.To == orchestrator.DeviceRunning && t.From != orchestrator.DeviceRunning:
				d.started, d.org = t.At, t.Org // a run begins (a resumed one goes on: its start stands)
				devices[t.Hostname] = d
				continue
			case t.From != orchestrator.DeviceRunning || t.To == orchestrator.DeviceRunning || d.started.IsZero():
				continue
			case t.To != orchestrator.DeviceDeferred && !t.To.Final():
				// The run was lost (its lease lapsed, queued again): it says
				// nothing of how runs end.
				d.started = time.Time{}
				devices[t.Hostname] = d
				continue
			}
			p := orgs[t.Org]
			if p == nil {
				p = &forecast.Profile{}
				orgs[t.Org] = p
			}
			for _, p := range []*forecast.Profile{p, &all} {
				observe(p, t, t.At.Sub(d.started), d.offline)
			}
			if t.To == orchestrator.DeviceDeferred {
				devices[t.Hostname] = device{org: t.Org, offline: true}
			} else {
				delete(devices, t.Hostname)
			}
		}
		if len(page) < transitionPage || (enough > 0 && all.Runs() >= enough) {
			break
		}
	}
	m := forecast.Model{Orgs: map[string]forecast.Profile{}}
	for org, p := range orgs {
		p.Source = fmt.Sprintf("this campaign, %s (%d runs)", org, p.Runs())
		m.Orgs[org] = *p
	}
	all.Source = fmt.Sprintf("this campaign (%d runs)", all.Runs())
	m.Campaign = all
	for _, d := range devices {
		if !d.started.IsZero() {
			seen.running[d.org] = append(seen.running[d.org], d.started)
		}
	}
	return m, seen, nil
}

// seen is what learn saw of a campaign's runs besides its profiles.
type seen struct {
	running  map[string][]time.Time // by organisation: when the runs still going began
	finished map[string]time.Time   // by organisation: its latest outcome
}

// observe adds one run, which took took and ended as t says, to p.
func observe(p *forecast.Profile, t orchestrator.Transition, took time.Duration, wasOffline bool) {
	offline := t.To == orchestrator.DeviceDeferred
	if wasOffline {
		p.Reoffline.Trials++
		if offline {
			p.Reoffline.Events++
		}
	} else {
		p.Offline.Trials++
		if offline {
			p.Offline.Events++
		}
	}
	if offline {
		return // an unreachable attempt says nothing of a run
	}
	p.Failure.Trials++
	p.Uncounted.Trials++
	p.Skipped.Trials++
	switch {
	case t.To == orchestrator.DeviceSkipped:
		p.Skipped.Events++
		p.SkipDurations = append(p.SkipDurations, took)
		return
	case orchestrator.CountsAsFailure(t.To, t.Reason):
		p.Failure.Events++
	case t.To == orchestrator.DeviceFailed:
		p.Uncounted.Events++
	}
	p.Durations = append(p.Durations, took)
}

// earlierRuns is how many runs of an earlier campaign are read: enough
// for its rates, and a forecast of a new campaign does not read a
// national campaign's millions of transitions.
const earlierRuns = 5000

// earlier learns from the latest other campaign of the same playbook that
// ran enough devices, for a campaign that has not yet; else the stated
// defaults.
func (s *Service) earlier(ctx context.Context, c orchestrator.Campaign, playbook string) (forecast.Profile, error) {
	list, err := s.store.Campaigns(ctx)
	if err != nil {
		return forecast.Profile{}, err
	}
	for i := len(list) - 1; i >= 0; i-- { // newest first
		o := list[i]
		if o.Name == c.Name {
			continue
		}
		spec, err := orchestrator.ParseSpec(o.SpecFile, []byte(o.Spec))
		if err != nil || spec.Playbook != playbook {
			continue
		}
		m, _, err := s.learn(ctx, o.Name, earlierRuns)
		if err != nil {
			return forecast.Profile{}, err
		}
		if m.Campaign.Runs() >= 30 {
			p := m.Campaign
			p.Source = fmt.Sprintf("campaign %s of the same playbook (%d runs)", o.Name, p.Runs())
			return p, nil
		}
	}
	return forecast.DefaultProfile(), nil
}

// AlertForecast is the forecast of an alert's remediation campaign.
type AlertForecast struct {
	Alert    string            `json:"alert"`
	Campaign string            `json:"campaign"`
	Forecast forecast.Forecast `json:"forecast"`
}

// ForecastAlert forecasts the remediation of the alert id: its latest
// campaign not cancelled (exposed_to id), against its deadline (the end of
// the alert's deadline day, as the campaign has it). An alert without one
// is an error wrapping errkind.NotFound that says how to make one.
func (s *Service) ForecastAlert(ctx context.Context, id string, o ForecastOptions) (AlertForecast, error) {
	list, err := s.store.Campaigns(ctx)
	if err != nil {
		return AlertForecast{}, err
	}
	for i := len(list) - 1; i >= 0; i-- { // newest first
		c := list[i]
		if c.Status == orchestrator.StatusCancelled {
			continue
		}
		spec, err := orchestrator.ParseSpec(c.SpecFile, []byte(c.Spec))
		if err != nil || spec.ExposedTo != id {
			continue
		}
		f, err := s.Forecast(ctx, c.Name, o)
		if err != nil {
			return AlertForecast{}, err
		}
		return AlertForecast{Alert: id, Campaign: c.Name, Forecast: f}, nil
	}
	return AlertForecast{}, fmt.Errorf("alert %s has no remediation campaign to forecast (ringmaster alert remediate %s): %w", id, id, errkind.NotFound)
}
