package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// keyValues is a repeatable KEY=VALUE flag. Each use sets one key: the
// value is everything after the first '=', taken literally, commas and
// quotes included. (pflag's StringToString reads a use as CSV, so
// 'v=a,l=KB1' set a second key and 'v=say "hi"' lost a quote.)
type keyValues struct {
	flag string
	m    *map[string]string
}

var _ pflag.Value = (*keyValues)(nil)

// keyValuesVar registers a repeatable KEY=VALUE flag on fs.
func keyValuesVar(fs *pflag.FlagSet, dst *map[string]string, name, usage string) {
	fs.Var(&keyValues{flag: name, m: dst}, name, usage)
}

func (kv *keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("%s: want KEY=VALUE", quoteShort(s))
	}
	if k = strings.TrimSpace(k); k == "" {
		return fmt.Errorf("%s: the key before '=' is empty", quoteShort(s))
	}
	if *kv.m == nil {
		*kv.m = map[string]string{}
	}
	if _, dup := (*kv.m)[k]; dup {
		return fmt.Errorf("%s given twice: give each key once (a list's items are comma-separated in one value)", k)
	}
	(*kv.m)[k] = v
	return nil
}

func (kv *keyValues) Type() string { return "key=value" }

func (kv *keyValues) String() string {
	if kv.m == nil || len(*kv.m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(*kv.m))
	for k := range *kv.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + (*kv.m)[k]
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// quoteShort quotes s for an error message, cut to a length a terminal
// shows, so a huge or binary argument is neither echoed whole nor raw.
func quoteShort(s string) string {
	const max = 64
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:max], len(s))
}

// flagError turns pflag's error for a bad flag into one that names the flag
// and quotes the value short: pflag's own text echoes the value whole, and
// a 10 MB argument would be printed back 10 MB long.
func flagError(err error) error {
	var iv *pflag.InvalidValueError
	if errors.As(err, &iv) {
		return usageError{fmt.Errorf("--%s %s: %s", iv.GetFlag().Name, quoteShort(iv.GetValue()), clip(iv.Unwrap().Error()))}
	}
	return usageError{errors.New(clip(err.Error()))}
}

// clip cuts an error text to a length a terminal shows, on one line, so
// an argument echoed inside it can neither flood nor steer the terminal.
func clip(msg string) string {
	const max = 256
	n := len(msg)
	if n > max {
		msg = strings.ToValidUTF8(msg[:max], "")
	}
	msg = escapeControl(msg, false)
	if n > max {
		msg += fmt.Sprintf("… (%d bytes)", n)
	}
	return msg
}

// terminalSafe makes an error's text safe to print: control characters
// (ESC sequences, CR, C1 controls) are shown escaped, each line is cut to
// 1 KB and the text to 200 lines, whatever a stored value or a file
// handed back.
func terminalSafe(msg string) string {
	const maxLine, maxLines = 1024, 200
	lines := strings.Split(msg, "\n")
	if len(lines) > maxLines {
		lines = append(lines[:maxLines], fmt.Sprintf("… (%d more lines)", len(lines)-maxLines))
	}
	for i, l := range lines {
		n := len(l)
		if n > maxLine {
			l = strings.ToValidUTF8(l[:maxLine], "") + fmt.Sprintf("… (%d bytes)", n)
		}
		lines[i] = escapeControl(l, true)
	}
	return strings.Join(lines, "\n")
}

// escapeControl writes C0 controls (but tab, and newline when keepNewline),
// DEL and C1 controls as \xNN, and invalid UTF-8 as U+FFFD.
func escapeControl(s string, keepNewline bool) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\t', r == '\n' && keepNewline:
			b.WriteRune(r)
		case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
