package orchestrator

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/yamlfile"
)

// Field is what a Change of a campaign changes: a wave's threshold or
// concurrency, a cap, the deadline, or a window. Targets and waves are not
// among them: campaign set never changes which devices run or in which
// wave.
type Field string

// Fields a Change may set.
const (
	FieldMaxFailurePercent Field = "max_failure_percent" // Key: a wave's name
	FieldMaxConcurrency    Field = "max_concurrency"     // Key: a wave's name
	FieldCapPerOrg         Field = "caps.per_org"
	FieldCapPerSite        Field = "caps.per_site"
	FieldCapTotal          Field = "caps.total"
	FieldDeadline          Field = "deadline" // RFC 3339, or "none" to remove it
	// FieldWindow: Key "default" or an organisation's code; Value "CRON
	// for DURATION", with " in ZONE" to read it in another time zone, or
	// "none" to remove it.
	FieldWindow Field = "window"
)

// Change is one change to a campaign's spec (campaign set). Source is where
// it came from ("--max-failure-percent ring1=20"), named in its problems.
type Change struct {
	Field  Field
	Key    string
	Value  string
	Source string
}

// ChangeProblem is one problem of a set of changes, with the change that
// caused it.
type ChangeProblem struct {
	Source string
	Msg    string
}

// ChangeError lists every problem of a set of changes; it wraps
// errkind.Invalid.
type ChangeError struct{ Problems []ChangeProblem }

func (e *ChangeError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Source + ": " + p.Msg
	}
	return "invalid campaign change:\n  " + strings.Join(lines, "\n  ")
}

// Unwrap makes the error an errkind.Invalid.
func (e *ChangeError) Unwrap() error { return errkind.Invalid }

// Amend applies changes to a campaign file (src, as stored) and returns
// the new file and its spec, checked exactly as ParseSpec checks a new
// one; every problem is reported with the change that caused it, in one
// *ChangeError. The rest of the file, comments included, is kept as it
// was. Whether the windows open within the horizon in each organisation's
// zone is the caller's to check (Spec.CheckWindows), as for a new file.
func Amend(file string, src []byte, changes []Change) ([]byte, *Spec, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("%s: stored campaign file: not a mapping: %w", file, errkind.Invalid)
	}
	root := doc.Content[0]
	var problems []ChangeProblem
	addf := func(c Change, format string, args ...any) {
		problems = append(problems, ChangeProblem{c.Source, fmt.Sprintf(format, args...)})
	}
	waves := yamlfile.Items(root, "waves")
	waveIndex := func(name string) int {
		return slices.IndexFunc(waves, func(n *yaml.Node) bool {
			v := yamlfile.Value(n, "name")
			return v != nil && v.Value == name
		})
	}
	var waveNames []string
	for _, n := range waves {
		if v := yamlfile.Value(n, "name"); v != nil {
			waveNames = append(waveNames, v.Value)
		}
	}
	for _, c := range changes {
		switch c.Field {
		case FieldMaxFailurePercent, FieldMaxConcurrency:
			i := waveIndex(c.Key)
			if i < 0 {
				addf(c, "no wave %q (waves: %s)", c.Key, strings.Join(waveNames, ", "))
				continue
			}
			if c.Field == FieldMaxFailurePercent {
				if _, err := strconv.ParseFloat(c.Value, 64); err != nil {
					addf(c, "%q is not a percentage such as 20", c.Value)
					continue
				}
			} else if _, err := strconv.Atoi(c.Value); err != nil {
				addf(c, "%q is not a whole number", c.Value)
				continue
			}
			setKey(waves[i], string(c.Field), scalar(c.Value))
		case FieldCapPerOrg, FieldCapPerSite, FieldCapTotal:
			if _, err := strconv.Atoi(c.Value); err != nil {
				addf(c, "%q is not a whole number", c.Value)
				continue
			}
			setKey(mapping(root, "caps"), strings.TrimPrefix(string(c.Field), "caps."), scalar(c.Value))
		case FieldDeadline:
			if c.Value == "none" {
				deleteKey(root, "deadline")
				continue
			}
			setKey(root, "deadline", scalar(c.Value))
		case FieldWindow:
			windows := mapping(root, "windows")
			parent, key := windows, "default"
			if c.Key != "default" {
				parent, key = mapping(windows, "orgs"), c.Key
			}
			if c.Value == "none" {
				deleteKey(parent, key)
				continue
			}
			w, err := parseWindowText(c.Value)
			if err != nil {
				addf(c, "%v", err)
				continue
			}
			setKey(parent, key, w)
		default:
			addf(c, "campaign set cannot change %s (only thresholds, concurrency, caps, the deadline and windows)", c.Field)
		}
	}
	if w := yamlfile.Value(root, "windows"); w != nil { // no empty mappings left by removed windows
		if o := yamlfile.Value(w, "orgs"); o != nil && len(o.Content) == 0 {
			deleteKey(w, "orgs")
		}
		if len(w.Content) == 0 {
			deleteKey(root, "windows")
		}
	}
	// The changes that could be applied are checked as a file is, so that
	// every problem is reported at once.
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	spec, err := ParseSpec(file, out)
	if err != nil {
		var ce *ChangeError
		if !errors.As(blame(err, out, changes), &ce) {
			return nil, nil, err
		}
		problems = append(problems, ce.Problems...)
	}
	if len(problems) > 0 {
		return nil, nil, &ChangeError{problems}
	}
	return out, spec, nil
}

