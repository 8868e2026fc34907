package device

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// object is a PowerShell object: ordered properties.
type object []prop

type prop struct {
	name  string
	value any // string, int64, float64, bool, time.Time
}

func (o object) get(name string) (any, bool) {
	for _, p := range o {
		if strings.EqualFold(p.name, name) {
			return p.value, true
		}
	}
	return nil, false
}

func (o object) pick(names []string) object {
	var out object
	for _, n := range names {
		if v, ok := o.get(n); ok {
			out = append(out, prop{n, v})
		} else {
			out = append(out, prop{n, nil})
		}
	}
	return out
}

// text renders a value as PowerShell's default output would.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case time.Time:
		return x.Format("Monday, January 2, 2006 3:04:05 PM")
	case object:
		return formatList(x)
	case map[string]any:
		return "System.Collections.Hashtable"
	case []any: // an array writes one item per line
		parts := make([]string, len(x))
		for i, it := range x {
			parts[i] = text(it)
		}
		return strings.Join(parts, "\r\n")
	default:
		return fmt.Sprint(x)
	}
}

// formatList renders an object as Format-List does.
func formatList(o object) string {
	w := 0
	for _, p := range o {
		w = max(w, len(p.name))
	}
	var b strings.Builder
	b.WriteString("\r\n")
	for _, p := range o {
		fmt.Fprintf(&b, "%-*s : %s\r\n", w, p.name, text(p.value))
	}
	return b.String()
}

// toJSON renders values as Windows PowerShell 5.1's ConvertTo-Json does
// (four-space indents, two spaces after the colon, dates as \/Date(ms)\/).
func toJSON(vals []any, compress bool) string {
	if len(vals) == 1 {
		return jsonValue(vals[0], compress, 0)
	}
	return jsonValue(vals, compress, 0)
}

func jsonValue(v any, compress bool, depth int) string {
	ind := func(d int) string {
		if compress {
			return ""
		}
		return "\r\n" + strings.Repeat("    ", d)
	}
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case time.Time:
		return fmt.Sprintf(`"\/Date(%d)\/"`, x.UnixMilli())
	case object:
		if len(x) == 0 {
			return "{}"
		}
		sep := ":  "
		if compress {
			sep = ":"
		}
		var b strings.Builder
		b.WriteString("{")
		for i, p := range x {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(ind(depth+1) + strconv.Quote(p.name) + sep + jsonValue(p.value, compress, depth+1))
		}
		b.WriteString(ind(depth) + "}")
		return b.String()
	case []any:
		var b strings.Builder
		b.WriteString("[")
		for i, e := range x {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(ind(depth+1) + jsonValue(e, compress, depth+1))
		}
		b.WriteString(ind(depth) + "]")
		return b.String()
	}
	return strconv.Quote(fmt.Sprint(v))
}

// splitOutside splits s at sep characters that are outside quotes and
// brackets (PowerShell statements at ';' or newlines, pipelines at '|').
func splitOutside(s string, seps string) []string {
	var out []string
	depth := 0
	inSingle, inDouble := false, false
	start := 0
	for i, r := range s {
		switch {
		case inSingle:
			// PowerShell ends a single-quoted string at any of its five
			// single-quote characters; a doubled one is an escaped quote and
			// is read as two toggles here, which leaves the state unchanged.
			if isSingleQuote(r) {
				inSingle = false
			}
		case inDouble:
			if r == '"' {
				inDouble = false
			}
		case isSingleQuote(r):
			inSingle = true
		case r == '"':
			inDouble = true
		case r == '(' || r == '{' || r == '[':
			depth++
		case r == ')' || r == '}' || r == ']':
			depth--
		case depth == 0 && strings.ContainsRune(seps, r):
			out = append(out, s[start:i])
			start = i + len(string(r))
		}
	}
	return append(out, s[start:])
}

// isSingleQuote reports the characters PowerShell takes for a single quote.
func isSingleQuote(r rune) bool {
	return r == '\'' || r == '\u2018' || r == '\u2019' || r == '\u201A' || r == '\u201B'
}

// fields splits a command line into words, keeping quoted words whole and
// removing the quotes ('...' in PowerShell, with any of its five single
// quote characters and a doubled one inside standing for itself; "..." in
// both shells).
func fields(s string, singleQuotes bool) []string {
	var out []string
	var cur strings.Builder
	in := false
	quote := rune(0) // '"', or '\'' for any single quote
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		single := singleQuotes && isSingleQuote(c)
		switch {
		case quote == '"':
			if c == '"' {
				quote = 0
				continue
			}
			cur.WriteRune(c)
		case quote != 0:
			if single {
				if i+1 < len(rs) && isSingleQuote(rs[i+1]) { // a doubled quote inside '...'
					cur.WriteRune(c)
					i++
					continue
				}
				quote = 0
				continue
			}
			cur.WriteRune(c)
		case c == '"':
			quote, in = '"', true
		case single:
			quote, in = '\'', true
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(c)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}
