package orchestrator

import (
	"errors"
	"flag"
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
