package format_test

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
)

var now = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

func readAll(t *testing.T, r inventory.RecordSource) []inventory.Record {
	t.Helper()
	var out []inventory.Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
}

func TestCanonicalColumn(t *testing.T) {
	for header, want := range map[string]string{
		"Name": "hostname", "DNS Host Name": "hostname", "operating_system": "os_caption",
		"Operating System": "os_caption", "Build": "os_build", "ODS Code": "org",
		"Free Space (MB)": "disk_free_mb", "Last Activity": "last_seen", "HOSTNAME": "hostname",
	} {
		if got, ok := format.CanonicalColumn(header); !ok || got != want {
			t.Errorf("CanonicalColumn(%q) = %q, %v; want %q", header, got, ok, want)
		}
	}
	if _, ok := format.CanonicalColumn("Client"); ok {
		t.Error("Client should not map to a column")
	}
}

func TestCSVPositionsAndPresence(t *testing.T) {
	src := "Name,Org,Site,Notes\n" +
		"PC1.RXX.NHS.UK,rxx,\"Leeds\nGeneral\",x\n" +
		"pc2.rxx.nhs.uk,RXX,,y\n"
	r, err := format.NewCSVReader(strings.NewReader(src), "d.csv", now)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Ignored(); len(got) != 1 || got[0] != "Notes" {
		t.Errorf("ignored %v", got)
	}
	recs := readAll(t, r)
	if len(recs) != 2 || recs[0].Pos.Line != 2 || recs[1].Pos.Line != 4 {
		t.Fatalf("records at %v, %v", recs[0].Pos, recs[1].Pos)
	}
	d := recs[0].Device
	if d.Hostname != "pc1.rxx.nhs.uk" || d.Org != "RXX" || d.Site != "Leeds\nGeneral" {
		t.Errorf("device %+v", d)
	}
	if !recs[1].Present.Has(inventory.FieldSite) || recs[1].Present.Has(inventory.FieldLabels) {
		t.Error("presence of columns not recorded")
	}
}

func TestJSONLineNumbers(t *testing.T) {
	src := "\n\n[\n  {\"hostname\": \"pc1.rxx.nhs.uk\", \"org\": \"RXX\"},\n  {\n    \"hostname\": \"pc2.rxx.nhs.uk\",\n    \"org\": \"RXX\",\n    \"disk_free_gb\": \"lots\"\n  }\n]\n"
	r, err := format.NewJSONReader(strings.NewReader(src), "d.json", now)
	if err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, r)
	if len(recs) != 2 || recs[0].Pos.Line != 4 || recs[1].Pos.Line != 5 {
		t.Fatalf("records at %+v", recs)
	}
	if len(recs[1].Errs) != 1 || recs[1].Errs[0].Pos.Line != 8 || recs[1].Errs[0].Field != "disk_free_gb" {
		t.Fatalf("errors %v", recs[1].Errs)
	}
}

// TestAppendJSONIsValidJSON writes hostile text and reads it back.
func TestAppendJSONIsValidJSON(t *testing.T) {
	hostile := "Leeds \"General\"\\\n\t\x01 <b>&amp; \xff café '; Remove-Item C:\\ -Recurse; '"
	d := inventory.Device{Hostname: "pc1.rxx.nhs.uk", Org: "RXX", Site: hostile, Labels: inventory.Labels{"ring": "pilot"}}
	if err := d.Facts.Set(inventory.FactModel, "Opti\"Plex\"", now); err != nil {
		t.Fatal(err)
	}
	b := format.AppendJSON(nil, &d)
	var back struct {
		Site  string `json:"site"`
		Facts map[string]struct {
			Value string `json:"value"`
		} `json:"facts"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	if want := strings.ToValidUTF8(hostile, "\uFFFD"); back.Site != want || back.Facts["model"].Value != `Opti"Plex"` {
		t.Errorf("round trip: site %q model %q", back.Site, back.Facts["model"].Value)
	}
}
