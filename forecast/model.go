package forecast

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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
	// Uncounted is the runs that failed in a way that does not count
	// towards a halt (a refused logon, an ineligible device), of runs
	// that reached the device.
	Uncounted Rate
	// Skipped is the runs that found nothing to do (already compliant),
	// of runs that reached the device; SkipDurations are theirs.
	Skipped       Rate
	SkipDurations []time.Duration
	// Stated marks figures assumed rather than observed: their spread is
	// wider.
	Stated bool
	// Offline is the first attempts that found the device unreachable.
	Offline Rate
	// Reoffline is the retries of once-unreachable devices that found
	// them unreachable again.
	Reoffline Rate
	// Source says what it was learned from, for the report.
	Source string
	// smooth is the spread a drawn duration is jittered by (censored sets
	// it; see bandwidth).
	smooth float64
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
	// wave that awaits approval (zero: at once).
	ApprovalDelay time.Duration
}

// DefaultProfile is what a forecast assumes before a campaign has run
// enough devices: runs of 30 to 90 minutes (a feature update's range),
// 2% failing, 5% of devices unreachable at first and half of those again
// on each retry. The rates weigh as a few dozen runs, and the durations'
// spread is wide: they are guesses, soon outweighed by what is observed.
func DefaultProfile() Profile {
	var d []time.Duration
	for m := 30; m <= 90; m += 5 {
		d = append(d, time.Duration(m)*time.Minute)
	}
	return Profile{Durations: d, Failure: Rate{1, 50}, Offline: Rate{2, 40}, Reoffline: Rate{10, 20}, Skipped: Rate{0, 20},
		Uncounted: Rate{0, 50}, Stated: true, Source: "defaults (no runs observed yet)"}
}

// For returns the profile org's runs are drawn from.
func (m *Model) For(org string) Profile {
	p, _, _ := m.resolve(org)
	return p
}

// resolve returns the profile org's runs are drawn from, which profile it
// is ("org:CODE", "campaign" or "default": organisations sharing one draw
// it once per run, so that its doubt is shared, not averaged away), and
// the prior its rates are drawn near: the campaign's for an
// organisation's own, the defaults' for the campaign's.
func (m *Model) resolve(org string) (p Profile, key string, prior Profile) {
	need := m.MinRuns
	if need <= 0 {
		need = 30
	}
	def := m.Default
	if len(def.Durations) == 0 {
		def = DefaultProfile()
	}
	campaignOK := m.Campaign.Runs() >= need && len(m.Campaign.Durations) > 0
	if p, ok := m.Orgs[org]; ok && p.Runs() >= need && len(p.Durations) > 0 {
		if campaignOK {
			return p, "org:" + org, m.Campaign
		}
		return p, "org:" + org, def
	}
	if campaignOK {
		return m.Campaign, "campaign", def
	}
	return def, "default", def
}

// ownWeight is how many runs weigh as much as the shared profile in an
// organisation's lean towards its own (Model.lean).
const ownWeight = 10

// lean is the factor on the durations an organisation draws from a
// profile it shares (key "campaign"), towards its own runs, too few for a
// profile of their own: an organisation of older machines upgrades
// slower than the campaign's mix, and its first runs say so before they
// are many. Its own mean over the campaign's, weighed n/(n+ownWeight) by
// its n runs (partial pooling); 1 for any other profile. The note says so
// in its learned-from.
func (m *Model) lean(org, key string) (float64, string) {
	own := m.Orgs[org].Durations
	if key != "campaign" || len(own) == 0 || len(m.Campaign.Durations) == 0 {
		return 1, ""
	}
	mean := func(d []time.Duration) float64 {
		var sum float64
		for _, x := range d {
			sum += float64(x)
		}
		return sum / float64(len(d))
	}
	all := mean(m.Campaign.Durations)
	if all <= 0 {
		return 1, ""
	}
	w := float64(len(own)) / float64(len(own)+ownWeight)
	f := 1 + w*(mean(own)/all-1)
	return f, fmt.Sprintf(", leaning %.0f%% towards its own %d runs (durations x%.2f)", 100*w, len(own), f)
}

