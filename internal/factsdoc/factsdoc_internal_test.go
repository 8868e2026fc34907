package factsdoc

import (
	"testing"

	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// TestFactValuesCoverEveryFact keeps factValues in step with inventory.
func TestFactValuesCoverEveryFact(t *testing.T) {
	var v factValues
	if got, want := len(v.byFact()), len(inventory.AllFacts()); got != want {
		t.Fatalf("factValues has %d facts, inventory has %d", got, want)
	}
}
