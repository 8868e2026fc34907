package orchestrator

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/yamlfile"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestParseSpec(t *testing.T) {
	data, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSpec("valid.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "win10-22h2" || len(s.Waves) != 3 || s.Waves[0].Line != 16 || s.Waves[0].Soak.Duration != 48*time.Hour ||
		*s.Waves[1].MaxFailurePercent != DefaultMaxFailurePercent || s.Waves[2].Approval != ApprovalAuto ||
		s.Defer.MaxBackoff.Duration != 24*time.Hour || !s.IsBlackout("2026-12-25") || s.Params["media_source"] != `\\dp01\media$\Win10_22H2` {
		t.Errorf("parsed %+v", s)
	}
}

// TestInvalidSpecs checks each file in testdata/invalid against its .golden
// list of problems, each with file and line.
func TestInvalidSpecs(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no test files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseSpec(filepath.Base(f), data)
			var ye *yamlfile.Error
			if !errors.As(err, &ye) {
				t.Fatalf("err = %v, want *yamlfile.Error", err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestSpecLimits: each list of a campaign file is bounded, and one past the
// bound is refused at its line, without checking its items one by one.
func TestSpecLimits(t *testing.T) {
	list := func(n int, item func(i int) string) string {
		items := make([]string, n)
		for i := range items {
			items[i] = item(i)
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	waves := func(n int) string {
		return "waves: " + list(n, func(i int) string { return fmt.Sprintf("{name: w%d}", i) }) + "\n"
	}
	blackouts := func(n int) string {
		day := utc("2026-01-01T00:00:00Z")
		return "blackout: " + list(n, func(i int) string { return day.AddDate(0, 0, i).Format(time.DateOnly) }) + "\n"
	}
	orgs := func(n int) string {
		return "windows:\n  orgs: {" + strings.Trim(list(n, func(i int) string { return fmt.Sprintf("R%04d: {cron: \"0 19 * * *\", duration: 8h}", i) }), "[]") + "}\n"
	}
	selector := func(key string, n int) string {
		return key + ": 'site in (" + strings.Repeat("a", n-len("site in ()")) + ")'\n"
	}
	tests := []struct {
		name string
		src  string
		want string // the problem, after "c.yaml:"; "" for accepted
	}{
		{"100 waves", waves(MaxWaves), ""},
		{"101 waves", waves(MaxWaves + 1), "3: waves: 101 waves, at most 100"},
		{"1000 blackout dates", blackouts(MaxBlackouts) + waves(1), ""},
		{"1001 blackout dates", blackouts(MaxBlackouts+1) + waves(1), "3: blackout: 1001 dates, at most 1000"},
		{"1000 organisations' windows", orgs(yamlfile.MaxMappingKeys) + waves(1), ""},
		{"1001 organisations' windows", orgs(yamlfile.MaxMappingKeys+1) + waves(1), "4: windows.orgs: 1001 keys, at most 1000"},
		{"a target of 4096 bytes", selector("target", MaxSelectorLen) + waves(1), ""},
		{"a target of 4097 bytes", selector("target", MaxSelectorLen+1) + waves(1), "3: target: selector of 4097 bytes, at most 4096"},
		{"a wave selector of 4097 bytes", "waves:\n  - name: w\n  " + selector("  selector", MaxSelectorLen+1), "4: wave w: selector of 4097 bytes, at most 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSpec("c.yaml", []byte("name: c\nplaybook: discover\n"+tt.src))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ye *yamlfile.Error
			if !errors.As(err, &ye) || len(ye.Problems) != 1 || ye.Problems[0].String() != "c.yaml:"+tt.want {
				t.Fatalf("err = %v, want the one problem c.yaml:%s", err, tt.want)
			}
		})
	}
}
