package format_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
)

// seeds adds the import test files of store/sqlite (good and bad) and
// extra inputs to a fuzz target's corpus.
func seeds(f *testing.F, pattern string, extra ...string) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "store", "sqlite", "testdata", "*", pattern))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil && len(b) < 64<<10 {
			f.Add(b)
		}
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

// accepted reads every record of a file that an import would accept: no
// parse error and no problem with its declared fields. It stops at a
// file-level error, and after 1000 records.
func accepted(r inventory.RecordSource) []inventory.Device {
	var out []inventory.Device
	for range 1000 {
		rec, err := r.Next()
		if err != nil {
			return out
		}
		if len(rec.Errs) == 0 && len(rec.Device.Problems()) == 0 {
			out = append(out, rec.Device)
		}
	}
	return out
}

// checkFileError fails unless err is io.EOF or an error an operator can
// act on: a *FileError with a line, or a read error.
func checkFileError(t *testing.T, err error) {
	var fe *format.FileError
	if err != nil && !errors.Is(err, io.EOF) && errors.As(err, &fe) && fe.Pos.Line < 1 {
		t.Fatalf("file error without a line: %v", err)
	}
}

// sameDevice compares what a file carries of a device. CSV keeps one
// observation time for all facts, and cannot tell "no updates installed"
// from "updates unknown", so csv compares fact values only and treats an
// empty update list as unknown.
func sameDevice(t *testing.T, got, want *inventory.Device, csv bool) {
	t.Helper()
	if got.Hostname != want.Hostname || got.Address != want.Address || got.Org != want.Org || got.Site != want.Site ||
		got.Credential != want.Credential || !got.Labels.Equal(want.Labels) || !got.LastSeen.Equal(want.LastSeen) {
		t.Fatalf("declared fields changed in a round trip:\n got %+v\nwant %+v", got, want)
	}
	for _, f := range inventory.AllFacts() {
		gk, wk := got.Facts.Known(f), want.Facts.Known(f)
		if csv && f == inventory.FactKBs && len(want.Facts.KBs) == 0 {
			continue
		}
		if gk != wk || got.Facts.Value(f) != want.Facts.Value(f) || (!csv && !got.Facts.ObservedAt[f].Equal(want.Facts.ObservedAt[f])) {
			t.Fatalf("fact %s changed in a round trip: got %v %q at %v, want %v %q at %v", f,
				gk, got.Facts.Value(f), got.Facts.ObservedAt[f], wk, want.Facts.Value(f), want.Facts.ObservedAt[f])
		}
	}
}

// FuzzReadCSV reads arbitrary bytes as an inventory CSV: it must never
// panic, and every record an import would accept must come back the same
// after export to CSV (neutralised for spreadsheets) and import again.
func FuzzReadCSV(f *testing.F) {
	seeds(f, "*.csv",
		"hostname,org,site,labels\npc1.rxx.nhs.uk,RXX,\"=cmd|' /C calc'!A0\",ring=pilot\n",
		"Name,ODS Code,Operating System,Build,Free Space (MB),Last Activity\nPC1,RXX,Microsoft Windows 10 Enterprise,10.0.19045.3803,20480,2026-11-01\n",
		"hostname;org;site\npc1.rxx.nhs.uk;RXX;'@x\n",
		"\xef\xbb\xbfhostname,org,kbs,os_caption\r\npc1,RXX,KB1234567;kb7654321,\"''+x\"\r\n",
		"hostname,org,site\npc1.rxx.nhs.uk,RXX,\"Leeds\nGeneral\"\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := format.NewCSVReader(bytes.NewReader(data), "f.csv", now)
		if err != nil {
			checkFileError(t, err)
			return
		}
		devices := accepted(r)
		if len(devices) == 0 {
			return
		}
		var b bytes.Buffer
		w, err := format.NewWriter(format.CSV, &b)
		if err != nil {
			t.Fatal(err)
		}
		for i := range devices {
			if err := w.Write(&devices[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		back, err := format.NewCSVReader(&b, "export.csv", now)
		if err != nil {
			t.Fatalf("export unreadable: %v\n%s", err, b.String())
		}
		for i := range devices {
			rec, err := back.Next()
			if err != nil || len(rec.Errs) > 0 || len(rec.Device.Problems()) > 0 {
				t.Fatalf("exported device %d read back with %v %v %v", i, err, rec.Errs, rec.Device.Problems())
			}
			sameDevice(t, &rec.Device, &devices[i], true)
		}
	})
}

// FuzzReadJSON reads arbitrary bytes as a JSON array or NDJSON inventory:
// it must never panic, and every record an import would accept must come
// back the same, observation times included, after export and import.
func FuzzReadJSON(f *testing.F) {
	seeds(f, "*.json*",
		`{"hostname":"pc1.rxx.nhs.uk","org":"RXX","site":"Leeds","labels":{"ring":"pilot"},"facts":{"os_build":{"value":"10.0.19045","observed_at":"2026-11-01T09:00:00Z"},"kbs":{"value":[],"observed_at":"2026-11-01T09:00:00Z"}},"last_seen":"2026-11-01T09:00:00Z"}`+"\n",
		`[{"Name":"PC1","Org":"rxx","disk_free_mb":20480,"ubr":3803,"os_build":"10.0.19045"}]`,
		`{"hostname":"pc1.rxx.nhs.uk","org":"RXX","site":"a \ud83d\ude00 \ufffd"}`,
		`{"hostname":"pc1.rxx.nhs.uk","org":"RXX","site":"\u001b[2J"}`+"\n"+`{"hostname":"pc2","org":"RXX","model":"x\ud800"}`,
		"[\n]\n", "")
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := format.NewJSONReader(bytes.NewReader(data), "f.json", now)
		if err != nil {
			checkFileError(t, err)
			return
		}
		devices := accepted(r)
		if len(devices) == 0 {
			return
		}
		for _, kind := range []format.Kind{format.NDJSON, format.JSON} {
			var b bytes.Buffer
			w, err := format.NewWriter(kind, &b)
			if err != nil {
				t.Fatal(err)
			}
			for i := range devices {
				if err := w.Write(&devices[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			back, err := format.NewJSONReader(&b, "export.json", now)
			if err != nil {
				t.Fatalf("%s export unreadable: %v\n%s", kind, err, b.String())
			}
			for i := range devices {
				rec, err := back.Next()
				if err != nil || len(rec.Errs) > 0 || len(rec.Device.Problems()) > 0 {
					t.Fatalf("%s: exported device %d read back with %v %v %v", kind, i, err, rec.Errs, rec.Device.Problems())
				}
				sameDevice(t, &rec.Device, &devices[i], false)
			}
		}
	})
}
