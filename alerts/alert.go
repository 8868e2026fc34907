// Package alerts owns High Severity Alerts: what an alert requires of each
// OS build (any one of its updates, or a later one that supersedes it), and
// whether a device, as observed, complies. It knows nothing of storage: it
// declares the contract every alert store implements (Store, in store.go),
// and store/sqlite implements it.
package alerts

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ringmaster-fleet/ringmaster/internal/yamlfile"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Alert is a High Severity Alert as published.
type Alert struct {
	File  string `yaml:"-"`
	ID    string `yaml:"id"`
	Title string `yaml:"title"`
	// Issued and Deadline are dates (YYYY-MM-DD, UTC).
	Issued   string `yaml:"issued"`
	Deadline string `yaml:"deadline"`
	// Remediation maps an OS build (e.g. 10.0.18363) to the updates that
	// fix it there: any one of them suffices (a rollup or a security-only
	// update). Builds not listed are not affected.
	Remediation map[string][]string `yaml:"remediation"`
	// Supersedence maps an update to later ones that include it: a later
	// cumulative update satisfies an earlier one (followed transitively).
	Supersedence map[string][]string `yaml:"supersedence"`

	issued, deadline time.Time
	// satisfying caches Satisfying per build (filled by Parse).
	satisfying map[string][]string
}

var (
	idRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	kbRE    = regexp.MustCompile(`^KB\d{6,8}$`)
	buildRE = regexp.MustCompile(`^\d+\.\d+\.\d+$`)
)

// Limits on an alert's lists. Real alerts name a few tens of builds and a
// few tens of updates per build; the limits are far above that and far
// below what would make storing an alert, or checking devices against it,
// take more than seconds. A file over one is refused with its line.
const (
	MaxBuilds         = 1_000  // builds under remediation
	MaxKBsPerBuild    = 10_000 // updates named for one build
	MaxSuperseded     = 10_000 // updates under supersedence
	MaxSupersedingPer = 1_000  // later updates named for one update
	// MaxSatisfyingWork bounds the steps of following supersedence from
	// every build's updates (a few tens of thousands in a real alert).
	MaxSatisfyingWork = 2_000_000
)

// maxProblems is the most problems one error lists: a file with a
// thousand bad entries gets a readable error, not a thousand lines.
const maxProblems = 50

// IssuedAt is the issue date, parsed.
func (a *Alert) IssuedAt() time.Time { return a.issued }

// DeadlineAt is the deadline, parsed.
func (a *Alert) DeadlineAt() time.Time { return a.deadline }

// Parse reads and validates an alert file; every problem is reported with
// its line.
func Parse(file string, data []byte) (*Alert, error) {
	return ParseContext(context.Background(), file, data)
}

