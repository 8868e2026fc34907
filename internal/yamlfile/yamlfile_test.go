package yamlfile

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestDecodeBoundsMappings: a mapping of more than MaxMappingKeys keys is
// refused before yaml.v3 compares every pair of its keys, with its line
// and place in the document; one of MaxMappingKeys decodes.
func TestDecodeBoundsMappings(t *testing.T) {
	mapping := func(indent string, n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "%sk%d: %d\n", indent, i, i)
		}
		return b.String()
	}
	tests := []struct {
		name string
		src  string
		want string // the problem; "" when it decodes
	}{
		{"at the bound", "a:\n" + mapping("  ", MaxMappingKeys), ""},
		{"a nested mapping", "a:\n" + mapping("  ", MaxMappingKeys+1), "f.yaml:2: a: 1001 keys, at most 1000"},
		{"in a list", "a:\n  - x: 1\n  - " + strings.TrimPrefix(mapping("    ", MaxMappingKeys+1), "    "), "f.yaml:3: a[1]: 1001 keys, at most 1000"},
		{"the document", mapping("", MaxMappingKeys+1), "f.yaml:1: the document: 1001 keys, at most 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v map[string]any
			_, err := Decode("test", "f.yaml", []byte(tt.src), &v)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ye *Error
			if !errors.As(err, &ye) || len(ye.Problems) != 1 || ye.Problems[0].String() != tt.want {
				t.Fatalf("err = %v, want the one problem %s", err, tt.want)
			}
			if v != nil {
				t.Errorf("decoded %d keys, want nothing", len(v))
			}
		})
	}
}
