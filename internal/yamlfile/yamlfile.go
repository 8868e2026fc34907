// Package yamlfile decodes the YAML files operators write (playbooks,
// campaigns) strictly, and reports every problem with the file and line it
// is on, so that one bad field does not hide the others.
package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// Problem is one thing wrong in a file, at a line.
type Problem struct {
	File string
	Line int
	Msg  string
}

func (p Problem) String() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg) }

// Error lists every problem found in a file. What names the kind of file
// ("playbook", "campaign").
type Error struct {
	What     string
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "invalid " + e.What + ":\n  " + strings.Join(lines, "\n  ")
}

// Unwrap makes every problem in a file an errkind.Invalid: the file is
// at fault.
func (e *Error) Unwrap() error { return errkind.Invalid }

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// MaxMappingKeys bounds the keys of any one mapping in a file. yaml.v3
// checks a mapping for duplicate keys by comparing every pair, so a file of
// a few MB holding one huge mapping would take minutes of CPU to decode; no
// file an operator writes comes near this.
const MaxMappingKeys = 1000

// Decode decodes data into v, refusing unknown fields, and returns the
// document's root mapping node for line look-ups. Problems come back as an
// *Error naming file and lines. A mapping of more than MaxMappingKeys keys
// is refused before it is decoded.
func Decode(what, file string, data []byte, v any) (*yaml.Node, error) {
	return DecodeLimit(what, file, data, v, MaxMappingKeys)
}

// DecodeLimit is Decode with another bound on a mapping's keys, for a kind
// of file whose own, tighter limits on its lists say more than a count of
// keys would (an alert allows 10,000 updates under supersedence and says so
// itself; the bound here must be above that, so its message is the one
// seen). The decode costs time quadratic in maxKeys.
func DecodeLimit(what, file string, data []byte, v any, maxKeys int) (*yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{What: what, Problems: []Problem{problem(file, err)}}
	}
	if ps := oversized(file, &root, "", maxKeys); len(ps) > 0 {
		return nil, &Error{What: what, Problems: ps}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			var ps []Problem
			for _, e := range te.Errors {
				ps = append(ps, problem(file, errors.New(e)))
			}
			return nil, &Error{What: what, Problems: ps}
		}
		return nil, &Error{What: what, Problems: []Problem{problem(file, err)}}
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	return doc, nil
}

// oversized reports the mappings under n with more than MaxMappingKeys
// keys; path is n's place in the document ("windows.orgs", "waves[2]").
func oversized(file string, n *yaml.Node, path string, maxKeys int) []Problem {
	var ps []Problem
	switch n.Kind {
	case yaml.MappingNode:
		if keys := len(n.Content) / 2; keys > maxKeys {
			where := path
			if where == "" {
				where = "the document"
			}
			return []Problem{{File: file, Line: n.Line, Msg: fmt.Sprintf("%s: %d keys, at most %d", where, keys, maxKeys)}}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if path != "" {
				key = path + "." + key
			}
			ps = append(ps, oversized(file, n.Content[i+1], key, maxKeys)...)
		}
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			p := path
			if n.Kind == yaml.SequenceNode {
				p = fmt.Sprintf("%s[%d]", path, i)
			}
			ps = append(ps, oversized(file, c, p, maxKeys)...)
		}
	}
	return ps
}

// problem turns a yaml.v3 error ("yaml: line 3: ...") into a Problem.
func problem(file string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &line)
		msg = m[2]
	}
	if f, _, ok := strings.Cut(msg, " not found in type"); ok && strings.HasPrefix(f, "field ") {
		msg = "unknown field " + strings.TrimPrefix(f, "field ")
	}
	return Problem{File: file, Line: line, Msg: msg}
}

// Value returns the value node of key in a mapping node, or nil.
func Value(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// KeyLine is the line of key in a mapping node, or the node's own line
// when the key is absent (1 for a nil node).
func KeyLine(n *yaml.Node, key string) int {
	if n == nil {
		return 1
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return n.Line
}

// Items returns the item nodes of the sequence under key, or nil.
func Items(n *yaml.Node, key string) []*yaml.Node {
	if v := Value(n, key); v != nil && v.Kind == yaml.SequenceNode {
		return v.Content
	}
	return nil
}