// draws are one run's draw of a profile.
type draws struct {
	durations, skipDurations          []time.Duration
	scale                             float64 // this run's factor on every duration
	smooth                            float64 // the standard deviation of a log-normal jitter on each duration drawn
	fail, uncounted, skip, off, reoff float64
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
	sd := cv / math.Sqrt(n)
	if p.Stated {
		sd = max(sd, 0.25) // a guess at the typical run, not a measure of it
	}
	scale := max(0.2, 1+sd*rng.NormFloat64())
	skips := p.SkipDurations
	if len(skips) == 0 {
		skips = p.Durations
	}
	return draws{durations: p.Durations, skipDurations: skips, scale: scale, smooth: p.smooth, fail: p.Failure.draw(rng, prior.Failure.frac()),
		uncounted: p.Uncounted.draw(rng, prior.Uncounted.frac()), skip: p.Skipped.draw(rng, prior.Skipped.frac()),
		off: p.Offline.draw(rng, prior.Offline.frac()), reoff: p.Reoffline.draw(rng, prior.Reoffline.frac())}
}

// duration draws a run's duration, longer than after.
func (d *draws) duration(rng *rand.Rand, after time.Duration) time.Duration {
	return d.longer(rng, d.durations, after)
}

// skipDuration draws the duration of a run that finds nothing to do,
// longer than after.
func (d *draws) skipDuration(rng *rand.Rand, after time.Duration) time.Duration {
	return d.longer(rng, d.skipDurations, after)
}

// longer draws from pool (sorted; scaled), longer than after: among
// those longer, at random, jittered (a smoothed bootstrap: a run can take
// a little more or less than any observed, so that a few hundred runs do
// not bound the last device's finish); if none is longer, the run has
// gone on longer than any observed, and it goes on for up to as long
// again (what has run long tends to run long).
func (d *draws) longer(rng *rand.Rand, pool []time.Duration, after time.Duration) time.Duration {
	k := 0
	if after > 0 {
		limit := time.Duration(float64(after) / d.scale)
		k, _ = slices.BinarySearch(pool, limit+1)
		for k < len(pool) && time.Duration(float64(pool[k])*d.scale) <= after {
			k++ // the scaled value rounds to after or below
		}
	}
	if k == len(pool) {
		return after + time.Duration(rng.Float64()*float64(after))
	}
	x := time.Duration(float64(pool[k+rng.IntN(len(pool)-k)]) * d.scale)
	if d.smooth > 0 {
		if y := time.Duration(float64(x) * math.Exp(d.smooth*rng.NormFloat64())); y > after {
			x = y
		}
	}
	return x
}

// bandwidth is the jitter for drawing from sorted durations: Silverman's
// rule of thumb over their logarithms, 0.9 min(sd, IQR/1.34) n^-1/5 (the
// spread of a kernel density estimate of their distribution; 0 when
// they are all one).
func bandwidth(sorted []time.Duration) float64 {
	var logs []float64
	for _, d := range sorted {
		if d > 0 {
			logs = append(logs, math.Log(float64(d)))
		}
	}
	n := float64(len(logs))
	if n < 2 {
		return 0
	}
	var sum, sq float64
	for _, x := range logs {
		sum += x
		sq += x * x
	}
	sd := math.Sqrt(max(0, sq/n-(sum/n)*(sum/n)))
	iqr := logs[int(0.75*(n-1))] - logs[int(0.25*(n-1))]
	spread := sd
	if iqr > 0 {
		spread = min(sd, iqr/1.34)
	}
	return 0.9 * spread * math.Pow(n, -0.2)
}

// censored returns p with its durations weighed for the runs still going,
// which have run for elapsed so far: each adds the median of the observed
// durations longer than its elapsed (when none is longer, half as long
// again: the middle of what longer draws for it), as the
// product-limit estimate redistributes a censored run to those beyond it.
// Without them, a young campaign's durations are those of its short runs:
// the long ones have not finished yet. Its durations come back sorted
// (draws.longer searches them).
func (p Profile) censored(elapsed []time.Duration) Profile {
	sorted := slices.Sorted(slices.Values(p.Durations))
	p.SkipDurations = slices.Sorted(slices.Values(p.SkipDurations))
	if len(sorted) == 0 {
		p.Durations, p.smooth = sorted, 0
		return p
	}
	out := slices.Clone(sorted)
	for _, e := range elapsed {
		k, _ := slices.BinarySearch(sorted, e+1)
		if k == len(sorted) {
			out = append(out, e+e/2)
			continue
		}
		out = append(out, sorted[k+(len(sorted)-k)/2])
	}
	slices.Sort(out)
	p.Durations = out
	p.smooth = bandwidth(out)
	return p
}

// describe says what a profile is, in a few words.
func (p Profile) describe() string {
	if p.Source != "" {
		return p.Source
	}
	return fmt.Sprintf("%d runs", p.Runs())
}
