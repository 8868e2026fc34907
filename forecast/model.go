package forecast

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Rate is how often something happened: Events out of Trials.
type Rate struct{ Events, Trials int }

// priorWeight is how many runs' worth the prior counts for: a rate seen
// over a few runs stays near the prior, one seen over hundreds is what
// was seen.
const priorWeight = 20

// frac is the plain fraction seen (0 with no trials).
func (r Rate) frac() float64 {
	if r.Trials == 0 {
		return 0
	}
	return float64(r.Events) / float64(r.Trials)
}

// draw is a plausible true rate given what was seen and a prior rate (a
// normal approximation of the Beta posterior, kept within [0, 1]): each
// run of a forecast draws its own, so that the spread of finishes
// includes how little a few runs say.
func (r Rate) draw(rng *rand.Rand, prior float64) float64 {
	n := float64(r.Trials) + priorWeight
	m := (float64(r.Events) + prior*priorWeight) / n
	sd := math.Sqrt(m * (1 - m) / (n + 1))
	return min(1, max(0, m+sd*rng.NormFloat64()))
}

// Profile is what the device runs of one organisation, or of the whole
// campaign, are drawn from.
type Profile struct {
	// Durations are observed run durations: a run that reached the device
	// (succeeded or failed), not an attempt that found it unreachable.
	Durations []time.Duration
	// Failure is the runs that failed in a way that counts towards a
	// wave's halt threshold, of runs that reached the device.
	Failure Rate
	// Offline is the first attempts that found the device unreachable.
	Offline Rate
	// Reoffline is the retries of once-unreachable devices that found
	// them unreachable again.
	Reoffline Rate
	// Source says what it was learned from, for the report.
	Source string
}

// Runs is how many runs reached a device in the profile.
func (p Profile) Runs() int { return p.Failure.Trials }

// Model is what a forecast draws device runs from.
type Model struct {
	// Orgs are each organisation's own profile, used where it has at
	// least MinRuns runs.
	Orgs map[string]Profile
	// Campaign is the whole campaign's, used for organisations with too
	// few runs of their own, where it has at least MinRuns.
	Campaign Profile
	// Default is used where neither has (a campaign just started, or a
	// draft): stated, not learned.
	Default Profile
	// MinRuns is how many runs a profile needs to be used (default 30).
	MinRuns int
	// ApprovalDelay is how long a person is assumed to take to approve a
	// wave that awaits approval (default 24 h).
	ApprovalDelay time.Duration
}

// DefaultProfile is what a forecast assumes before a campaign has run
// enough devices: runs of 30 to 90 minutes (a feature update's range),
// 2% failing, 5% of devices unreachable at first and half of those again
// on each retry.
func DefaultProfile() Profile {
	var d []time.Duration
	for m := 30; m <= 90; m += 5 {
		d = append(d, time.Duration(m)*time.Minute)
	}
	return Profile{Durations: d, Failure: Rate{2, 100}, Offline: Rate{5, 100}, Reoffline: Rate{50, 100},
		Source: "defaults (no runs observed yet)"}
}

// For returns the profile org's runs are drawn from.
func (m *Model) For(org string) Profile {
	min := m.MinRuns
	if min <= 0 {
		min = 30
	}
	if p, ok := m.Orgs[org]; ok && p.Runs() >= min && len(p.Durations) > 0 {
		return p
	}
	if m.Campaign.Runs() >= min && len(m.Campaign.Durations) > 0 {
		return m.Campaign
	}
	if len(m.Default.Durations) == 0 {
		return DefaultProfile()
	}
	return m.Default
}

// draws are one run's draw of an organisation's profile.
type draws struct {
	durations        []time.Duration
	scale            float64 // this run's factor on every duration
	fail, off, reoff float64
}

func (p Profile) draw(rng *rand.Rand, prior Profile) draws {
	// The mean duration is uncertain by its standard error: one factor
	// for every run of the organisation in this forecast run.
	var sum, sq float64
	for _, d := range p.Durations {
		f := float64(d)
		sum += f
		sq += f * f
	}
	n := float64(len(p.Durations))
	mean := sum / n
	cv := 0.0
	if mean > 0 && n > 1 {
		cv = math.Sqrt(max(0, sq/n-mean*mean)) / mean
	}
	scale := max(0.2, 1+cv/math.Sqrt(n)*rng.NormFloat64())
	return draws{durations: p.Durations, scale: scale, fail: p.Failure.draw(rng, prior.Failure.frac()),
		off: p.Offline.draw(rng, prior.Offline.frac()), reoff: p.Reoffline.draw(rng, prior.Reoffline.frac())}
}

func (d *draws) duration(rng *rand.Rand) time.Duration {
	return time.Duration(float64(d.durations[rng.IntN(len(d.durations))]) * d.scale)
}

// describe says what a profile is, in a few words.
func (p Profile) describe() string {
	if p.Source != "" {
		return p.Source
	}
	return fmt.Sprintf("%d runs", p.Runs())
}
