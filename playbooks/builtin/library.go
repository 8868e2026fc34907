package builtin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/inputfile"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
)

// Library is the playbooks a server offers by name: NAME.yaml in Dir (a
// site's own, when Dir is set), else the built-in playbook NAME. Unlike
// Files it never reads a path a caller gives: a reference that is not a
// name is refused, so an API caller cannot make the server read a file
// of its choosing.
type Library struct {
	Dir   string
	Limit inputfile.Limit
}

// Entry is one playbook a Library offers.
type Entry struct {
	Name string
	// File is where its YAML is: DIR/NAME.yaml, or builtin/NAME.yaml.
	File    string
	Builtin bool
	// Shadows says a file in Dir takes the name of a built-in playbook.
	Shadows bool
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// NameError is a playbook reference that is not a name a Library
// resolves. It wraps errkind.Invalid.
type NameError struct{ Ref string }

func (e *NameError) Error() string {
	return fmt.Sprintf("playbook %q: give a playbook's name (letters, digits, '-' and '_'), built in or in the server's playbook directory; a server reads no path a caller names", e.Ref)
}

// Unwrap makes errors.Is(err, errkind.Invalid) hold.
func (e *NameError) Unwrap() error { return errkind.Invalid }

// NotFoundError is a name the Library holds no playbook under. It wraps
// errkind.NotFound.
type NotFoundError struct {
	Name  string
	Names []string // what it does hold
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no playbook %q (there are: %s)", e.Name, strings.Join(e.Names, ", "))
}

// Unwrap makes errors.Is(err, errkind.NotFound) hold.
func (e *NotFoundError) Unwrap() error { return errkind.NotFound }

// List gives every playbook the Library offers, by name. A file in Dir
// whose name is not a playbook name is left out.
func (l Library) List() ([]Entry, error) {
	byName := map[string]Entry{}
	for _, n := range Names() {
		byName[n] = Entry{Name: n, File: "builtin/" + n + ".yaml", Builtin: true}
	}
	if l.Dir != "" {
		des, err := os.ReadDir(l.Dir)
		if err != nil {
			return nil, fmt.Errorf("playbook directory: %w", err)
		}
		for _, de := range des {
			n, ok := strings.CutSuffix(de.Name(), ".yaml")
			if !ok || de.IsDir() || !nameRE.MatchString(n) {
				continue
			}
			_, shadows := byName[n]
			byName[n] = Entry{Name: n, File: filepath.Join(l.Dir, de.Name()), Shadows: shadows}
		}
	}
	out := make([]Entry, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Source reads the playbook named ref: DIR/REF.yaml, else the built-in
// REF. It returns where the YAML came from and the YAML. Its signature is
// campaigns.Playbooks'.
func (l Library) Source(ref string) (file string, src []byte, err error) {
	if !nameRE.MatchString(ref) {
		return "", nil, &NameError{Ref: ref}
	}
	if l.Dir != "" {
		file = filepath.Join(l.Dir, ref+".yaml")
		data, err := l.Limit.ReadFile(file)
		if err == nil {
			return file, data, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", nil, err
		}
	}
	src, err = Source(ref)
	if err != nil {
		names := Names()
		if all, lerr := l.List(); lerr == nil {
			names = names[:0]
			for _, e := range all {
				names = append(names, e.Name)
			}
		}
		return "", nil, &NotFoundError{Name: ref, Names: names}
	}
	return "builtin/" + ref + ".yaml", src, nil
}

// Load reads and parses the playbook named ref (see Source).
func (l Library) Load(ref string) (*playbooks.Playbook, error) {
	file, src, err := l.Source(ref)
	if err != nil {
		return nil, err
	}
	return playbooks.Parse(file, src)
}
