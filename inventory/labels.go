package inventory

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Labels are operator-declared key=value pairs on a device, such as
// ring=pilot. Keys are case-sensitive.
type Labels map[string]string

// isName reports whether s is 1-63 letters, digits, '.', '_' or '-',
// starting and ending with a letter or digit (a Kubernetes-style name).
func isName(s string) bool {
	if len(s) == 0 || len(s) > 63 || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ParseLabels parses "k=v;k2=v2" (';' or ',' separated; whitespace around
// pairs ignored). A key repeated is an error.
func ParseLabels(s string) (Labels, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	out := Labels{}
	for pair := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ';' || r == ',' }) {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("label %s: want key=value", QuoteValue(pair))
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if err := ValidateLabel(k, v); err != nil {
			return nil, err
		}
		if len(out) == MaxLabels {
			return nil, fmt.Errorf("more than %d labels", MaxLabels)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("label %s given twice", QuoteValue(k))
		}
		out[k] = v
	}
	return out, nil
}

// ValidateLabel checks one label key and value.
func ValidateLabel(k, v string) error {
	if !isName(k) {
		return fmt.Errorf("label key %s: want 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", QuoteValue(k))
	}
	if v != "" && !isName(v) {
		return fmt.Errorf("label %s value %s: want up to 63 letters, digits, '-', '_' or '.'", k, QuoteValue(v))
	}
	return nil
}

// String renders labels canonically: keys sorted, "k=v;k2=v2".
func (l Labels) String() string {
	if len(l) == 0 {
		return ""
	}
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(l[k])
	}
	return b.String()
}

// Equal reports whether two label sets hold the same pairs.
func (l Labels) Equal(m Labels) bool {
	if len(l) != len(m) {
		return false
	}
	for k, v := range l {
		if w, ok := m[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// normaliseList maps, sorts and de-duplicates a list, dropping empty items.
func normaliseList(in []string, f func(string) string) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = f(s); s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

// LabelChange is one change to devices' labels: Key set to Value, or, with
// Remove, Key removed.
type LabelChange struct {
	Key, Value string
	Remove     bool
}

// String renders the change as ParseLabelChanges reads it: "k=v" or "k-".
func (c LabelChange) String() string {
	if c.Remove {
		return c.Key + "-"
	}
	return c.Key + "=" + c.Value
}

// ParseLabelChanges reads changes written "key=value" (add or change) or
// "key-" (remove), as kubectl label takes them. A key changed twice, a
// bad key or value, or no change at all is an error naming the argument.
func ParseLabelChanges(args []string) ([]LabelChange, error) {
	if len(args) == 0 {
		return nil, invalid("", "", "no label change given: want key=value to add or change, key- to remove")
	}
	out := make([]LabelChange, 0, len(args))
	seen := map[string]bool{}
	for _, a := range args {
		var c LabelChange
		if k, v, ok := strings.Cut(a, "="); ok {
			c = LabelChange{Key: k, Value: v}
		} else if k, ok := strings.CutSuffix(a, "-"); ok {
			c = LabelChange{Key: k, Remove: true}
		} else {
			return nil, invalid("label change", a, "want key=value to add or change, or key- to remove")
		}
		if err := ValidateLabel(c.Key, c.Value); err != nil {
			return nil, &FieldError{Field: "label change", Value: a, Msg: err.Error()}
		}
		if seen[c.Key] {
			return nil, invalid("label change", a, "changes label %s again", QuoteValue(c.Key))
		}
		seen[c.Key] = true
		out = append(out, c)
	}
	return out, nil
}

// Apply returns l with the changes made, what each changed (changes that
// leave a label as it was are left out), or an error wrapping
// errkind.Invalid when the result would hold more than MaxLabels.
func (l Labels) Apply(changes []LabelChange) (Labels, []LabelEvent, error) {
	out := make(Labels, len(l)+len(changes))
	for k, v := range l {
		out[k] = v
	}
	var done []LabelEvent
	for _, c := range changes {
		old, had := out[c.Key]
		switch {
		case c.Remove && !had, !c.Remove && had && old == c.Value:
			continue
		case c.Remove:
			delete(out, c.Key)
		default:
			out[c.Key] = c.Value
		}
		done = append(done, LabelEvent{Change: c, Previous: old, HadPrevious: had})
	}
	if len(out) > MaxLabels {
		return l, nil, invalid("labels", "", "would be more than %d", MaxLabels)
	}
	if len(out) == 0 {
		out = nil
	}
	return out, done, nil
}

// LabelEvent is one change made to a device's labels, as the label
// history records it.
type LabelEvent struct {
	Hostname    string
	Change      LabelChange
	Previous    string // the value before, when HadPrevious
	HadPrevious bool
	At          time.Time
	Actor       string // who made it, as the caller named them
}

// String renders what changed: "ring=pilot (was ring1)", "ring=pilot
// (added)", "excluded- (was true)".
func (e LabelEvent) String() string {
	if !e.HadPrevious {
		return e.Change.String() + " (added)"
	}
	return e.Change.String() + " (was " + QuoteValue(e.Previous) + ")"
}

// LabelResult is what a label change did: the devices it matched and
// those whose labels changed, by hostname.
type LabelResult struct {
	Matched []string
	Changed []string
}
