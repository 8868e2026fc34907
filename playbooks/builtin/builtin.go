package builtin

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/ringmaster-fleet/ringmaster/playbooks"
)

//go:embed *.yaml
var files embed.FS

// Names lists the built-in playbooks, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".") // an embedded directory always reads
	var out []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Source returns a built-in playbook's YAML as shipped.
func Source(name string) ([]byte, error) {
	b, err := files.ReadFile(name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no built-in playbook %q (built-in: %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Get parses a built-in playbook.
func Get(name string) (*playbooks.Playbook, error) {
	b, err := Source(name)
	if err != nil {
		return nil, err
	}
	return playbooks.Parse(path.Join("builtin", name+".yaml"), b)
}
