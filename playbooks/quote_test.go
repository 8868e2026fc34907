package playbooks

import (
	"strings"
	"testing"
	"time"
)

// lexPSSingleQuoted reads one single-quoted string literal at the start of
// s the way PowerShell's tokenizer does and returns its value and the rest
// of the input after it.
func lexPSSingleQuoted(t *testing.T, s string) (string, string) {
	t.Helper()
	r := []rune(s)
	if len(r) == 0 || !strings.ContainsRune(psQuotes, r[0]) {
		t.Fatalf("%q does not start with a quote", s)
	}
	var val []rune
	for i := 1; i < len(r); i++ {
		if strings.ContainsRune(psQuotes, r[i]) {
			if i+1 < len(r) && strings.ContainsRune(psQuotes, r[i+1]) {
				val = append(val, r[i])
				i++
				continue
			}
			return string(val), string(r[i+1:])
		}
		val = append(val, r[i])
	}
	t.Fatalf("unterminated literal %q", s)
	return "", ""
}

var hostile = []string{
	`'; Remove-Item C:\ -Recurse; '`,
	`$(Remove-Item C:\ -Recurse)`,
	"`$env:COMPUTERNAME` `n",
	"line one\nline two\r\n'; exit 1; '",
	"\u2019; Stop-Computer -Force; \u2018",
	"\u201A\u201B'\u2018\u2019",
	`"; Invoke-Expression "calc`,
	`@{a=1}; & calc`,
	"",
}

func TestPSLiteralKeepsHostileValuesInert(t *testing.T) {
	for _, v := range hostile {
		lit := PSLiteral(v)
		got, rest := lexPSSingleQuoted(t, lit)
		if got != v || rest != "" {
			t.Errorf("PSLiteral(%q) = %s: reads back as %q with %q left over", v, lit, got, rest)
		}
	}
}

func TestParamsPreamble(t *testing.T) {
	got, err := ParamsPreamble(map[string]any{
		"target_build": "10.0.19045", "min_free_gb": 20, "laptop_ac": true,
		"wait": 90 * time.Second, "kbs": []string{"KB5034441", "K'B"}, "evil": hostile[0],
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "$Params = @{evil = '''; Remove-Item C:\\ -Recurse; '''; kbs = @('KB5034441', 'K''B'); laptop_ac = $true; min_free_gb = 20; target_build = '10.0.19045'; wait = 90}\n"
	if got != want {
		t.Fatalf("preamble:\n got %s\nwant %s", got, want)
	}
	if _, err := ParamsPreamble(map[string]any{"Bad-Name": "x"}); err == nil {
		t.Fatal("a parameter name that is not an identifier was accepted")
	}
	if _, err := ParamsPreamble(map[string]any{"x": 1.5}); err == nil {
		t.Fatal("a float was accepted")
	}
}
