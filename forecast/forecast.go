package forecast

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// Quantiles are a finish time's spread over a forecast's runs. A zero
// time is "not finishing": within the horizon, by the deadline, or
// without a person acting.
type Quantiles struct {
	P10 time.Time `json:"p10,omitzero"`
	P50 time.Time `json:"p50,omitzero"`
	P90 time.Time `json:"p90,omitzero"`
	// Unfinished is the share of runs in which it did not finish.
	Unfinished float64 `json:"unfinished"`
}

func quantiles(ts []time.Time) Quantiles {
	var fin []time.Time
	for _, t := range ts {
		if !t.IsZero() {
			fin = append(fin, t)
		}
	}
	sortTimes(fin)
	n := len(ts)
	q := Quantiles{Unfinished: float64(n-len(fin)) / float64(max(n, 1))}
	at := func(p float64) time.Time {
		// The unfinished runs sort last (after every finish).
		i := int(p * float64(n-1))
		if i >= len(fin) {
			return time.Time{}
		}
		return fin[i]
	}
	// To the second: a forecast's precision is far coarser.
	q.P10, q.P50, q.P90 = at(0.1).Truncate(time.Second), at(0.5).Truncate(time.Second), at(0.9).Truncate(time.Second)
	return q
}

// Wave is one wave's forecast.
type Wave struct {
	Name   string    `json:"name"`
	Finish Quantiles `json:"finish"`
}

// Org is one organisation's forecast.
type Org struct {
	Org     string    `json:"org"`
	Devices int       `json:"devices"`
	Finish  Quantiles `json:"finish"`
	// Failed, Unreachable and NotReached are the devices expected (the
	// mean over runs) to be left failed, unreachable (deferred) and never
	// started at the end: by the deadline, or when the campaign ends.
	Failed      float64 `json:"failed"`
	Unreachable float64 `json:"unreachable"`
	NotReached  float64 `json:"not_reached"`
	// Halted is the share of runs in which its failures held it.
	Halted float64 `json:"halted"`
	// LearnedFrom says what its device runs were drawn from.
	LearnedFrom string `json:"learned_from"`
	// NotDoneByDeadline is the devices expected not to be done
	// (succeeded or skipped) at the campaign's deadline: failed,
	// unreachable, never started, or finishing after it.
	NotDoneByDeadline float64 `json:"not_done_by_deadline,omitempty"`
	// LateAtDeadline is those of them the schedule leaves undone (not
	// started, not finished, or waiting to be tried again), not failed:
	// what a wider window or a higher cap can change.
	LateAtDeadline float64 `json:"late_at_deadline,omitempty"`
	// MissesDeadline: in at least half the runs some of its devices are
	// late at the campaign's deadline.
	MissesDeadline bool `json:"misses_deadline,omitempty"`
}

// Forecast is a campaign's forecast.
type Forecast struct {
	From     time.Time `json:"from"`
	Runs     int       `json:"runs"`
	Deadline time.Time `json:"deadline,omitzero"`
	Finish   Quantiles `json:"finish"`
	Waves    []Wave    `json:"waves"`
	Orgs     []Org     `json:"orgs"`
	// WaitsForPerson is the share of runs that ended waiting for a person
	// (a halted wave), beyond the approvals assumed.
	WaitsForPerson float64 `json:"waits_for_person"`
	// ApprovalDelay is the delay assumed for each approval.
	ApprovalDelay time.Duration `json:"approval_delay_ns"`
	// Step is the replay's decision step while runs finish.
	Step time.Duration `json:"step_ns"`
	// Horizon is how far ahead it replayed: what had not finished by then
	// is not finished.
	Horizon time.Duration `json:"horizon_ns"`
	// Decisions is how many times the controller decided, over all runs.
	Decisions int `json:"decisions"`
	// LearnedFrom says what the campaign-wide figures were drawn from.
	LearnedFrom string `json:"learned_from"`
	// WhatIf are the changes forecast as if made, if any.
	WhatIf []string `json:"what_if,omitempty"`
}

// Run forecasts the campaign in: in.Runs replays, side by side on the
// machine's cores.
func Run(ctx context.Context, in Input) (Forecast, error) {
	s, err := newSetup(in)
	if err != nil {
		return Forecast{}, err
	}
	results := make([]runResult, s.in.Runs)
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), s.in.Runs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				results[i] = s.newRun(s.in.Seed + uint64(i)*0x2545f4914f6cdd1d).replay()
			}
		}()
	}
	for i := range results {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Forecast{}, err
	}
	return s.summarise(results), nil
}

func (s *setup) summarise(results []runResult) Forecast {
	n := float64(len(results))
	f := Forecast{From: s.in.Now, Runs: len(results), ApprovalDelay: s.approvalDelay(), Step: s.step, Horizon: s.in.Horizon}
	if s.spec.Deadline != nil {
		f.Deadline = s.spec.Deadline.Time
	}
	f.LearnedFrom = s.in.Model.For("").describe()
	var finishes []time.Time
	for _, r := range results {
		finishes = append(finishes, r.finish)
		f.Decisions += r.decisions
		if r.waitPerson {
			f.WaitsForPerson += 1 / n
		}
	}
	f.Finish = quantiles(finishes)
	for w, spec := range s.spec.Waves {
		var ts []time.Time
		for _, r := range results {
			ts = append(ts, r.waves[w])
		}
		f.Waves = append(f.Waves, Wave{Name: spec.Name, Finish: quantiles(ts)})
	}
	devices := make([]int, len(s.orgs))
	for _, d := range s.initial {
		devices[d.org]++
	}
	for o, org := range s.orgs {
		row := Org{Org: org, Devices: devices[o], LearnedFrom: s.profiles[o].describe() + s.leanNote[o]}
		var ts []time.Time
		late := 0
		for _, r := range results {
			row.NotDoneByDeadline += float64(r.notDone[o]) / n
			row.LateAtDeadline += float64(r.late[o]) / n
			ts = append(ts, r.orgs[o])
			row.Failed += float64(r.failed[o]) / n
			row.Unreachable += float64(r.unreach[o]) / n
			row.NotReached += float64(r.left[o]) / n
			if r.halted[o] {
				row.Halted += 1 / n
			}
			if r.late[o] > 0 {
				late++
			}
		}
		row.Finish = quantiles(ts)
		row.MissesDeadline = !f.Deadline.IsZero() && late*2 >= len(results)
		f.Orgs = append(f.Orgs, row)
	}
	sortOrgs(f.Orgs)
	return f
}
