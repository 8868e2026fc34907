package playbooks

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParsePlaybook parses arbitrary bytes as a playbook: never a panic;
// a refusal is an *Error listing problems, each at a line of the file; and
// a playbook that parses can take its parameters' defaults.
func FuzzParsePlaybook(f *testing.F) {
	for _, pattern := range []string{"testdata/*/*.yaml", "builtin/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	for _, s := range []string{
		"name: x\nversion: 1.0.0\ndescription: d\nsteps:\n  - name: s\n    powershell: Write-Output $Params.p\nparams:\n  - {name: p, type: string, default: a, pattern: '[a-z]+'}\n",
		"name: x\nversion: 1.0.0\ndescription: d\nsteps:\n  - {name: s, when: 'facts.a > 1', fail: 'r: m'}\n",
		"a: &a [*a]\n", "- - - -", "name: [", "\x00", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pb, err := Parse("f.yaml", data)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || len(pe.Problems) == 0 {
				t.Fatalf("error %v: want an *Error with problems", err)
			}
			for _, p := range pe.Problems {
				if p.File != "f.yaml" || p.Line < 0 || p.Msg == "" {
					t.Fatalf("problem %+v: want the file, a line and a message", p)
				}
			}
			return
		}
		defaults := map[string]any{}
		for _, p := range pb.Params {
			if p.Required {
				return // no value to give it
			}
		}
		values, err := pb.Values(defaults)
		if err != nil {
			t.Fatalf("a parsed playbook refuses its own defaults: %v", err)
		}
		if _, err := ParamsPreamble(values); err != nil {
			t.Fatalf("defaults cannot be passed to a script: %v", err)
		}
	})
}
