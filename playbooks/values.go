package playbooks

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Values checks the caller's parameter values against the playbook's
// declarations and fills in defaults. Every problem is reported, each
// naming its parameter.
func (pb *Playbook) Values(given map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(pb.Params))
	var errs []error
	declared := make(map[string]bool, len(pb.Params))
	for i := range pb.Params {
		p := &pb.Params[i]
		declared[p.Name] = true
		v, ok := given[p.Name]
		if !ok {
			if p.Required {
				errs = append(errs, fmt.Errorf("parameter %s is required", p.Name))
				continue
			}
			if p.Default == nil {
				continue
			}
			v = p.Default
		}
		c, err := p.Convert(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("parameter %s: %w", p.Name, err))
			continue
		}
		out[p.Name] = c
	}
	for k := range given {
		if !declared[k] {
			errs = append(errs, fmt.Errorf("parameter %s is not declared by playbook %s", k, pb.Name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("playbook %s: %w", pb.Name, err)
	}
	return out, nil
}

// ParseValues reads parameter values written as text (a command line's
// --param k=v) into the forms Values accepts: ints and bools parsed, lists
// split on commas, durations and strings kept as written. Every problem
// is reported, each naming its parameter.
func (pb *Playbook) ParseValues(raw map[string]string) (map[string]any, error) {
	types := make(map[string]ParamType, len(pb.Params))
	for _, p := range pb.Params {
		types[p.Name] = p.Type
	}
	out := make(map[string]any, len(raw))
	var errs []error
	for k, s := range raw {
		switch types[k] {
		case TypeInt:
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				errs = append(errs, fmt.Errorf("parameter %s: %q is not a whole number", k, s))
				continue
			}
			out[k] = n
		case TypeBool:
			b, err := strconv.ParseBool(strings.TrimSpace(s))
			if err != nil {
				errs = append(errs, fmt.Errorf("parameter %s: %q is not true or false", k, s))
				continue
			}
			out[k] = b
		case TypeList:
			var items []any
			for _, it := range strings.Split(s, ",") {
				if it = strings.TrimSpace(it); it != "" {
					items = append(items, it)
				}
			}
			out[k] = items
		default: // strings, durations, and undeclared names (Values reports those)
			out[k] = s
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("playbook %s: %w", pb.Name, err)
	}
	return out, nil
}
