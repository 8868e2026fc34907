package builtin_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/inputfile"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
)

func TestLibrary(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret.yaml")
	for path, body := range map[string]string{
		filepath.Join(dir, "own.yaml"):        ownPlaybook,
		filepath.Join(dir, "discover.yaml"):   strings.Replace(ownPlaybook, "name: own", "name: discover", 1),
		filepath.Join(dir, "not a name.yaml"): ownPlaybook,
		filepath.Join(dir, "notes.txt"):       "not a playbook",
		secret:                                ownPlaybook,
	} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lib := builtin.Library{Dir: dir, Limit: inputfile.Limit{Max: 1 << 20}}
	for _, tc := range []struct {
		ref  string
		file string       // where it came from; "" when refused
		kind errkind.Kind // when refused
	}{
		{ref: "own", file: filepath.Join(dir, "own.yaml")},
		{ref: "discover", file: filepath.Join(dir, "discover.yaml")}, // the site's own wins
		{ref: "install-kb", file: "builtin/install-kb.yaml"},
		{ref: "nope", kind: errkind.NotFound},
		{ref: secret, kind: errkind.Invalid},
		{ref: "../" + filepath.Base(filepath.Dir(secret)) + "/secret", kind: errkind.Invalid},
		{ref: "own.yaml", kind: errkind.Invalid},
		{ref: "", kind: errkind.Invalid},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			file, src, err := lib.Source(tc.ref)
			if tc.file == "" {
				if !errors.Is(err, tc.kind) {
					t.Fatalf("Source(%q) = %q, %v; want an error of kind %q", tc.ref, file, err, tc.kind)
				}
				return
			}
			if err != nil || file != tc.file || len(src) == 0 {
				t.Fatalf("Source(%q) = %q, %d bytes, %v; want %q", tc.ref, file, len(src), err, tc.file)
			}
		})
	}
	var nf *builtin.NotFoundError
	if _, _, err := lib.Source("nope"); !errors.As(err, &nf) || !slices.Contains(nf.Names, "own") {
		t.Errorf("an unknown name's error does not list the site's playbooks: %v", err)
	}

	entries, err := lib.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
		switch e.Name {
		case "discover":
			if e.Builtin || !e.Shadows {
				t.Errorf("discover: %+v, want the site's own, shadowing the built-in", e)
			}
		case "own":
			if e.Builtin || e.Shadows {
				t.Errorf("own: %+v", e)
			}
		case "install-kb":
			if !e.Builtin {
				t.Errorf("install-kb: %+v", e)
			}
		}
	}
	want := append(builtin.Names(), "own")
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("List names %v, want %v", names, want)
	}

	if _, err := (builtin.Library{Dir: filepath.Join(dir, "missing")}).List(); err == nil {
		t.Error("a missing playbook directory lists without error")
	}
	if entries, err := (builtin.Library{}).List(); err != nil || len(entries) != len(builtin.Names()) {
		t.Errorf("no directory: %d entries, %v; want the built-ins", len(entries), err)
	}
}
