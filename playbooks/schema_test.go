package playbooks

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestSchemaMatchesTypes keeps schema.json in step with the Go types: every
// YAML field of each type is a property of its schema object and back.
func TestSchemaMatchesTypes(t *testing.T) {
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
		Defs       map[string]struct {
			Properties map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(Schema, &s); err != nil {
		t.Fatalf("schema.json: %v", err)
	}
	fields := func(v any) []string {
		var out []string
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			tag, _, _ := strings.Cut(rt.Field(i).Tag.Get("yaml"), ",")
			if tag != "" && tag != "-" {
				out = append(out, tag)
			}
		}
		slices.Sort(out)
		return out
	}
	keys := func(m map[string]json.RawMessage) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	stepProps := s.Defs["step"].Properties
	checks := []struct {
		name       string
		got, types []string
	}{
		{"playbook", keys(s.Properties), fields(Playbook{})},
		{"expect", keys(stepProps["expect"].Properties), fields(Expect{})},
		{"register", keys(stepProps["register"].Properties), fields(Register{})},
		{"retries", keys(stepProps["retries"].Properties), fields(Retries{})},
		{"wait_until", keys(stepProps["wait_until"].Properties), fields(WaitUntil{})},
	}
	var stepKeys []string
	for k := range stepProps {
		stepKeys = append(stepKeys, k)
	}
	slices.Sort(stepKeys)
	checks = append(checks, struct {
		name       string
		got, types []string
	}{"step", stepKeys, fields(Step{})})
	for _, c := range checks {
		if !slices.Equal(c.got, c.types) {
			t.Errorf("%s: schema has %v, the Go type %v", c.name, c.got, c.types)
		}
	}
}
