package orchestrator

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ringmaster-fleet/ringmaster/internal/yamlfile"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Spec is a campaign as IT ops write it: a playbook rolled out to the
// devices a selector names, in ordered waves, inside maintenance windows.
type Spec struct {
	File     string         `yaml:"-"`
	Name     string         `yaml:"name,omitempty"`
	Playbook string         `yaml:"playbook,omitempty"` // a built-in name or a file path
	Params   map[string]any `yaml:"params,omitempty"`
	Target   string         `yaml:"target,omitempty"` // selector of the campaign's devices ("" for all)
	// ExposedTo, an alert's id, keeps of the devices Target selects only
	// those observed to be exposed to that alert when the campaign is
	// created (alert remediate writes it): a remediation over every
	// exposed device of the estate, without naming each one.
	ExposedTo string     `yaml:"exposed_to,omitempty"`
	Start     *Timestamp `yaml:"start,omitempty"`
	Deadline  *Timestamp `yaml:"deadline,omitempty"`
	Windows   Windows    `yaml:"windows,omitempty"`
	// Blackout dates (YYYY-MM-DD) when nothing starts, read in each
	// organisation's time zone.
	Blackout []string `yaml:"blackout,omitempty"`
	Caps     Caps     `yaml:"caps,omitempty"`
	Defer    Defer    `yaml:"defer,omitempty"`
	Waves    []Wave   `yaml:"waves,omitempty"`

	target   inventory.Selector
	blackout map[string]bool
}

// Windows are the maintenance windows: a default and per-organisation
// overrides (by organisation code).
type Windows struct {
	Default *Window            `yaml:"default,omitempty"`
	Orgs    map[string]*Window `yaml:"orgs,omitempty"`
}

// Window is a recurring maintenance window: it opens at each time of a cron
// schedule and stays open for Duration. TimeZone (IANA) defaults to the
// organisation's.
type Window struct {
	Cron     string   `yaml:"cron,omitempty"`
	Duration Duration `yaml:"duration,omitempty"`
	TimeZone string   `yaml:"timezone,omitempty"`

	line int
}

// Caps limit how many devices run at once, whatever the waves allow.
type Caps struct {
	PerOrg  int `yaml:"per_org,omitempty"`  // 0: no cap
	PerSite int `yaml:"per_site,omitempty"` // 0: no cap; protects a site's network link
	Total   int `yaml:"total,omitempty"`    // 0: no cap
}

// Defer says how unreachable devices are retried: after Backoff, doubling
// up to MaxBackoff, for as long as the campaign lasts, or at once when the
// inventory sees the device again.
type Defer struct {
	Backoff    Duration `yaml:"backoff,omitempty"`     // default 15m
	MaxBackoff Duration `yaml:"max_backoff,omitempty"` // default 12h
}

// Approval says who lets a wave start once the previous one has soaked.
type Approval string

// Approvals.
const (
	ApprovalAuto   Approval = "auto"
	ApprovalManual Approval = "manual"
)

// Wave is one ring of a campaign.
type Wave struct {
	Line     int    `yaml:"-"`
	Name     string `yaml:"name,omitempty"`
	Selector string `yaml:"selector,omitempty"` // narrows the remaining targets ("" for any)
	// Count or Percent takes a share of the remaining targets (after the
	// selector); neither takes them all.
	Count          int     `yaml:"count,omitempty"`
	Percent        float64 `yaml:"percent,omitempty"`
	MaxConcurrency int     `yaml:"max_concurrency,omitempty"` // 0: no limit but the caps
	// MaxFailurePercent halts the wave when more than this share of its
	// devices has failed, over the whole wave and per organisation (never
	// per batch); unreachable and ineligible devices never count. Default 10.
	MaxFailurePercent *float64 `yaml:"max_failure_percent,omitempty"`
	Soak              Duration `yaml:"soak,omitempty"`     // wait after the wave before the next starts
	Approval          Approval `yaml:"approval,omitempty"` // auto (default) or manual

	selector inventory.Selector
}

