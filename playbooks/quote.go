package playbooks

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// psQuotes are the characters PowerShell accepts as a single quote: the
// ASCII apostrophe and four Unicode quotation marks (PowerShell language
// specification, section 2.3.5.2 "String literals").
const psQuotes = "'\u2018\u2019\u201A\u201B"

// PSLiteral renders s as a PowerShell single-quoted string literal. Inside
// single quotes PowerShell expands nothing ($, backtick and subexpressions
// are plain text), and a quote character is written twice; doubling every
// character PowerShell takes for a quote means no value can end the literal
// early and run as code.
func PSLiteral(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for _, r := range s {
		if strings.ContainsRune(psQuotes, r) {
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

// ParamsPreamble is the PowerShell statement that gives a script its
// parameters as $Params, every value a literal (strings quoted by
// PSLiteral, lists as arrays of them, durations in seconds), so that
// scripts never splice values into code.
func ParamsPreamble(values map[string]any) (string, error) {
	names := make([]string, 0, len(values))
	for k := range values {
		if !identRE.MatchString(k) {
			return "", fmt.Errorf("parameter name %q: want lower-case letters, digits and '_'", k)
		}
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("$Params = @{")
	for i, k := range names {
		if i > 0 {
			b.WriteString("; ")
		}
		lit, err := psValue(values[k])
		if err != nil {
			return "", fmt.Errorf("parameter %s: %w", k, err)
		}
		b.WriteString(k + " = " + lit)
	}
	b.WriteString("}\n")
	return b.String(), nil
}

func psValue(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return PSLiteral(x), nil
	case int:
		return strconv.Itoa(x), nil
	case bool:
		if x {
			return "$true", nil
		}
		return "$false", nil
	case time.Duration:
		return strconv.FormatInt(int64(x/time.Second), 10), nil
	case []string:
		items := make([]string, len(x))
		for i, s := range x {
			items[i] = PSLiteral(s)
		}
		return "@(" + strings.Join(items, ", ") + ")", nil
	}
	return "", fmt.Errorf("%T cannot be passed to a script", v)
}