// ParseContext is Parse that gives up, returning ctx's error, once ctx is
// done: a large alert takes a while to check.
func ParseContext(ctx context.Context, file string, data []byte) (*Alert, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var a Alert
	// One past the largest list an alert may hold, so that the limits below
	// give their own messages.
	root, err := yamlfile.DecodeLimit("alert", file, data, &a, max(MaxBuilds, MaxKBsPerBuild, MaxSuperseded, MaxSupersedingPer)+1)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a.File = file
	var ps []yamlfile.Problem
	at := func(line int, format string, args ...any) {
		ps = append(ps, yamlfile.Problem{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	add := func(key, format string, args ...any) { at(yamlfile.KeyLine(root, key), format, args...) }
	if !idRE.MatchString(a.ID) {
		add("id", "id %q: want letters, digits, '.', '-' or '_' (e.g. HSA-2019-0042)", a.ID)
	}
	if strings.TrimSpace(a.Title) == "" {
		add("title", "title is required")
	}
	if a.issued, err = time.Parse(time.DateOnly, a.Issued); err != nil {
		add("issued", "issued %q is not a date such as 2019-08-13", a.Issued)
	}
	if a.deadline, err = time.Parse(time.DateOnly, a.Deadline); err != nil {
		add("deadline", "deadline %q is not a date such as 2019-08-27", a.Deadline)
	} else if !a.issued.IsZero() && a.deadline.Before(a.issued) {
		add("deadline", "deadline %s is before the issue date %s", a.Deadline, a.Issued)
	}
	rem := entries(yamlfile.Value(root, "remediation"))
	switch {
	case len(a.Remediation) == 0:
		add("remediation", "remediation must name the updates for at least one build")
	case len(a.Remediation) > MaxBuilds:
		add("remediation", "remediation names %d builds; at most %d are allowed", len(a.Remediation), MaxBuilds)
	default:
		n := 0
		for build, kbs := range a.Remediation {
			if n++; n%64 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			e := rem[build]
			if !buildRE.MatchString(build) {
				at(e.line(), "remediation: %q is not a build such as 10.0.18363", build)
			}
			switch {
			case len(kbs) == 0:
				at(e.line(), "remediation %s: no update named", build)
			case len(kbs) > MaxKBsPerBuild:
				at(e.line(), "remediation %s: %d updates named; at most %d are allowed per build", build, len(kbs), MaxKBsPerBuild)
			default:
				for i, kb := range kbs {
					if !kbRE.MatchString(kb) {
						at(e.item(i), "remediation %s: %q is not an update such as KB4512508", build, kb)
					}
				}
			}
		}
	}
	sup := entries(yamlfile.Value(root, "supersedence"))
	if len(a.Supersedence) > MaxSuperseded {
		add("supersedence", "supersedence names %d updates; at most %d are allowed", len(a.Supersedence), MaxSuperseded)
	} else {
		n := 0
		for kb, later := range a.Supersedence {
			if n++; n%64 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			e := sup[kb]
			if !kbRE.MatchString(kb) {
				at(e.line(), "supersedence: %q is not an update such as KB4517389", kb)
			}
			if len(later) > MaxSupersedingPer {
				at(e.line(), "supersedence %s: %d later updates named; at most %d are allowed per update", kb, len(later), MaxSupersedingPer)
				continue
			}
			for i, k := range later {
				if !kbRE.MatchString(k) {
					at(e.item(i), "supersedence: %q is not an update such as KB4517389", k)
				}
			}
		}
	}
	if len(ps) > 0 {
		slices.SortStableFunc(ps, func(x, y yamlfile.Problem) int { return x.Line - y.Line })
		if len(ps) > maxProblems {
			more := len(ps) - maxProblems
			ps = append(ps[:maxProblems], yamlfile.Problem{File: file, Line: ps[maxProblems].Line,
				Msg: fmt.Sprintf("and %d more problems", more)})
		}
		return nil, &yamlfile.Error{What: "alert", Problems: ps}
	}
	// Every build's satisfying updates, computed once: what checking a
	// device reads. Bounded, so that supersedence fanning out from many
	// builds cannot make a small file take minutes or gigabytes.
	a.satisfying = make(map[string][]string, len(a.Remediation))
	work := 0
	for build := range a.Remediation {
		sat, steps, done := a.closure(ctx, build, MaxSatisfyingWork-work)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if work += steps; !done {
			add("supersedence", "following supersedence from every build's updates takes more than %d steps: too large an alert", MaxSatisfyingWork)
			return nil, &yamlfile.Error{What: "alert", Problems: ps}
		}
		a.satisfying[build] = sat
	}
	return &a, nil
}

// entry is a mapping entry's key and value nodes, for lines.
type entry struct{ key, value *yaml.Node }

// entries indexes a mapping node's entries by key, so that finding each
// key's line costs the same however many there are.
func entries(n *yaml.Node) map[string]entry {
	out := map[string]entry{}
	if n == nil || n.Kind != yaml.MappingNode {
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		out[n.Content[i].Value] = entry{n.Content[i], n.Content[i+1]}
	}
	return out
}

// line is the key's line (1 when unknown).
func (e entry) line() int {
	if e.key == nil {
		return 1
	}
	return e.key.Line
}

// item is the line of the value's i-th item, or the key's.
func (e entry) item(i int) int {
	if e.value != nil && e.value.Kind == yaml.SequenceNode && i < len(e.value.Content) {
		return e.value.Content[i].Line
	}
	return e.line()
}

// Marshal renders the alert as YAML (for storage).
func (a *Alert) Marshal() ([]byte, error) { return yaml.Marshal(a) }

// Satisfying returns every update that remediates build: those the alert
// names and, transitively, those that supersede them. Nil means the build
// is not affected.
func (a *Alert) Satisfying(build string) []string {
	if sat, ok := a.satisfying[build]; ok {
		return sat
	}
	sat, _, _ := a.closure(context.Background(), build, -1)
	return sat
}

// closure follows supersedence from build's updates, as Satisfying, giving
// up after budget steps (a step is an update taken from the queue; a
// negative budget has no limit) or once ctx is done. It returns the
// updates, the steps taken and whether it finished.
func (a *Alert) closure(ctx context.Context, build string, budget int) ([]string, int, bool) {
	base, ok := a.Remediation[build]
	if !ok {
		return nil, 0, true
	}
	seen := map[string]bool{}
	queue := slices.Clone(base)
	steps := 0
	for ; len(queue) > 0; steps++ {
		if steps == budget || steps%4096 == 4095 && ctx.Err() != nil {
			return nil, steps, false
		}
		kb := queue[0]
		queue = queue[1:]
		if seen[kb] {
			continue
		}
		seen[kb] = true
		queue = append(queue, a.Supersedence[kb]...)
	}
	out := make([]string, 0, len(seen))
	for kb := range seen {
		out = append(out, kb)
	}
	slices.Sort(out)
	return out, steps, true
}

// Standing is how a device stands against an alert.
type Standing string

// Standings.
const (
	NotAffected Standing = "not_affected" // its build is not in the alert
	Compliant   Standing = "compliant"    // it has a satisfying update
	Exposed     Standing = "exposed"      // affected and not remediated
	Unknown     Standing = "unknown"      // build or updates never observed
)

// Check says how a device, as observed, stands against the alert.
func (a *Alert) Check(d *inventory.Device) Standing {
	c := inventory.CohortOf(d)
	return a.CheckCohort(&c)
}

// CheckCohort says how devices alike (a cohort) stand against the alert.
func (a *Alert) CheckCohort(c *inventory.Cohort) Standing {
	if c.Build.IsZero() {
		return Unknown
	}
	sat := a.Satisfying(c.Build.String())
	if sat == nil {
		return NotAffected
	}
	if !c.KBsKnown {
		return Unknown
	}
	for _, kb := range c.KBs {
		if _, found := slices.BinarySearch(sat, strings.ToUpper(kb)); found {
			return Compliant
		}
	}
	return Exposed
}

// Builds lists the builds the alert names, sorted as text: the order in
// which its remediation is shown.
func (a *Alert) Builds() []string {
	return slices.Sorted(maps.Keys(a.Remediation))
}

// KBs lists every update the alert names (remediating or superseding),
// sorted: those whose presence decides compliance.
func (a *Alert) KBs() []string {
	var out []string
	for _, kbs := range a.Remediation {
		out = append(out, kbs...)
	}
	for kb, later := range a.Supersedence {
		out = append(append(out, kb), later...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Required lists the alert as BUILD=KB pairs, the first update named per
// build, in build order: the parameter the hsa-remediate playbook takes.
func (a *Alert) Required() []string {
	var out []string
	for build, kbs := range a.Remediation {
		if len(kbs) > 0 {
			out = append(out, build+"="+kbs[0])
		}
	}
	slices.Sort(out)
	return out
}
