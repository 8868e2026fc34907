package scheduler

import (
	"testing"

	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
)

const parsedSpec = `name: c
playbook: win10-feature-update
params: {media_source: '\\dp01\media$\Win10_22H2'}
target: 'build<10.0.19045'
waves: [{name: all}]
`

// TestParsedCache checks that devices of one campaign share one parse while
// its stored text stays the same, that a changed spec or playbook is parsed
// again, and that a spec or playbook that does not parse gives its error
// every time.
func TestParsedCache(t *testing.T) {
	pbSrc, err := builtin.Source("win10-feature-update")
	if err != nil {
		t.Fatal(err)
	}
	base := orchestrator.Campaign{Name: "c", SpecFile: "c.yaml", Spec: parsedSpec, PlaybookFile: "builtin/win10-feature-update.yaml", Playbook: string(pbSrc)}
	amended := base
	amended.Spec += "# amended\n"
	badSpec := base
	badSpec.Name, badSpec.Spec = "bad-spec", "name: [\n"
	badPB := base
	badPB.Name, badPB.Playbook = "bad-pb", "steps: 7\n"
	var p parsedCache
	first := p.get(base, playbooks.Parse)
	if first.specErr != nil || first.pbErr != nil {
		t.Fatalf("parse: %v, %v", first.specErr, first.pbErr)
	}
	tests := []struct {
		name          string
		c             orchestrator.Campaign
		same          bool // the very parse of base
		specErr, pbEr bool
	}{
		{"same text again", base, true, false, false},
		{"a copy of the same text", func() orchestrator.Campaign { c := base; c.Spec = string([]byte(base.Spec)); return c }(), true, false, false},
		{"amended spec", amended, false, false, false},
		{"a spec that does not parse", badSpec, false, true, false},
		{"a playbook that does not parse", badPB, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 {
				got := p.get(tt.c, playbooks.Parse)
				if (got.specErr != nil) != tt.specErr || (got.pbErr != nil) != tt.pbEr {
					t.Fatalf("spec error %v, playbook error %v", got.specErr, got.pbErr)
				}
				if tt.same && (got.parsedSpec != first.parsedSpec || got.parsedPB != first.parsedPB) {
					t.Fatal("parsed again though the stored text is the same")
				}
				if !tt.same && !tt.specErr && got.parsedSpec == first.parsedSpec {
					t.Fatal("the parse of other text was reused")
				}
			}
		})
	}
}
