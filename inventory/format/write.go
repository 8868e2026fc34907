package format

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/safecsv"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Kind is a file format.
type Kind string

// File formats.
const (
	CSV    Kind = "csv"
	JSON   Kind = "json"   // one array of objects
	NDJSON Kind = "ndjson" // one object per line
)

// KindFromName picks a format from a file name's extension, or "" if unknown.
func KindFromName(name string) Kind {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv", ".txt":
		return CSV
	case ".json":
		return JSON
	case ".ndjson", ".jsonl":
		return NDJSON
	}
	return ""
}

// Reader is a source of import records that may have ignored columns.
type Reader interface {
	inventory.RecordSource
	// Ignored lists the columns that mean nothing here.
	Ignored() []string
	// Notes says how the header was read where a choice was made, such
	// as "using Name0 for hostname; ignoring Netbios_Name0".
	Notes() []string
}

// Option changes how a reader or writer treats a file.
type Option func(*options)

type options struct {
	rawCSV bool
	org    string
	dates  DateFormat
}

func collect(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return o
}

// RawCSV(true) writes and reads CSV cells exactly as they are. By default
// a writer neutralises a cell a spreadsheet would run as a formula (one
// starting with = + - @, a tab or a carriage return) with a leading single
// quote, and a reader removes exactly that quote again, so an export reads
// back unchanged either way (see internal/safecsv). Raw output is for
// other programs: opened in a spreadsheet, a hostile name can run as a
// formula. It has no effect on JSON.
func RawCSV(raw bool) Option { return func(o *options) { o.rawCSV = raw } }

// DefaultOrg gives every record without an organisation this one: a file
// with no organisation column, or a blank cell in one. Where a record
// names its organisation, that wins: one export may cover several.
func DefaultOrg(code string) Option {
	return func(o *options) { o.org = inventory.NormaliseOrgCode(code) }
}

// Dates reads a file's dates (last_seen, observed_at, and JSON's flat
// fields) in the format f, then as ISO 8601.
func Dates(f DateFormat) Option { return func(o *options) { o.dates = f } }

// NewReader returns a streaming reader for the given format.
func NewReader(kind Kind, r io.Reader, name string, now time.Time, opts ...Option) (Reader, error) {
	switch kind {
	case CSV:
		return NewCSVReader(r, name, now, opts...)
	case JSON, NDJSON:
		return NewJSONReader(r, name, now, opts...)
	}
	return nil, fmt.Errorf("%s: unknown format %q (want csv, json or ndjson)", name, kind)
}

// Ignored is always empty for JSON: unknown fields are errors there.
func (j *JSONReader) Ignored() []string { return nil }

// Notes is always empty for JSON: two fields giving one column are errors
// there.
func (j *JSONReader) Notes() []string { return nil }

// Writer writes devices in one format. Close flushes and ends the document.
type Writer interface {
	Write(d *inventory.Device) error
	Close() error
}

// NewWriter returns a writer of the given format. CSV cells that a
// spreadsheet would run as formulas are neutralised unless RawCSV(true).
func NewWriter(kind Kind, w io.Writer, opts ...Option) (Writer, error) {
	switch kind {
	case CSV:
		cw := safecsv.NewWriter(w)
		cw.Raw = collect(opts).rawCSV
		if err := cw.Write(Columns); err != nil {
			return nil, err
		}
		return &csvWriter{w: cw, row: make([]string, len(Columns))}, nil
	case JSON, NDJSON:
		bw := bufio.NewWriterSize(w, 64<<10)
		return &jsonWriter{w: bw, array: kind == JSON}, nil
	}
	return nil, fmt.Errorf("unknown format %q (want csv, json or ndjson)", kind)
}

type csvWriter struct {
	w   *safecsv.Writer
	row []string
}

// Write writes one row. Facts share one observed_at column: the oldest
// observation, so a round trip never makes a fact look fresher than it is.
func (c *csvWriter) Write(d *inventory.Device) error {
	f := &d.Facts
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	ubr := f.Value(inventory.FactUBR)
	c.row = append(c.row[:0], d.Hostname, d.Address, d.Org, d.Site, d.Labels.String(), d.Credential,
		f.Value(inventory.FactManufacturer), f.Value(inventory.FactModel), f.Value(inventory.FactSerial),
		f.Value(inventory.FactOSCaption), f.Value(inventory.FactOSEdition), f.Value(inventory.FactOSBuild),
		ubr, f.Value(inventory.FactKBs), f.Value(inventory.FactDiskFreeGB), f.Value(inventory.FactRAMGB),
		ts(d.LastSeen), ts(f.Oldest()))
	return c.w.Write(c.row)
}

func (c *csvWriter) Close() error {
	c.w.Flush()
	return c.w.Error()
}

type jsonWriter struct {
	w     *bufio.Writer
	buf   []byte
	array bool
	n     int
}

func (j *jsonWriter) Write(d *inventory.Device) error {
	if j.array {
		sep := ",\n"
		if j.n == 0 {
			sep = "[\n"
		}
		if _, err := j.w.WriteString(sep); err != nil {
			return err
		}
	}
	j.n++
	j.buf = AppendJSON(j.buf[:0], d)
	_, err := j.w.Write(j.buf)
	if err == nil && !j.array {
		err = j.w.WriteByte('\n')
	}
	return err
}

func (j *jsonWriter) Close() error {
	if j.array {
		end := "\n]\n"
		if j.n == 0 {
			end = "[]\n"
		}
		if _, err := j.w.WriteString(end); err != nil {
			return err
		}
	}
	return j.w.Flush()
}
