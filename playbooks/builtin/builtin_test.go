package builtin

import (
	"strings"
	"testing"
)

func TestEveryBuiltinIsValid(t *testing.T) {
	names := Names()
	if len(names) == 0 {
		t.Fatal("no built-in playbooks embedded")
	}
	for _, n := range names {
		pb, err := Get(n)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if pb.Name != n || pb.Description == "" {
			t.Errorf("%s: name %q, description %q: want the file's name and a description", n, pb.Name, pb.Description)
		}
	}
	if _, err := Get("nope"); err == nil || !strings.Contains(err.Error(), "discover") {
		t.Errorf("unknown playbook: err = %v, want one listing the built-ins", err)
	}
}
