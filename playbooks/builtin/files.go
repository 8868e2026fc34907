package builtin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ringmaster-fleet/ringmaster/internal/inputfile"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
)

// Files resolves playbook references: a playbook file, read under the
// size limit, else a built-in playbook by name.
type Files struct {
	Limit inputfile.Limit
}

// Source reads the playbook ref refers to: the file ref, or, when there
// is no such file and ref looks like a name (no '/', '\' or '.'), the
// built-in playbook of that name. It returns where the YAML came from
// (ref, or "builtin/NAME.yaml") and the YAML. Its signature is
// campaigns.Playbooks'.
func (f Files) Source(ref string) (file string, src []byte, err error) {
	data, err := f.Limit.ReadFile(ref)
	if errors.Is(err, fs.ErrNotExist) && !strings.ContainsAny(ref, `/\.`) {
		src, err := Source(ref)
		return "builtin/" + ref + ".yaml", src, err
	}
	return ref, data, err
}

// Load reads and parses the playbook ref refers to (see Source).
func (f Files) Load(ref string) (*playbooks.Playbook, error) {
	file, src, err := f.Source(ref)
	if err != nil {
		return nil, err
	}
	return playbooks.Parse(file, src)
}

// Checked is a playbook file as Validate found it: parsed, or invalid
// with every problem and its line.
type Checked struct {
	File     string
	Playbook *playbooks.Playbook // nil when invalid
	Err      error               // why it is invalid
}

// Steps counts the playbook's steps in every phase.
func (c Checked) Steps() int {
	if c.Playbook == nil {
		return 0
	}
	return len(c.Playbook.Steps) + len(c.Playbook.OnFailure) + len(c.Playbook.Verify)
}

// Validate reads and checks each playbook file in turn. A file that
// cannot be read stops it: it returns what it checked before and the
// error. An invalid playbook is a result, not an error.
func (f Files) Validate(files []string) ([]Checked, error) {
	out := make([]Checked, 0, len(files))
	for _, file := range files {
		data, err := f.Limit.ReadFile(file)
		if err != nil {
			return out, err
		}
		pb, err := playbooks.Parse(file, data)
		out = append(out, Checked{File: file, Playbook: pb, Err: err})
	}
	return out, nil
}

// ExistsError is a file Export will not overwrite; it wraps fs.ErrExist.
type ExistsError struct {
	Path string
}

func (e *ExistsError) Error() string {
	return e.Path + " already exists; it is never overwritten"
}

// Unwrap makes errors.Is(err, fs.ErrExist) true.
func (e *ExistsError) Unwrap() error { return fs.ErrExist }

// Export writes the built-in playbook name as DIR/NAME.yaml, creating
// dir if needed, and returns the file's path. An existing file is never
// overwritten (an *ExistsError); a failed write leaves no file.
func Export(name, dir string) (string, error) {
	src, err := Source(name)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, name+".yaml")
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return "", &ExistsError{Path: dst}
	}
	if err != nil {
		return "", err
	}
	if _, err := f.Write(src); err != nil {
		f.Close()
		os.Remove(dst)
		return "", fmt.Errorf("write %s: %w", dst, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(dst)
		return "", fmt.Errorf("write %s: %w", dst, err)
	}
	return dst, nil
}