// blame names, for each problem ParseSpec found in an amended file, the
// change at its line (a change's line is its wave's, its cap's, the
// deadline's or its window's, where ParseSpec reports them), in a
// *ChangeError; an error that is not ParseSpec's problems comes back as
// it is.
func blame(err error, out []byte, changes []Change) error {
	var ye *yamlfile.Error
	var doc yaml.Node
	if !errors.As(err, &ye) || yaml.Unmarshal(out, &doc) != nil || len(doc.Content) == 0 {
		return err
	}
	root := doc.Content[0]
	line := func(c Change) int {
		switch c.Field {
		case FieldMaxFailurePercent, FieldMaxConcurrency:
			for _, n := range yamlfile.Items(root, "waves") {
				if v := yamlfile.Value(n, "name"); v != nil && v.Value == c.Key {
					return n.Line
				}
			}
		case FieldCapPerOrg, FieldCapPerSite, FieldCapTotal:
			return yamlfile.KeyLine(root, "caps")
		case FieldDeadline:
			return yamlfile.KeyLine(root, "deadline")
		case FieldWindow:
			w := yamlfile.Value(root, "windows")
			if c.Key == "default" {
				return yamlfile.KeyLine(w, "default")
			}
			return yamlfile.KeyLine(yamlfile.Value(w, "orgs"), c.Key)
		}
		return -1
	}
	var problems []ChangeProblem
	for _, p := range ye.Problems {
		src := fmt.Sprintf("%s:%d", p.File, p.Line) // not a change's: the stored file's own
		for _, c := range changes {
			if line(c) == p.Line {
				src = c.Source
				break
			}
		}
		problems = append(problems, ChangeProblem{src, p.Msg})
	}
	return &ChangeError{problems}
}

// parseWindowText reads "CRON for DURATION[ in ZONE]" into a window
// mapping; ParseSpec checks the cron, duration and zone.
func parseWindowText(s string) (*yaml.Node, error) {
	cron, rest, ok := strings.Cut(s, " for ")
	if !ok || strings.TrimSpace(cron) == "" {
		return nil, fmt.Errorf("%q: want \"CRON for DURATION\", e.g. \"0 19 * * 1-5 for 8h\", optionally \"in Europe/London\"", s)
	}
	dur, zone, _ := strings.Cut(rest, " in ")
	n := &yaml.Node{Kind: yaml.MappingNode}
	setKey(n, "cron", &yaml.Node{Kind: yaml.ScalarNode, Value: strings.TrimSpace(cron), Style: yaml.DoubleQuotedStyle})
	setKey(n, "duration", scalar(strings.TrimSpace(dur)))
	if zone = strings.TrimSpace(zone); zone != "" {
		setKey(n, "timezone", scalar(zone))
	}
	return n, nil
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }

// setKey sets key of mapping n to v, adding it at the end when absent.
func setKey(n *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content[i+1] = v
			return
		}
	}
	n.Content = append(n.Content, scalar(key), v)
}

// mapping returns the mapping under key of n, adding an empty one when
// absent.
func mapping(n *yaml.Node, key string) *yaml.Node {
	if v := yamlfile.Value(n, key); v != nil && v.Kind == yaml.MappingNode {
		return v
	}
	m := &yaml.Node{Kind: yaml.MappingNode}
	setKey(n, key, m)
	return m
}

func deleteKey(n *yaml.Node, key string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content = slices.Delete(n.Content, i, i+2)
			return
		}
	}
}
