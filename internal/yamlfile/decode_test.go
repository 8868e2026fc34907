package yamlfile

import (
	"errors"
	"strings"
	"testing"
)

type sample struct {
	Name  string         `yaml:"name"`
	Count int            `yaml:"count"`
	Items []string       `yaml:"items"`
	Opts  map[string]int `yaml:"opts"`
}

// TestDecode: a good file decodes; every problem comes back as a
// *Error with the file and the line it is on, all of them, not only the
// first.
func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // problems, as file:line: text fragments; none when it decodes
	}{
		{name: "good", src: "name: a\ncount: 2\nitems: [x, y]\nopts: {k: 1}\n"},
		{name: "unknown field", src: "name: a\ncolour: red\n", want: []string{"c.yaml:2: ", "colour"}},
		{name: "two type errors", src: "name: a\ncount: many\nopts: {k: lots}\n", want: []string{"c.yaml:2: ", "c.yaml:3: "}},
		{name: "syntax", src: "name: a\n  count: 2\n", want: []string{"c.yaml:2: "}},
		{name: "tab indentation", src: "name: a\n\tcount: 2\n", want: []string{"c.yaml:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v sample
			root, err := Decode("campaign", "c.yaml", []byte(tt.src), &v)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if v.Name != "a" || v.Count != 2 || len(v.Items) != 2 || v.Opts["k"] != 1 || root == nil {
					t.Fatalf("decoded %+v, root %v", v, root)
				}
				return
			}
			var ye *Error
			if !errors.As(err, &ye) || ye.What != "campaign" {
				t.Fatalf("err = %v, want a *yamlfile.Error for a campaign", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "invalid campaign:") {
				t.Errorf("error %q does not say what kind of file", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

// TestLookups: Value, KeyLine and Items find keys in the root mapping and
// give the lines problems are reported at.
func TestLookups(t *testing.T) {
	var v sample
	root, err := Decode("campaign", "c.yaml", []byte("name: a\ncount: 2\nitems:\n  - x\n  - y\nopts:\n  k: 1\n"), &v)
	if err != nil {
		t.Fatal(err)
	}
	if got := KeyLine(root, "items"); got != 3 {
		t.Errorf("KeyLine(items) = %d, want 3", got)
	}
	if got := KeyLine(root, "missing"); got != root.Line {
		t.Errorf("KeyLine(missing) = %d, want the mapping's own line %d", got, root.Line)
	}
	if got := KeyLine(nil, "name"); got != 1 {
		t.Errorf("KeyLine(nil) = %d, want 1", got)
	}
	items := Items(root, "items")
	if len(items) != 2 || items[1].Line != 5 || items[1].Value != "y" {
		t.Errorf("Items(items) = %v", items)
	}
	if n := Value(root, "opts"); n == nil || KeyLine(n, "k") != 7 {
		t.Errorf("Value(opts) = %v", n)
	}
	if Value(root, "missing") != nil || Items(root, "missing") != nil {
		t.Error("a missing key gave a node")
	}
}
