package scaffold_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/plugins/scaffold"
)

// source is this checkout, the Ringmaster source a module builds against.
var source, _ = filepath.Abs("../..")

func TestFilesRefuse(t *testing.T) {
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n\ngo 1.26\n"), 0o644)
	for _, tc := range []struct {
		desc string
		o    scaffold.Options
		want string
	}{
		{"an upper-case name", scaffold.Options{Name: "Mine", Source: source}, `"Mine": 'M' is not allowed`},
		{"a built-in's name", scaffold.Options{Name: "winrm", Source: source, Reserved: []string{"winrm"}}, "reserved"},
		{"a module path with a space", scaffold.Options{Name: "mine", Module: "example.com/a b", Source: source}, `module path "example.com/a b"`},
		{"a development build without its source", scaffold.Options{Name: "mine", Version: "(devel)"}, "development build"},
		{"a build of a commit", scaffold.Options{Name: "mine", Version: "v1.0.1-0.20261203120000-76450ef89d85"}, "development build"},
		{"a build of a dirty tree", scaffold.Options{Name: "mine", Version: "v1.0.0+dirty"}, "development build"},
		{"a source that is not Ringmaster", scaffold.Options{Name: "mine", Source: other}, "is the module example.com/other, not Ringmaster"},
		{"a source that is no module", scaffold.Options{Name: "mine", Source: t.TempDir()}, "go.mod: no such file"},
	} {
		if _, err := scaffold.Files(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.desc, err, tc.want)
		}
	}
	var ne *host.NameError
	if _, err := scaffold.Files(scaffold.Options{Name: "Mine", Source: source}); !errors.As(err, &ne) {
		t.Errorf("a bad name: %T, want a *host.NameError", err)
	}
}

func TestFilesOfARelease(t *testing.T) {
	files, err := scaffold.Files(scaffold.Options{Name: "mdm", Module: "example.org/x/mdm", Version: "v1.4.0"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range files {
		got[f.Path] = string(f.Data)
	}
	if _, ok := got["go.sum"]; ok {
		t.Error("a module of a release has a go.sum copied from nowhere")
	}
	for path, want := range map[string]string{
		"go.mod":      "module example.org/x/mdm\n\ngo " + strings.TrimPrefix(runtime.Version(), "go") + "\n\nrequire github.com/ringmaster-fleet/ringmaster v1.4.0\n",
		"main.go":     "sdk.Serve(New())",
		"executor.go": `sdk.Info{Name: "mdm", Version: version`,
		".gitignore":  "/ringmaster-executor-mdm\n",
	} {
		if !strings.Contains(got[path], want) {
			t.Errorf("%s lacks %q:\n%s", path, want, got[path])
		}
	}
	if strings.Contains(got["go.mod"], "replace") {
		t.Errorf("a module of a release replaces Ringmaster:\n%s", got["go.mod"])
	}
}

func TestWriteNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	mine := []byte("package main // the author's work\n")
	os.WriteFile(filepath.Join(dir, "executor.go"), mine, 0o644)
	_, err := scaffold.Write(dir, scaffold.Options{Name: "mine", Source: source})
	var exists *scaffold.ExistsError
	if !errors.As(err, &exists) || exists.Path != filepath.Join(dir, "executor.go") {
		t.Fatalf("Write over an author's file: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if b, _ := os.ReadFile(filepath.Join(dir, "executor.go")); string(b) != string(mine) || len(entries) != 1 {
		t.Errorf("the refused Write wrote %d files, executor.go now %q", len(entries), b)
	}
	fresh := filepath.Join(t.TempDir(), "new", "mine")
	files, err := scaffold.Write(fresh, scaffold.Options{Name: "mine", Source: source})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if b, err := os.ReadFile(filepath.Join(fresh, f.Path)); err != nil || string(b) != string(f.Data) {
			t.Errorf("%s: %v", f.Path, err)
		}
	}
	gomod, _ := os.ReadFile(filepath.Join(fresh, "go.mod"))
	if !strings.Contains(string(gomod), "replace github.com/ringmaster-fleet/ringmaster => "+source) ||
		!strings.Contains(string(gomod), "github.com/hashicorp/go-plugin v") {
		t.Errorf("go.mod against the source:\n%s", gomod)
	}
}
