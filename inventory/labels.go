package inventory

import (
	"fmt"
	"slices"
	"strings"
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
