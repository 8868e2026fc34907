package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
)

// Playbooks is what the API reads of the playbooks it offers by name
// (builtin.Library is one): never a path a caller names.
type Playbooks interface {
	List() ([]builtin.Entry, error)
	Source(name string) (file string, src []byte, err error)
}

// Playbook is a playbook as the API lists and shows it.
type Playbook struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description"`
	// Source is "builtin", "site" (a file in the server's playbook
	// directory) or, from validate, "submitted"; Shadows says a site's
	// file takes a built-in's name.
	Source  string          `json:"source" jsonschema:"enum=builtin,enum=site,enum=submitted"`
	Shadows bool            `json:"shadows_builtin,omitempty"`
	Params  []PlaybookParam `json:"params"`
	Steps   int             `json:"steps" jsonschema:"description=steps in every phase (steps, on_failure, verify)"`
	// YAML is the playbook as written; in show only.
	YAML string `json:"yaml,omitempty"`
	// Problem says why a file in the playbook directory does not parse;
	// the other fields but Name and Source are then empty.
	Problem string `json:"problem,omitempty"`
}

// PlaybookParam is one of a playbook's typed parameters.
type PlaybookParam struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Default     any    `json:"default,omitempty"`
	Required    bool   `json:"required,omitempty"`
	Pattern     string `json:"pattern,omitempty"`
}

// PlaybookCheck is what validating a playbook found.
type PlaybookCheck struct {
	Valid bool `json:"valid"`
	// Playbook is the parsed playbook, when valid.
	Playbook *Playbook `json:"playbook,omitempty"`
	// Problems are every problem found, each with its file and line.
	Problems []PlaybookProblem `json:"problems"`
}

// PlaybookProblem is one problem of a playbook file.
type PlaybookProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

func playbookOf(e builtin.Entry, pb *playbooks.Playbook) Playbook {
	out := Playbook{Name: e.Name, Source: "site", Shadows: e.Shadows, Params: []PlaybookParam{}}
	if e.Builtin {
		out.Source = "builtin"
	}
	if pb == nil {
		return out
	}
	out.Version, out.Description = pb.Version, pb.Description
	out.Steps = len(pb.Steps) + len(pb.OnFailure) + len(pb.Verify)
	for _, p := range pb.Params {
		out.Params = append(out.Params, PlaybookParam{Name: p.Name, Type: string(p.Type), Description: p.Description, Default: p.Default, Required: p.Required, Pattern: p.Pattern})
	}
	return out
}

// problemsOf lists a parse error's problems, or the error itself.
func problemsOf(file string, err error) []PlaybookProblem {
	var pe *playbooks.Error
	if !errors.As(err, &pe) {
		return []PlaybookProblem{{File: file, Message: err.Error()}}
	}
	out := make([]PlaybookProblem, len(pe.Problems))
	for i, p := range pe.Problems {
		out[i] = PlaybookProblem{File: p.File, Line: p.Line, Message: p.Msg}
	}
	return out
}

func (s *Server) playbookRoutes() {
	lib := s.cfg.Playbooks
	entry := func(name string) (builtin.Entry, error) {
		all, err := lib.List()
		if err != nil {
			return builtin.Entry{}, err
		}
		for _, e := range all {
			if e.Name == name {
				return e, nil
			}
		}
		_, _, err = lib.Source(name) // its error says why: not a name, or none such
		if err == nil {
			err = fmt.Errorf("playbook %q is not listed", name)
		}
		return builtin.Entry{}, err
	}
	handle(s, Op{ID: "playbooks-list", Method: "GET", Path: "/api/v1/playbooks", Summary: "List the playbooks campaigns may name: the built-in ones and the site's own", Tag: "playbooks", Role: access.Viewer},
		func(ctx context.Context, c *Call, in *struct {
			After string `query:"after" doc:"the cursor of the page before (its next): a playbook's name"`
			Limit int    `query:"limit" doc:"playbooks in a page: 1 to 1000, default 500"`
		}) (List[Playbook], error) {
			all, err := lib.List()
			if err != nil {
				return List[Playbook]{}, err
			}
			page, next, err := pageOf(all, in.After, in.Limit, func(e builtin.Entry) string { return e.Name })
			if err != nil {
				return List[Playbook]{}, err
			}
			out := make([]Playbook, 0, len(page))
			for _, e := range page {
				file, src, err := lib.Source(e.Name)
				if err != nil {
					return List[Playbook]{}, err
				}
				pb, err := playbooks.Parse(file, src)
				p := playbookOf(e, pb)
				if err != nil {
					p.Problem = err.Error()
				}
				out = append(out, p)
			}
			return List[Playbook]{Items: out, Next: next}, nil
		})
	handle(s, Op{ID: "playbook-show", Method: "GET", Path: "/api/v1/playbooks/{name}", Summary: "Show a playbook: its parameters, its steps counted, and its YAML", Tag: "playbooks", Role: access.Viewer},
		func(ctx context.Context, c *Call, in *struct {
			Name string `path:"name"`
		}) (Playbook, error) {
			e, err := entry(in.Name)
			if err != nil {
				return Playbook{}, err
			}
			file, src, err := lib.Source(e.Name)
			if err != nil {
				return Playbook{}, err
			}
			pb, err := playbooks.Parse(file, src)
			p := playbookOf(e, pb)
			p.YAML = string(src)
			if err != nil {
				p.Problem = err.Error()
			}
			return p, nil
		})
	type validateIn struct {
		Body struct {
			File string `json:"file,omitempty" jsonschema:"description=a name for the playbook in problems (default playbook.yaml)"`
			YAML string `json:"yaml" jsonschema:"description=the playbook (YAML)"`
		}
	}
	handle(s, Op{ID: "playbook-validate", Method: "POST", Path: "/api/v1/playbooks/validate", Summary: "Check a playbook; every problem is given with its line (nothing is stored)", Tag: "playbooks", Role: access.Viewer},
		func(ctx context.Context, c *Call, in *validateIn) (PlaybookCheck, error) {
			file := in.Body.File
			if file == "" {
				file = "playbook.yaml"
			}
			if in.Body.YAML == "" {
				return PlaybookCheck{}, &BadRequestError{Where: "body field yaml", Err: errors.New("the playbook is empty")}
			}
			pb, err := playbooks.Parse(file, []byte(in.Body.YAML))
			if err != nil {
				return PlaybookCheck{Problems: problemsOf(file, err)}, nil
			}
			p := playbookOf(builtin.Entry{Name: pb.Name}, pb)
			p.Source = "submitted"
			return PlaybookCheck{Valid: true, Playbook: &p, Problems: []PlaybookProblem{}}, nil
		})
}