// Timestamp is an RFC 3339 time in a campaign file.
type Timestamp struct {
	time.Time
	raw  string
	line int
}

// UnmarshalYAML keeps the text and line; validation reports a bad value.
func (t *Timestamp) UnmarshalYAML(n *yaml.Node) error {
	t.raw, t.line = n.Value, n.Line
	t.Time, _ = time.Parse(time.RFC3339, n.Value)
	return nil
}

// MarshalYAML writes the time as it was read, or in RFC 3339.
func (t Timestamp) MarshalYAML() (any, error) {
	if t.raw != "" {
		return t.raw, nil
	}
	return t.Format(time.RFC3339), nil
}

// Duration is a time.Duration written as "90s", "48h"; "7d" is seven days.
type Duration struct {
	time.Duration
	raw  string
	line int
}

// UnmarshalYAML keeps the text and line; validation reports a bad value.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	d.raw, d.line = n.Value, n.Line
	d.Duration, _ = parseDuration(n.Value)
	return nil
}

// MarshalYAML writes the duration as it was read, or as time.Duration
// does ("4h0m0s").
func (d Duration) MarshalYAML() (any, error) {
	if d.raw != "" {
		return d.raw, nil
	}
	return d.Duration.String(), nil
}

func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > maxDays {
			return 0, fmt.Errorf("%q is not a duration such as 90m, 48h or 7d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 90m, 48h or 7d", s)
	}
	return d, nil
}

// maxDays is the most days a Duration holds (time.Duration's range).
const maxDays = math.MaxInt64 / int(24*time.Hour)

// Limits on a campaign file's lists, far above any real campaign: they keep
// a runaway or hostile file from costing minutes of CPU (every wave is a
// pass over the targets, every selector is parsed and matched against every
// device, every blackout date can be a step of a window search) and turn
// it into a clear error at its line. Organisations with their own window,
// like any mapping, are at most yamlfile.MaxMappingKeys.
const (
	MaxWaves       = 100  // waves in a campaign
	MaxBlackouts   = 1000 // blackout dates
	MaxSelectorLen = 4096 // bytes in the target or a wave's selector
)

// Default timings.
const (
	DefaultDeferBackoff    = 15 * time.Minute
	DefaultDeferMaxBackoff = 12 * time.Hour
	// DefaultMaxFailurePercent is a wave's halt threshold when unset.
	DefaultMaxFailurePercent = 10
)

// TargetSelector is the parsed target.
func (s *Spec) TargetSelector() inventory.Selector { return s.target }

// WaveSelector is a wave's parsed selector.
func (w *Wave) WaveSelector() inventory.Selector { return w.selector }

// Blackout reports whether date (YYYY-MM-DD) is a blackout date.
func (s *Spec) IsBlackout(date string) bool { return s.blackout[date] }

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// Marshal returns the campaign file of a spec built in code (as alert
// remediate builds one), which ParseSpec checks as it checks any file: a
// campaign is stored as its file, so that what runs is what was checked.
func (s *Spec) Marshal() ([]byte, error) {
	data, err := yaml.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: %w", s.Name, err)
	}
	return data, nil
}

// ParseSpec reads and validates a campaign file. Every problem is reported
// with the file and line, in one *yamlfile.Error. Whether the playbook
// exists and takes these parameters is checked by the caller, which knows
// where playbooks come from.
func ParseSpec(file string, data []byte) (*Spec, error) {
	var s Spec
	root, err := yamlfile.Decode("campaign", file, data, &s)
	if err != nil {
		return nil, err
	}
	s.File = file
	v := &specChecker{file: file, root: root}
	v.check(&s)
	slices.SortStableFunc(v.problems, func(a, b yamlfile.Problem) int { return a.Line - b.Line })
	if len(v.problems) > 0 {
		return nil, &yamlfile.Error{What: "campaign", Problems: v.problems}
	}
	return &s, nil
}

