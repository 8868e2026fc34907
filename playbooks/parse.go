package playbooks

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"gopkg.in/yaml.v3"

	"github.com/ringmaster-fleet/ringmaster/internal/yamlfile"
)

// Problem is one thing wrong with a playbook, at a line of its file.
type Problem = yamlfile.Problem

// Error lists every problem found in a playbook.
type Error = yamlfile.Error

var (
	identRE    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	paramRefRE = regexp.MustCompile(`\$Params\.([A-Za-z0-9_]+)`)
	itemRefRE  = regexp.MustCompile(`(?i)\$Item\b`)
	versionRE  = regexp.MustCompile(`^\d+\.\d+\.\d+$`)
)

// Parse reads and validates a playbook. Every problem it finds is reported
// with the file and line, in one *Error.
func Parse(file string, data []byte) (*Playbook, error) {
	var pb Playbook
	root, err := yamlfile.Decode("playbook", file, data, &pb)
	if err != nil {
		return nil, err
	}
	pb.File = file
	v := validator{file: file, root: root}
	v.lines(&pb)
	v.playbook(&pb)
	if len(v.problems) > 0 {
		return nil, &Error{What: "playbook", Problems: v.problems}
	}
	return &pb, nil
}

type validator struct {
	file     string
	root     *yaml.Node
	problems []Problem
}

