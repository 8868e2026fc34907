package estate_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/estate"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

func TestLabel(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		hosts   []string
		sel     string
		changes []string
		err     error
		missing []string
		changed int
		labels  string // of pc1 after
		history string // pc1's, newest first
	}{
		{name: "by hostname, any case", hosts: []string{"PC1.RXX.NHS.UK"}, changes: []string{"ring=pilot", "excluded=true"},
			changed: 1, labels: "excluded=true;ring=pilot", history: "excluded=true (added) by ops; ring=pilot (added) by ops"},
		{name: "by selector", sel: "org=RXX", changes: []string{"wave=w1"}, changed: 2, labels: "wave=w1", history: "wave=w1 (added) by ops"},
		{name: "a host not held changes nothing", hosts: []string{"pc1.rxx.nhs.uk", "nope.rxx.nhs.uk"}, changes: []string{"ring=pilot"},
			err: errkind.NotFound, missing: []string{"nope.rxx.nhs.uk"}},
		{name: "a change written wrong", sel: "org=RXX", changes: []string{"ring"}, err: errkind.Invalid},
		{name: "a key changed twice", sel: "org=RXX", changes: []string{"ring=a", "ring-"}, err: errkind.Invalid},
		{name: "no change", sel: "org=RXX", err: errkind.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := seeded(t)
			changes, err := inventory.ParseLabelChanges(tt.changes)
			if err == nil {
				var res inventory.LabelResult
				res, err = estate.Label(ctx, s, pick(t, tt.hosts, tt.sel), tt.hosts, changes, "ops")
				if len(res.Changed) != tt.changed {
					t.Errorf("changed %v, want %d", res.Changed, tt.changed)
				}
			}
			var me *estate.MissingError
			switch {
			case tt.err == nil && err != nil:
				t.Fatal(err)
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Fatalf("err = %v, want %v", err, tt.err)
			case tt.missing != nil && (!errors.As(err, &me) || strings.Join(me.Hosts, ",") != strings.Join(tt.missing, ",")):
				t.Fatalf("err = %v, want missing %v", err, tt.missing)
			}
			d, err := estate.ShowDevice(ctx, s, "pc1.rxx.nhs.uk")
			if err != nil {
				t.Fatal(err)
			}
			var h []string
			for _, e := range d.LabelChanges {
				h = append(h, e.String()+" by "+e.Actor)
			}
			if d.Device.Labels.String() != tt.labels || strings.Join(h, "; ") != tt.history {
				t.Errorf("pc1: labels %q history %q; want %q and %q", d.Device.Labels, h, tt.labels, tt.history)
			}
		})
	}
	if _, err := estate.ShowDevice(ctx, seeded(t), "nope.rxx.nhs.uk"); !errors.Is(err, errkind.NotFound) {
		t.Errorf("show an unknown device: %v, want errkind.NotFound", err)
	}
}
