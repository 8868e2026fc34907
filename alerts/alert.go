// Package alerts owns High Severity Alerts: what an alert requires of each
// OS build (any one of its updates, or a later one that supersedes it), and
// whether a device, as observed, complies. It knows nothing of storage.
package alerts

import (
	"fmt"
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

// IssuedAt and DeadlineAt are the parsed dates.
func (a *Alert) IssuedAt() time.Time   { return a.issued }
func (a *Alert) DeadlineAt() time.Time { return a.deadline }

// Parse reads and validates an alert file; every problem is reported with
// its line.
func Parse(file string, data []byte) (*Alert, error) {
	var a Alert
	root, err := yamlfile.Decode("alert", file, data, &a)
	if err != nil {
		return nil, err
	}
	a.File = file
	var ps []yamlfile.Problem
	add := func(key, format string, args ...any) {
		ps = append(ps, yamlfile.Problem{File: file, Line: yamlfile.KeyLine(root, key), Msg: fmt.Sprintf(format, args...)})
	}
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
	rem := yamlfile.Value(root, "remediation")
	if len(a.Remediation) == 0 {
		add("remediation", "remediation must name the updates for at least one build")
	}
	for build, kbs := range a.Remediation {
		line := yamlfile.KeyLine(rem, build)
		if !buildRE.MatchString(build) {
			ps = append(ps, yamlfile.Problem{File: file, Line: line, Msg: fmt.Sprintf("remediation: %q is not a build such as 10.0.18363", build)})
		}
		if len(kbs) == 0 {
			ps = append(ps, yamlfile.Problem{File: file, Line: line, Msg: fmt.Sprintf("remediation %s: no update named", build)})
		}
		for _, kb := range kbs {
			if !kbRE.MatchString(kb) {
				ps = append(ps, yamlfile.Problem{File: file, Line: line, Msg: fmt.Sprintf("remediation %s: %q is not an update such as KB4512508", build, kb)})
			}
		}
	}
	sup := yamlfile.Value(root, "supersedence")
	for kb, later := range a.Supersedence {
		for _, k := range append([]string{kb}, later...) {
			if !kbRE.MatchString(k) {
				ps = append(ps, yamlfile.Problem{File: file, Line: yamlfile.KeyLine(sup, kb), Msg: fmt.Sprintf("supersedence: %q is not an update such as KB4517389", k)})
			}
		}
	}
	if len(ps) > 0 {
		slices.SortStableFunc(ps, func(x, y yamlfile.Problem) int { return x.Line - y.Line })
		return nil, &yamlfile.Error{What: "alert", Problems: ps}
	}
	a.satisfying = map[string][]string{}
	for build := range a.Remediation {
		a.satisfying[build] = a.Satisfying(build)
	}
	return &a, nil
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
	base, ok := a.Remediation[build]
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	queue := slices.Clone(base)
	for len(queue) > 0 {
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
	return out
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