func (v *validator) addf(line int, format string, args ...any) {
	v.problems = append(v.problems, Problem{File: v.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// keyLine is the line of a top-level key (1 if absent).
func (v *validator) keyLine(key string) int { return yamlfile.KeyLine(v.root, key) }

// lines records each param's and step's line from the YAML tree.
func (v *validator) lines(pb *Playbook) {
	for i, n := range yamlfile.Items(v.root, "params") {
		if i < len(pb.Params) {
			pb.Params[i].Line = n.Line
		}
	}
	for _, list := range []struct {
		key   string
		steps []Step
	}{{"steps", pb.Steps}, {"on_failure", pb.OnFailure}, {"verify", pb.Verify}} {
		for i, n := range yamlfile.Items(v.root, list.key) {
			if i < len(list.steps) {
				list.steps[i].Line = n.Line
			}
		}
	}
}

func (v *validator) playbook(pb *Playbook) {
	if !identRE.MatchString(strings.ReplaceAll(pb.Name, "-", "_")) {
		v.addf(v.keyLine("name"), "name %q: want lower-case letters, digits, '-' or '_'", pb.Name)
	}
	if !versionRE.MatchString(pb.Version) {
		v.addf(v.keyLine("version"), "version %q: want MAJOR.MINOR.PATCH", pb.Version)
	}
	if len(pb.Steps) == 0 {
		v.addf(1, "a playbook needs at least one step")
	}
	declared := map[string]Param{}
	for i := range pb.Params {
		p := &pb.Params[i]
		v.param(p)
		if _, dup := declared[p.Name]; dup {
			v.addf(p.Line, "parameter %s declared twice", p.Name)
		}
		declared[p.Name] = *p
	}
	names := map[string]int{}
	for _, list := range [][]Step{pb.Steps, pb.OnFailure, pb.Verify} {
		for i := range list {
			s := &list[i]
			if first, dup := names[s.Name]; dup && s.Name != "" {
				v.addf(s.Line, "step name %q already used at line %d", s.Name, first)
			}
			names[s.Name] = s.Line
			v.step(s, declared)
		}
	}
}

func (v *validator) param(p *Param) {
	if !identRE.MatchString(p.Name) {
		v.addf(p.Line, "parameter name %q: want lower-case letters, digits and '_'", p.Name)
	}
	switch p.Type {
	case TypeString, TypeInt, TypeBool, TypeDuration, TypeList:
	default:
		v.addf(p.Line, "parameter %s: type %q is not one of string, int, bool, duration, list", p.Name, p.Type)
		return
	}
	if p.Pattern != "" {
		re, err := regexp.Compile("^(?:" + p.Pattern + ")$")
		if err != nil || (p.Type != TypeString && p.Type != TypeList) {
			v.addf(p.Line, "parameter %s: pattern %q is not a regular expression for a string or list", p.Name, p.Pattern)
		}
		p.re = re
	}
	if p.Required && p.Default != nil {
		v.addf(p.Line, "parameter %s: required and a default exclude each other", p.Name)
	}
	if p.Default != nil {
		if _, err := p.Convert(p.Default); err != nil {
			v.addf(p.Line, "parameter %s: default %v", p.Name, err)
		}
	}
}

// Convert checks a value against the parameter's type and pattern and
// returns it in its Go form (string, int, bool, time.Duration, []string).
func (p *Param) Convert(val any) (any, error) {
	switch p.Type {
	case TypeString:
		s, ok := val.(string)
		if !ok {
			return nil, fmt.Errorf("%v is not a string", val)
		}
		if p.re != nil && !p.re.MatchString(s) {
			return nil, fmt.Errorf("%q does not match %s", s, p.Pattern)
		}
		return s, nil
	case TypeInt:
		n, ok := val.(int)
		if !ok {
			return nil, fmt.Errorf("%v is not a whole number", val)
		}
		return n, nil
	case TypeBool:
		b, ok := val.(bool)
		if !ok {
			return nil, fmt.Errorf("%v is not true or false", val)
		}
		return b, nil
	case TypeDuration:
		s, _ := val.(string)
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("%v is not a duration such as 90s", val)
		}
		return d, nil
	case TypeList:
		items, ok := val.([]any)
		if !ok {
			return nil, fmt.Errorf("%v is not a list", val)
		}
		out := make([]string, len(items))
		for i, it := range items {
			s, ok := it.(string)
			if !ok || (p.re != nil && !p.re.MatchString(s)) {
				return nil, fmt.Errorf("item %v is not a string matching %s", it, p.Pattern)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown type %s", p.Type)
}

func (v *validator) step(s *Step, declared map[string]Param) {
	if s.Name == "" {
		v.addf(s.Line, "a step needs a name")
	}
	actions := 0
	for _, set := range []bool{s.PowerShell != "", s.Cmd != "", s.Reboot != nil, s.WaitUntil != nil, s.Fail != "", s.Skip != ""} {
		if set {
			actions++
		}
	}
	if actions != 1 {
		v.addf(s.Line, "step %q: give exactly one of powershell, cmd, reboot, wait_until, fail, skip", s.Name)
	}
	for _, script := range []string{s.PowerShell, waitScript(s)} {
		for _, m := range paramRefRE.FindAllStringSubmatch(script, -1) {
			if _, ok := declared[m[1]]; !ok {
				v.addf(s.Line, "step %q: $Params.%s is not a declared parameter", s.Name, m[1])
			}
		}
	}
	if paramRefRE.MatchString(s.Cmd) {
		v.addf(s.Line, "step %q: a cmd script gets no parameters ($Params is PowerShell); use a powershell step", s.Name)
	}
	if itemRefRE.MatchString(s.PowerShell) && s.Loop == "" {
		v.addf(s.Line, "step %q: $Item is set only in a step with a loop", s.Name)
	}
	switch s.RunAs {
	case "":
	case RunAsSystem:
		if s.PowerShell == "" {
			v.addf(s.Line, "step %q: run_as applies to a powershell script", s.Name)
		}
	default:
		v.addf(s.Line, "step %q: run_as %q: the only value is system", s.Name, s.RunAs)
	}
	if s.Loop != "" {
		if s.PowerShell == "" && s.Cmd == "" {
			v.addf(s.Line, "step %q: loop applies to a powershell or cmd script", s.Name)
		}
		v.expression(s, "loop", s.Loop, declared, false, false)
	}
	if s.When != "" {
		v.expression(s, "when", s.When, declared, s.Loop != "", true)
	}
	if s.WaitUntil != nil && s.WaitUntil.Until != "" {
		v.expression(s, "until", s.WaitUntil.Until, declared, false, true)
	}
	if s.Register != nil {
		if !identRE.MatchString(s.Register.Name) {
			v.addf(s.Line, "step %q: register name %q: want lower-case letters, digits and '_'", s.Name, s.Register.Name)
		}
		// In a loop, register alone records each item's exit code and verdict.
		bare := s.Loop != "" && !s.Register.JSON && s.Register.Regex == ""
		if !bare && s.Register.JSON == (s.Register.Regex != "") {
			v.addf(s.Line, "step %q: register with exactly one of json: true or regex", s.Name)
		} else if s.Register.Regex != "" {
			if _, err := regexp.Compile(s.Register.Regex); err != nil {
				v.addf(s.Line, "step %q: register regex: %v", s.Name, err)
			}
		}
	}
	durations := []*Duration{&s.Timeout}
	if s.Retries != nil {
		durations = append(durations, &s.Retries.Backoff)
	}
	if s.Reboot != nil {
		durations = append(durations, &s.Reboot.Timeout)
	}
	if s.WaitUntil != nil {
		durations = append(durations, &s.WaitUntil.Interval, &s.WaitUntil.Timeout)
	}
	for _, d := range durations {
		if msg := d.problem(); msg != "" {
			v.addf(d.line, "step %q: %s", s.Name, msg)
		}
	}
	if s.Retries != nil && s.Retries.Count < 0 {
		v.addf(s.Line, "step %q: retries count must not be negative", s.Name)
	}
	if s.Expect != nil && (s.PowerShell == "" && s.Cmd == "") {
		v.addf(s.Line, "step %q: expect applies to a powershell or cmd script", s.Name)
	}
}

func waitScript(s *Step) string {
	if s.WaitUntil == nil {
		return ""
	}
	return s.WaitUntil.PowerShell
}

// expression compiles one of a step's expressions (when, loop, until) and
// checks every params.X it names. withItem allows item (in a loop's when);
// asBool requires a true-or-false result.
func (v *validator) expression(s *Step, what, src string, declared map[string]Param, withItem, asBool bool) {
	tree, err := parser.Parse(src)
	if err != nil {
		v.addf(s.Line, "step %q: %s %q: %s", s.Name, what, src, firstLine(err.Error()))
		return
	}
	var undefined []string
	ast.Walk(&tree.Node, visitor(func(n ast.Node) {
		m, ok := n.(*ast.MemberNode)
		if !ok {
			return
		}
		id, ok := m.Node.(*ast.IdentifierNode)
		prop, ok2 := m.Property.(*ast.StringNode)
		if ok && ok2 && id.Value == "params" {
			if _, known := declared[prop.Value]; !known && !slices.Contains(undefined, prop.Value) {
				undefined = append(undefined, prop.Value)
			}
		}
	}))
	for _, u := range undefined {
		v.addf(s.Line, "step %q: %s names params.%s, which is not declared", s.Name, what, u)
	}
	env := map[string]any{"params": map[string]any{}, "facts": map[string]any{}}
	if withItem {
		env["item"] = ""
	}
	opts := []expr.Option{expr.Env(env)}
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	if _, err := expr.Compile(src, opts...); err != nil && len(undefined) == 0 {
		v.addf(s.Line, "step %q: %s %q: %s", s.Name, what, src, firstLine(err.Error()))
	}
}

type visitor func(ast.Node)

func (f visitor) Visit(n *ast.Node) { f(*n) }

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
