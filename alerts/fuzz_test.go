package alerts_test

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/internal/yamlfile"
)

var fuzzKB = regexp.MustCompile(`^KB\d{6,8}$`)

// FuzzParseAlert feeds the alert parser arbitrary files, from the sample
// alerts in testdata on. Whatever the input, Parse must not panic; an
// alert it refuses comes with problems that name the file and a line; an
// alert it takes keeps within the limits, follows supersedence to a
// sorted set that holds each build's own updates, and reads back the same
// once rendered.
func FuzzParseAlert(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seed alerts in testdata: %v", err)
	}
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("id: HSA-1\ntitle: x\nissued: 2019-08-13\ndeadline: soon\nremediation: {\"10.0.18363\": [KB1]}\n"))
	f.Add([]byte("id: &a HSA-1\ntitle: *a\nissued: 2019-08-13\ndeadline: 2019-08-27\nremediation: {\"10.0.1\": [KB1234567]}\n"))
	f.Add([]byte("remediation: [KB1234567]\n"))
	f.Add([]byte(""))

	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := alerts.Parse("fuzz.yaml", data)
		if err != nil {
			var ye *yamlfile.Error
			if !errors.As(err, &ye) || len(ye.Problems) == 0 {
				t.Fatalf("error without problems: %v", err)
			}
			for _, p := range ye.Problems {
				if p.File != "fuzz.yaml" || p.Line < 1 {
					t.Fatalf("problem without its file and line: %+v", p)
				}
			}
			return
		}
		if n := len(a.Remediation); n == 0 || n > alerts.MaxBuilds {
			t.Fatalf("%d builds accepted", n)
		}
		for build, kbs := range a.Remediation {
			if len(kbs) == 0 || len(kbs) > alerts.MaxKBsPerBuild {
				t.Fatalf("build %s: %d updates accepted", build, len(kbs))
			}
			sat := a.Satisfying(build)
			if !slices.IsSorted(sat) {
				t.Fatalf("build %s: satisfying updates not sorted: %v", build, sat)
			}
			for _, kb := range kbs {
				if _, ok := slices.BinarySearch(sat, kb); !ok {
					t.Fatalf("build %s: its own update %s does not satisfy it", build, kb)
				}
			}
			for _, kb := range sat {
				if !fuzzKB.MatchString(kb) {
					t.Fatalf("build %s: satisfied by %q, not an update", build, kb)
				}
			}
		}
		if got := len(a.Required()); got != len(a.Remediation) {
			t.Fatalf("%d required updates for %d builds", got, len(a.Remediation))
		}
		out, err := a.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		b, err := alerts.Parse("fuzz.yaml", out)
		if err != nil {
			t.Fatalf("rendered alert refused: %v\n%s", err, out)
		}
		if b.ID != a.ID || b.Title != a.Title || b.Issued != a.Issued || b.Deadline != a.Deadline ||
			!maps.EqualFunc(a.Remediation, b.Remediation, slices.Equal) || !maps.EqualFunc(a.Supersedence, b.Supersedence, slices.Equal) {
			t.Fatalf("rendered alert reads back differently:\n%s", out)
		}
	})
}
