package scaffold

import (
	"bufio"
	"bytes"
	"embed"
	"errors"
	"fmt"
	"go/format"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"text/template"

	"github.com/ringmaster-fleet/ringmaster/plugins/host"
)

// RingmasterModule is the module path of Ringmaster, whose plugins/sdk a
// plugin builds on.
const RingmasterModule = "github.com/ringmaster-fleet/ringmaster"

// develVersion is the version a replaced requirement is written with.
const develVersion = "v0.0.0-00010101000000-000000000000"

//go:embed template/*.tmpl
var templates embed.FS

// Options say what to write.
type Options struct {
	// Name is the executor's name, as Info reports it and plugin install
	// registers it (lower-case letters, digits, - and _).
	Name string
	// Module is the new module's path (default
	// example.com/ringmaster-executor-NAME).
	Module string
	// Source is a Ringmaster source checkout to build against (a replace
	// directive), or "" to require Version from the module proxy.
	Source string
	// Version is the Ringmaster release to require without Source.
	Version string
	// Reserved are names no plugin may take (the built-in executors').
	Reserved []string
}

// File is one file written.
type File struct {
	Path string // relative to the module's directory
	Data []byte
}

// ExistsError is a directory that already holds a file the skeleton would
// write: nothing is written over an author's work.
type ExistsError struct{ Path string }

func (e *ExistsError) Error() string {
	return e.Path + " already exists: write the skeleton into a new or empty directory"
}

// Files returns the skeleton's files for o, or an error naming what in o
// is wrong.
func Files(o Options) ([]File, error) {
	if err := host.CheckName(o.Name, o.Reserved...); err != nil {
		return nil, err
	}
	data := struct {
		Options
		Binary, GoVersion, RingmasterModule, RingmasterVersion string
		Requires                                               []string
	}{Options: o, Binary: "ringmaster-executor-" + o.Name, RingmasterModule: RingmasterModule, RingmasterVersion: o.Version,
		GoVersion: strings.TrimPrefix(runtime.Version(), "go")}
	if data.Module == "" {
		data.Module = "example.com/" + data.Binary
	}
	if strings.ContainsAny(data.Module, " \t\r\n\"'`") {
		return nil, fmt.Errorf("module path %q: no spaces or quotes", data.Module)
	}
	var goSum []byte
	switch {
	case o.Source != "":
		src, err := filepath.Abs(o.Source)
		if err != nil {
			return nil, err
		}
		data.Source, data.RingmasterVersion = src, develVersion
		gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
		if err != nil {
			return nil, fmt.Errorf("the Ringmaster source %s: %w", src, err)
		}
		module, goVersion, requires, err := parseGoMod(gomod)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(src, "go.mod"), err)
		}
		if module != RingmasterModule {
			return nil, fmt.Errorf("%s is the module %s, not Ringmaster (%s)", src, module, RingmasterModule)
		}
		data.GoVersion, data.Requires = goVersion, requires
		if goSum, err = os.ReadFile(filepath.Join(src, "go.sum")); err != nil {
			return nil, fmt.Errorf("the Ringmaster source %s: %w", src, err)
		}
	case !isRelease(o.Version):
		return nil, &DevelopmentError{Version: o.Version}
	}
	var files []File
	for _, f := range []struct{ tmpl, path string }{
		{"go.mod.tmpl", "go.mod"}, {"main.go.tmpl", "main.go"}, {"executor.go.tmpl", "executor.go"},
		{"executor_test.go.tmpl", "executor_test.go"}, {"README.md.tmpl", "README.md"}, {"gitignore.tmpl", ".gitignore"},
	} {
		t, err := template.ParseFS(templates, "template/"+f.tmpl)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, data); err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
		out := b.Bytes()
		if strings.HasSuffix(f.path, ".go") {
			if out, err = format.Source(out); err != nil {
				return nil, fmt.Errorf("%s: %w", f.path, err)
			}
		}
		files = append(files, File{Path: f.path, Data: out})
	}
	if goSum != nil {
		files = append(files, File{Path: "go.sum", Data: goSum})
	}
	return files, nil
}

// Write writes the skeleton into dir (created if need be) and returns the
// files written. It writes nothing if any of them exists already (an
// *ExistsError).
func Write(dir string, o Options) ([]File, error) {
	files, err := Files(o)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Path)
		if _, err := os.Lstat(p); err == nil {
			return nil, &ExistsError{Path: p}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, f := range files {
		p := filepath.Join(dir, f.Path)
		if err := writeNew(p, f.Data); err != nil {
			for _, w := range written { // no half-written skeleton, which a second try would refuse
				os.Remove(w)
			}
			return nil, err
		}
		written = append(written, p)
	}
	return files, nil
}

// writeNew writes a file that must not exist yet (O_EXCL: one that
// appeared since Write's check is not written over); a failed write
// leaves no file.
func writeNew(p string, data []byte) error {
	w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// DevelopmentError is a Ringmaster built from source rather than released:
// no module can require its version, so a module must build against the
// checkout (Options.Source).
type DevelopmentError struct{ Version string }

func (e *DevelopmentError) Error() string {
	return fmt.Sprintf("this Ringmaster (version %q) is a development build, not a release a module can require: build against its source checkout", e.Version)
}

// pseudoRE finds a pseudo-version's timestamp and commit
// (v1.0.1-0.20261203120000-76450ef89d85): a build of a commit, not a
// release.
var pseudoRE = regexp.MustCompile(`\d{14}-[0-9a-f]{12}`)

// isRelease reports whether v is a released version a module can require:
// a semantic version, not "(devel)", a pseudo-version or one with build
// metadata ("+dirty").
func isRelease(v string) bool {
	return strings.HasPrefix(v, "v") && !strings.Contains(v, "+") && !pseudoRE.MatchString(v)
}

// parseGoMod reads the module path, the go version and every requirement
// ("path version") of a go.mod.
func parseGoMod(b []byte) (module, goVersion string, requires []string, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	inRequire := false
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "//")
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case inRequire && f[0] == ")":
			inRequire = false
		case inRequire:
			if len(f) != 2 {
				return "", "", nil, fmt.Errorf("line %d: want a requirement, PATH VERSION", n)
			}
			requires = append(requires, f[0]+" "+f[1])
		case f[0] == "module" && len(f) == 2:
			module = strings.Trim(f[1], `"`)
		case f[0] == "go" && len(f) == 2:
			goVersion = f[1]
		case f[0] == "require" && len(f) == 2 && f[1] == "(":
			inRequire = true
		case f[0] == "require" && len(f) == 3:
			requires = append(requires, f[1]+" "+f[2])
		}
	}
	if module == "" || goVersion == "" {
		return "", "", nil, errors.New("no module or go line")
	}
	return module, goVersion, requires, sc.Err()
}
