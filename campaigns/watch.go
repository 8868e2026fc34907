package campaigns

import (
	"context"
	"time"
)

// Clock is the time Watch measures throughput on and waits with.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// Progress is one live campaign as a round of Watch found it.
type Progress struct {
	Detail
	Finished, Total int           // devices done (succeeded, failed, skipped) and in all
	PerMinute       float64       // devices finished a minute, over the last five minutes
	ETA             time.Duration // at that pace, until all are finished (0: unknown, or waiting for a person)
	// WaitingFor is, while it waits for a person, the command that moves
	// it on (Detail.Next): its ETA is that, not a time.
	WaitingFor string
	// NewlyWaiting: it waits for a person, for a reason not reported in
	// an earlier round.
	NewlyWaiting bool
}

// Round is what one look at the live (running or paused) campaigns found.
type Round struct {
	Campaigns []Progress
	Active    int      // live campaigns that can go on without a person
	Waiting   []string // live campaigns that wait for a person (a halted wave, an approval)
}

// WatchOptions say how often Watch looks, what it tells, and when it stops.
type WatchOptions struct {
	Clock Clock
	Every time.Duration // between rounds; default a second
	// UntilDone stops the watch once no live campaign can go on without a
	// person; otherwise it goes on until ctx ends.
	UntilDone bool
	Round     func(Round) // called after every round
	// Stopped is called when the last active campaign stops being so
	// (the snapshotter then renews the daily history).
	Stopped func()
}

// Watch looks at the live campaigns every o.Every and hands each round to
// o.Round, until ctx ends (a nil error) or, with UntilDone, nothing can
// go on without a person.
func (s *Service) Watch(ctx context.Context, o WatchOptions) error {
	every := o.Every
	if every <= 0 {
		every = time.Second
	}
	rates := map[string]*rate{}
	waiting := map[string]string{} // what waits for a person, by campaign, as last reported
	wasActive := false
	for {
		r, err := s.round(ctx, o.Clock.Now(), rates, waiting)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if o.Round != nil {
			o.Round(r)
		}
		if r.Active == 0 && wasActive && o.Stopped != nil {
			o.Stopped()
		}
		wasActive = r.Active > 0
		if o.UntilDone && r.Active == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-o.Clock.After(every):
		}
	}
}

// round looks at every live campaign once.
func (s *Service) round(ctx context.Context, now time.Time, rates map[string]*rate, waiting map[string]string) (Round, error) {
	var r Round
	cs, err := s.Campaigns(ctx)
	if err != nil {
		return r, err
	}
	for _, c := range cs {
		if !c.Status.Live() {
			continue
		}
		sh, err := s.Describe(ctx, c)
		if err != nil {
			return r, err
		}
		p := Progress{Detail: sh}
		// Waiting once the controller has applied what it decides (a halt
		// is in the store), so that a watch ending here leaves show
		// saying what it said.
		if sh.NeedsPerson && sh.Settled {
			r.Waiting = append(r.Waiting, c.Name)
			if waiting[c.Name] != sh.WaitsFor {
				waiting[c.Name] = sh.WaitsFor
				p.NewlyWaiting = true
			}
		} else {
			r.Active++
			delete(waiting, c.Name)
		}
		rt := rates[c.Name]
		if rt == nil {
			rt = &rate{}
			rates[c.Name] = rt
		}
		p.Finished = sh.States["succeeded"] + sh.States["failed"] + sh.States["skipped"]
		for _, n := range sh.States {
			p.Total += n
		}
		p.PerMinute, p.ETA = rt.update(now, p.Finished, p.Total-p.Finished)
		if sh.NeedsPerson {
			p.ETA, p.WaitingFor = 0, sh.Next
		}
		r.Campaigns = append(r.Campaigns, p)
	}
	return r, nil
}

// rate estimates throughput over the last five minutes.
type rate struct {
	samples []sample
}

type sample struct {
	at       time.Time
	finished int
}

func (r *rate) update(now time.Time, finished, left int) (perMin float64, eta time.Duration) {
	r.samples = append(r.samples, sample{now, finished})
	for len(r.samples) > 1 && now.Sub(r.samples[0].at) > 5*time.Minute {
		r.samples = r.samples[1:]
	}
	first := r.samples[0]
	if d := now.Sub(first.at); d > 0 && finished > first.finished {
		perMin = float64(finished-first.finished) / d.Minutes()
		eta = time.Duration(float64(left) / perMin * float64(time.Minute))
	}
	return perMin, eta
}