type specChecker struct {
	file     string
	root     *yaml.Node
	problems []yamlfile.Problem
}

func (v *specChecker) addf(line int, format string, args ...any) {
	v.problems = append(v.problems, yamlfile.Problem{File: v.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (v *specChecker) check(s *Spec) {
	if !nameRE.MatchString(s.Name) {
		v.addf(yamlfile.KeyLine(v.root, "name"), "name %q: want lower-case letters, digits, '.', '-' or '_'", s.Name)
	}
	if s.Playbook == "" {
		v.addf(yamlfile.KeyLine(v.root, "playbook"), "playbook: name a built-in playbook or a file")
	}
	s.target = v.selector(yamlfile.KeyLine(v.root, "target"), "target", s.Target)
	if s.ExposedTo != strings.TrimSpace(s.ExposedTo) || (s.ExposedTo == "" && yamlfile.Value(v.root, "exposed_to") != nil) {
		v.addf(yamlfile.KeyLine(v.root, "exposed_to"), "exposed_to %q: name an alert by its id, such as HSA-2019-0042", s.ExposedTo)
	}
	for _, ts := range []*Timestamp{s.Start, s.Deadline} {
		if ts != nil && ts.Time.IsZero() {
			v.addf(ts.line, "%q is not a time such as 2026-12-01T08:00:00Z", ts.raw)
		}
	}
	if s.Start != nil && s.Deadline != nil && !s.Deadline.After(s.Start.Time) {
		v.addf(s.Deadline.line, "deadline %s is not after start %s", s.Deadline.raw, s.Start.raw)
	}
	windows := yamlfile.Value(v.root, "windows")
	if s.Windows.Default != nil {
		s.Windows.Default.line = yamlfile.KeyLine(windows, "default")
		v.window("windows.default", s.Windows.Default)
	}
	orgs := yamlfile.Value(windows, "orgs")
	for code, w := range s.Windows.Orgs {
		if w == nil {
			v.addf(yamlfile.KeyLine(orgs, code), "windows.orgs.%s: empty window", code)
			continue
		}
		w.line = yamlfile.KeyLine(orgs, code)
		if inventory.NormaliseOrgCode(code) != code {
			v.addf(w.line, "windows.orgs.%s: organisation codes are upper case", code)
		}
		v.window("windows.orgs."+code, w)
	}
	s.blackout = map[string]bool{}
	blackout := s.Blackout
	if n := len(blackout); n > MaxBlackouts {
		v.addf(yamlfile.KeyLine(v.root, "blackout"), "blackout: %d dates, at most %d", n, MaxBlackouts)
		blackout = nil
	}
	for i, d := range blackout {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			line := yamlfile.KeyLine(v.root, "blackout")
			if items := yamlfile.Items(v.root, "blackout"); i < len(items) {
				line = items[i].Line
			}
			v.addf(line, "blackout %q is not a date such as 2026-12-25", d)
		}
		s.blackout[d] = true
	}
	if s.Caps.PerOrg < 0 || s.Caps.PerSite < 0 || s.Caps.Total < 0 {
		v.addf(yamlfile.KeyLine(v.root, "caps"), "caps must not be negative")
	}
	for _, d := range []*Duration{&s.Defer.Backoff, &s.Defer.MaxBackoff} {
		v.duration("defer", d)
	}
	if s.Defer.Backoff.Duration == 0 {
		s.Defer.Backoff.Duration = DefaultDeferBackoff
	}
	if s.Defer.MaxBackoff.Duration == 0 {
		s.Defer.MaxBackoff.Duration = DefaultDeferMaxBackoff
	}
	if len(s.Waves) == 0 {
		v.addf(yamlfile.KeyLine(v.root, "waves"), "a campaign needs at least one wave")
	}
	waves := s.Waves
	if n := len(waves); n > MaxWaves {
		v.addf(yamlfile.KeyLine(v.root, "waves"), "waves: %d waves, at most %d", n, MaxWaves)
		waves = nil
	}
	items := yamlfile.Items(v.root, "waves")
	seen := map[string]int{}
	for i := range waves {
		w := &s.Waves[i]
		if i < len(items) {
			w.Line = items[i].Line
		}
		v.wave(w)
		if first, dup := seen[w.Name]; dup {
			v.addf(w.Line, "wave name %q already used at line %d", w.Name, first)
		}
		seen[w.Name] = w.Line
	}
}

// selector parses the selector of where (the target, a wave), refusing one
// longer than MaxSelectorLen unread.
func (v *specChecker) selector(line int, where, src string) inventory.Selector {
	if len(src) > MaxSelectorLen {
		v.addf(line, "%s: selector of %d bytes, at most %d", where, len(src), MaxSelectorLen)
		return inventory.Selector{}
	}
	sel, err := inventory.ParseSelector(src)
	if err != nil {
		v.addf(line, "%s: %s", where, firstLine(err))
	}
	return sel
}

func (v *specChecker) duration(where string, d *Duration) {
	if d.raw == "" {
		return
	}
	if _, err := parseDuration(d.raw); err != nil {
		v.addf(d.line, "%s: %v", where, err)
	}
}

func (v *specChecker) window(where string, w *Window) {
	if w.Cron == "" {
		v.addf(w.line, "%s: cron is required (e.g. \"0 19 * * 1-5\" for 19:00 on weekdays)", where)
	} else if _, err := w.schedule(time.UTC); err != nil {
		v.addf(w.line, "%s: cron %q: %v", where, w.Cron, err)
	}
	v.duration(where, &w.Duration)
	if _, err := parseDuration(w.Duration.raw); err == nil && w.Duration.Duration <= 0 || w.Duration.raw == "" {
		v.addf(w.line, "%s: duration is required and must be positive (e.g. 8h)", where)
	}
	if w.TimeZone != "" {
		if _, err := time.LoadLocation(w.TimeZone); err != nil {
			v.addf(w.line, "%s: time zone %q is not an IANA name such as Europe/London", where, w.TimeZone)
		}
	}
}

func (v *specChecker) wave(w *Wave) {
	if !nameRE.MatchString(w.Name) {
		v.addf(w.Line, "wave name %q: want lower-case letters, digits, '.', '-' or '_'", w.Name)
	}
	w.selector = v.selector(w.Line, "wave "+w.Name, w.Selector)
	switch {
	case w.Count < 0:
		v.addf(w.Line, "wave %s: count must not be negative", w.Name)
	case w.Percent < 0 || w.Percent > 100:
		v.addf(w.Line, "wave %s: percent must be between 0 and 100", w.Name)
	case w.Count > 0 && w.Percent > 0:
		v.addf(w.Line, "wave %s: give count or percent, not both", w.Name)
	}
	if w.MaxConcurrency < 0 {
		v.addf(w.Line, "wave %s: max_concurrency must not be negative", w.Name)
	}
	if w.MaxFailurePercent == nil {
		w.MaxFailurePercent = new(float64)
		*w.MaxFailurePercent = DefaultMaxFailurePercent
	} else if *w.MaxFailurePercent < 0 || *w.MaxFailurePercent > 100 {
		v.addf(w.Line, "wave %s: max_failure_percent must be between 0 and 100", w.Name)
	}
	v.duration("wave "+w.Name+": soak", &w.Soak)
	switch w.Approval {
	case "":
		w.Approval = ApprovalAuto
	case ApprovalAuto, ApprovalManual:
	default:
		v.addf(w.Line, "wave %s: approval %q: want auto or manual", w.Name, w.Approval)
	}
}

func firstLine(err error) string {
	l, _, _ := strings.Cut(err.Error(), "\n")
	return l
}
