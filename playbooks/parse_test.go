package playbooks

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestValidPlaybook(t *testing.T) {
	data, err := os.ReadFile("testdata/valid/check-build.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := Parse("check-build.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if pb.Name != "check-build" || len(pb.Params) != 2 || len(pb.Steps) != 2 || pb.Steps[1].Line != 19 || pb.Params[1].Line != 9 {
		t.Fatalf("parsed %+v", pb)
	}
}

// TestInvalidPlaybooks checks each file in testdata/invalid against its
// .golden list of problems (file and line each).
func TestInvalidPlaybooks(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no test playbooks")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(filepath.Base(f), data)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *Error", err)
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
