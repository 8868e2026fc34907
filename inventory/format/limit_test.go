package format_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
)

// endless is a file that starts with head and then never ends: the
// reader must give up without reading it all.
type endless struct {
	head string
	fill byte
	read int64
}

func (e *endless) Read(p []byte) (int, error) {
	n := copy(p, e.head)
	e.head = e.head[n:]
	for i := n; i < len(p); i++ {
		p[i] = e.fill
	}
	e.read += int64(len(p))
	return len(p), nil
}

// TestLongRecordsAreRefused reads files whose record at line 4 is too long
// (or never ends): the records before it are read, then the reader stops
// with an error naming that line, having read little more than the limit.
func TestLongRecordsAreRefused(t *testing.T) {
	big := strings.Repeat("a", format.MaxRecordBytes+10)
	manyLines := strings.Repeat("a\n", format.MaxRecordBytes/2+10)
	csvHead := "hostname,org,site\npc1.rxx.nhs.uk,RXX,Leeds\npc2.rxx.nhs.uk,RXX,York\n"
	ndjsonHead := `{"hostname":"pc1.rxx.nhs.uk","org":"RXX"}` + "\n" + `{"hostname":"pc2.rxx.nhs.uk","org":"RXX"}` + "\n\n"
	arrayHead := "[\n" + `{"hostname":"pc1.rxx.nhs.uk","org":"RXX"},` + "\n" + `{"hostname":"pc2.rxx.nhs.uk","org":"RXX"},` + "\n  "
	tests := []struct {
		name string
		kind format.Kind
		file io.Reader
		good int // records read before the refusal
		line int
	}{
		{"csv: a long line", format.CSV, strings.NewReader(csvHead + "pc3.rxx.nhs.uk,RXX," + big + "\npc4.rxx.nhs.uk,RXX,York\n"), 2, 4},
		{"csv: a quoted cell over many lines", format.CSV, strings.NewReader(csvHead + "pc3.rxx.nhs.uk,RXX,\"" + manyLines + "\"\n"), 2, 4},
		{"csv: a line that never ends", format.CSV, &endless{head: csvHead + "pc3.rxx.nhs.uk,RXX,", fill: 'a'}, 2, 4},
		{"csv: a header that never ends", format.CSV, &endless{head: "hostname,org,", fill: 'x'}, 0, 1},
		{"ndjson: a long line", format.NDJSON, strings.NewReader(ndjsonHead + `{"hostname":"pc3.rxx.nhs.uk","site":"` + big + `"}` + "\n"), 2, 4},
		{"ndjson: a line that never ends", format.NDJSON, &endless{head: ndjsonHead + `{"hostname":"pc3.rxx.nhs.uk","site":"`, fill: 'a'}, 2, 4},
		{"ndjson: white space that never ends", format.NDJSON, &endless{head: ndjsonHead + `{"hostname":`, fill: ' '}, 2, 4},
		{"json: an object that never ends", format.JSON, &endless{head: arrayHead + `{"hostname":"pc3.rxx.nhs.uk","site":"`, fill: 'a'}, 2, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := format.NewReader(tt.kind, tt.file, "big."+string(tt.kind), now)
			n := 0
			for err == nil {
				var rec inventory.Record
				if rec, err = r.Next(); err == nil {
					if len(rec.Errs) > 0 {
						t.Fatalf("record %d: %v", n+1, rec.Errs)
					}
					n++
				}
			}
			var fe *format.FileError
			if !errors.As(err, &fe) || !errors.Is(err, errkind.Invalid) || fe.Pos.Line != tt.line || n != tt.good {
				t.Fatalf("after %d records: %v; want %d records, then a *FileError at line %d", n, err, tt.good, tt.line)
			}
			if !strings.Contains(err.Error(), "record longer than the limit") {
				t.Errorf("error %q", err)
			}
			if e, ok := tt.file.(*endless); ok && e.read > 3*format.MaxRecordBytes {
				t.Errorf("read %d bytes of an endless file before refusing it", e.read)
			}
		})
	}
}

