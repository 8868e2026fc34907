package builtin_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/internal/inputfile"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
)

const ownPlaybook = `name: own
version: 2.0.0
description: A site's own.
steps:
  - name: hello
    powershell: Write-Output hello
`

func TestFilesResolve(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for name, body := range map[string]string{"own.yaml": ownPlaybook, "install-kb": ownPlaybook, "big.yaml": ownPlaybook + strings.Repeat("# padding\n", 100)} {
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	discover, err := builtin.Source("discover")
	if err != nil {
		t.Fatal(err)
	}
	f := builtin.Files{Limit: inputfile.Limit{Max: 1000, Raise: "--max-file-size"}}
	for _, tc := range []struct {
		ref, file, name string // file, name: where it came from and the playbook's name; "" when refused
		src             []byte // nil: any
		err             func(error) bool
	}{
		{ref: "own.yaml", file: "own.yaml", name: "own", src: []byte(ownPlaybook)},
		{ref: filepath.Join(dir, "own.yaml"), file: filepath.Join(dir, "own.yaml"), name: "own"},
		{ref: "discover", file: "builtin/discover.yaml", name: "discover", src: discover},
		// A file of that name comes first.
		{ref: "install-kb", file: "install-kb", name: "own"},
		{ref: "nope", err: func(err error) bool {
			return strings.Contains(err.Error(), `no built-in playbook "nope" (built-in: discover,`)
		}},
		// What looks like a path is never taken for a name.
		{ref: "discover.yaml", err: func(err error) bool { return errors.Is(err, fs.ErrNotExist) }},
		{ref: "./discover", err: func(err error) bool { return errors.Is(err, fs.ErrNotExist) }},
		{ref: "big.yaml", err: func(err error) bool {
			return errors.Is(err, inputfile.ErrTooLarge) && strings.Contains(err.Error(), "--max-file-size")
		}},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			file, src, err := f.Source(tc.ref)
			pb, lerr := f.Load(tc.ref)
			if tc.err != nil {
				if err == nil || !tc.err(err) || lerr == nil || !tc.err(lerr) {
					t.Fatalf("Source: %v; Load: %v", err, lerr)
				}
				return
			}
			if err != nil || lerr != nil {
				t.Fatalf("Source: %v; Load: %v", err, lerr)
			}
			if file != tc.file || (tc.src != nil && string(src) != string(tc.src)) {
				t.Errorf("Source = %q, %d bytes; want %q", file, len(src), tc.file)
			}
			if pb.Name != tc.name {
				t.Errorf("Load: playbook %q, want %q", pb.Name, tc.name)
			}
		})
	}
}

func TestFilesValidate(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte(ownPlaybook), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("name: bad\nversion: 1.0.0\nsteps:\n  - name: x\n    powershell: Write-Output $Params.nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	for _, tc := range []struct {
		desc    string
		files   []string
		valid   []bool // per result
		readErr bool
	}{
		{"valid and invalid", []string{good, bad, good}, []bool{true, false, true}, false},
		{"stops at a file it cannot read", []string{good, missing, bad}, []bool{true}, true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := builtin.Files{}.Validate(tc.files)
			if (err != nil) != tc.readErr || (err != nil && !errors.Is(err, fs.ErrNotExist)) {
				t.Fatalf("Validate: %v", err)
			}
			if len(got) != len(tc.valid) {
				t.Fatalf("Validate: %d results, want %d", len(got), len(tc.valid))
			}
			for i, c := range got {
				if c.File != tc.files[i] || (c.Err == nil) != tc.valid[i] || (c.Playbook != nil) != tc.valid[i] {
					t.Errorf("result %d: %+v", i, c)
				}
				if tc.valid[i] && c.Steps() != 1 {
					t.Errorf("result %d: %d steps, want 1", i, c.Steps())
				}
				if !tc.valid[i] && !strings.Contains(c.Err.Error(), "bad.yaml:4") {
					t.Errorf("result %d: error without its line: %v", i, c.Err)
				}
			}
		})
	}
}

func TestExport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	discover, _ := builtin.Source("discover")
	path, err := builtin.Export("discover", dir)
	if err != nil || path != filepath.Join(dir, "discover.yaml") {
		t.Fatalf("Export = %q, %v", path, err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != string(discover) {
		t.Fatalf("exported %d bytes, %v", len(b), err)
	}
	if err := os.WriteFile(path, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  func(error) bool
	}{
		{"discover", func(err error) bool {
			var ee *builtin.ExistsError
			return errors.As(err, &ee) && ee.Path == path && errors.Is(err, fs.ErrExist)
		}},
		{"nope", func(err error) bool { return strings.Contains(err.Error(), `no built-in playbook "nope"`) }},
	} {
		if _, err := builtin.Export(tc.name, dir); err == nil || !tc.err(err) {
			t.Errorf("Export(%s): %v", tc.name, err)
		}
	}
	if b, _ := os.ReadFile(path); string(b) != "mine" {
		t.Fatalf("an existing file was overwritten: %q", b)
	}
}
