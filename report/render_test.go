package report

import (
	"bytes"
	"encoding/csv"
	"slices"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// TestCSVNeutralisesFormulas writes a report whose organisation name is a
// spreadsheet formula: the CSV form quotes it, the raw form keeps it.
func TestCSVNeutralisesFormulas(t *testing.T) {
	target, _, _ := inventory.ParseVersion("10.0.19045")
	evil := `=cmd|' /C calc'!A0`
	b := NewProgress([]inventory.Organisation{{Code: "RAA", Name: evil}}, ProgressOptions{TargetBuild: target, Now: now})
	b.Add(dev("a1", "RAA", "10.0.19045", now, now), nil)
	for _, tt := range []struct{ format, want string }{{FormatCSV, "'" + evil}, {FormatRawCSV, evil}} {
		var out bytes.Buffer
		if err := WriteProgress(&out, b.Build(), tt.format); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&out).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) < 2 || !slices.Contains(rows[1], tt.want) {
			t.Errorf("%s: rows %q, want the name as %q", tt.format, rows, tt.want)
		}
	}
}