// TestLongRecordsBelowTheLimitAreRead checks that the limit does not
// bite early: records just under it, many of them, read whole.
func TestLongRecordsBelowTheLimitAreRead(t *testing.T) {
	site := strings.Repeat("a", format.MaxRecordBytes-100)
	var csvFile, ndjson strings.Builder
	csvFile.WriteString("hostname,org,site\n")
	for range 5 {
		csvFile.WriteString("pc1.rxx.nhs.uk,RXX," + site + "\n")
		ndjson.WriteString(`{"hostname":"pc1.rxx.nhs.uk","org":"RXX","site":"` + site + `"}` + "\n")
	}
	for kind, src := range map[format.Kind]string{format.CSV: csvFile.String(), format.NDJSON: ndjson.String()} {
		r, err := format.NewReader(kind, strings.NewReader(src), "f", now)
		if err != nil {
			t.Fatal(err)
		}
		recs := readAll(t, r)
		if len(recs) != 5 || recs[4].Device.Site != site {
			t.Errorf("%s: %d records", kind, len(recs))
		}
	}
}

// TestNDJSONRefusesInvalidUTF8 checks that NDJSON refuses what CSV refuses,
// naming the line and field, where encoding/json would replace it.
func TestNDJSONRefusesInvalidUTF8(t *testing.T) {
	src := `{"hostname":"pc1.rxx.nhs.uk","org":"RXX","site":"ok \ufffd and ` + "\uFFFD" + `"}` + "\n" +
		`{"hostname":"pc2.rxx.nhs.uk","org":"RXX","site":"bad ` + "\xff" + `"}` + "\n" +
		`{"hostname":"pc3.rxx.nhs.uk","org":"RXX","site":"half a pair \ud83d"}` + "\n" +
		`{"hostname":"pc4.rxx.nhs.uk","org":"RXX","site":"a pair \ud83d\ude00"}` + "\n" +
		`{"hostname":"pc5.rxx.nhs.uk","org":"RXX","labels":{"ring":"pi` + "\xff" + `lot"}}` + "\n"
	r, err := format.NewJSONReader(strings.NewReader(src), "d.ndjson", now)
	if err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, r)
	bad := map[int]string{2: "site", 3: "site", 5: "labels"}
	for i, rec := range recs {
		field, want := bad[i+1]
		switch {
		case !want && len(rec.Errs) > 0:
			t.Errorf("line %d: %v", i+1, rec.Errs)
		case want && (len(rec.Errs) != 1 || rec.Errs[0].Field != field || rec.Errs[0].Pos.Line != i+1 || !strings.Contains(rec.Errs[0].Error(), "not UTF-8")):
			t.Errorf("line %d: %v, want one error naming the field %s", i+1, rec.Errs, field)
		}
	}
	if recs[0].Device.Site != "ok \ufffd and \ufffd" || recs[3].Device.Site != "a pair 😀" {
		t.Errorf("sites %q, %q", recs[0].Device.Site, recs[3].Device.Site)
	}
}

// TestMalformedRowWithoutCells is the row FuzzReadCSV found crashing the
// reader: a bare quote in the first cell leaves a malformed row with no
// cells, whose position the reader asked for anyway.
func TestMalformedRowWithoutCells(t *testing.T) {
	r, err := format.NewCSVReader(strings.NewReader("hostname,org\n0\"0,RXX\npc2.rxx.nhs.uk,RXX\n"), "f.csv", now)
	if err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, r)
	if len(recs) != 2 || len(recs[0].Errs) != 1 || recs[0].Pos.Line != 2 || recs[1].Device.Hostname != "pc2.rxx.nhs.uk" {
		t.Fatalf("records %+v", recs)
	}
}

// TestIgnoredHeadersAreShownSafely checks the header names the CLI lists
// as ignored: one with a terminal escape, or a long one, is listed quoted
// and cut short.
func TestIgnoredHeadersAreShownSafely(t *testing.T) {
	long := strings.Repeat("x", 100)
	r, err := format.NewCSVReader(strings.NewReader("hostname,org,Notes,\"Evil\x1b[2J\","+long+"\n"), "f.csv", now)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Notes", `"Evil\x1b[2J"`, `"` + strings.Repeat("x", 64) + `"… (100 bytes)`}
	if got := r.Ignored(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("ignored %q, want %q", got, want)
	}
}
