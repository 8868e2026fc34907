package host

import (
	"fmt"
	"strings"
)

// MaxNameLen is the longest plugin name CheckName accepts.
const MaxNameLen = 64

// NameError reports a plugin name that cannot be registered, and why.
type NameError struct {
	Name string // as given
	Rule string // the rule it breaks
}

func (e *NameError) Error() string {
	return fmt.Sprintf("plugin name %q: %s", e.Name, e.Rule)
}

// CheckName refuses a plugin name that is not 1 to MaxNameLen lower-case
// ASCII letters, digits, '-' and '_', starting with a letter or digit, or
// that equals one of reserved (the built-in executors' names) ignoring
// case. Names are shown in tables, logs and error messages and typed as
// --executor values, so the pattern is deliberately narrow: nothing that
// could be a terminal escape, a line break, an option or a look-alike of a
// built-in.
func CheckName(name string, reserved ...string) error {
	for _, r := range reserved {
		if strings.EqualFold(name, r) {
			return &NameError{Name: name, Rule: fmt.Sprintf("the name %s is reserved for the built-in executor (compared ignoring case); register the plugin with another --name", r)}
		}
	}
	if name == "" {
		return &NameError{Name: name, Rule: "a plugin needs a name; give --name"}
	}
	if len(name) > MaxNameLen {
		return &NameError{Name: name, Rule: fmt.Sprintf("longer than %d bytes", MaxNameLen)}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return &NameError{Name: name, Rule: "control characters are not allowed"}
		case c >= 0x80:
			// Bytes, not runes: C1 controls (U+0080 to U+009F), invalid
			// UTF-8 and every other non-ASCII character end up here.
			return &NameError{Name: name, Rule: "only ASCII is allowed: lower-case letters, digits, '-' and '_'"}
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '-' || c == '_':
			if i == 0 {
				return &NameError{Name: name, Rule: "must start with a lower-case letter or a digit"}
			}
		default:
			return &NameError{Name: name, Rule: fmt.Sprintf("%q is not allowed: use only lower-case letters, digits, '-' and '_'", c)}
		}
	}
	return nil
}
