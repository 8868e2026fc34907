package format

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/safecsv"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// FileError reports a problem with a whole file: its header or its syntax.
type FileError struct {
	Pos inventory.Position
	Msg string
}

func (e *FileError) Error() string { return fmt.Sprintf("%s: %s", e.Pos, e.Msg) }

// Unwrap makes file errors match errkind.Invalid.
func (e *FileError) Unwrap() error { return errkind.Invalid }

// CSVReader streams devices from a CSV file with a header row.
type CSVReader struct {
	name    string
	r       *csv.Reader
	index   []colID // canonical column per file column (-1 = ignored)
	b       rowBuilder
	ignored []string
	notes   []string
	cells   cells
	raw     bool // keep cells as written: no safecsv.Restore
	lines   *lineCounter
	bom     int64 // bytes of byte order mark before what the CSV reader sees
}

// NewCSVReader reads the header and returns a reader of the rows. Headers
// match case-insensitively, ignoring spaces and punctuation, and common
// export headers (Name, Operating System, Build ...) are mapped; unknown
// columns are ignored and listed by Ignored. The delimiter is ',' unless the
// header has none and has ';' (as spreadsheets in some locales write).
// Facts without an observed_at or last_seen cell count as observed at now.
// A leading single quote that an export added to neutralise a formula is
// removed, unless RawCSV(true).
func NewCSVReader(r io.Reader, name string, now time.Time, opts ...Option) (*CSVReader, error) {
	// The CSV reader holds a record and at most a buffer of what follows:
	// reading a buffer more than the limit past the last record means the
	// record is over the limit.
	const bufSize = 64 << 10
	lc := &lineCounter{r: r, limit: MaxRecordBytes + bufSize}
	br := bufio.NewReaderSize(lc, bufSize)
	var skipped int64
	// Drop a UTF-8 byte order mark, as Excel writes.
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
		skipped = 3
	}
	lc.setMark(skipped)
	first, _ := br.Peek(4096)
	line, _, _ := bytes.Cut(first, []byte("\n"))
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	if !bytes.ContainsRune(line, ',') && bytes.ContainsRune(line, ';') {
		cr.Comma = ';'
	}
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &FileError{Pos: inventory.Position{File: name, Line: 1}, Msg: "empty file: want a header row naming the columns"}
	}
	o := collect(opts)
	c := &CSVReader{name: name, r: cr, raw: o.rawCSV, lines: lc, bom: skipped}
	if err := c.checkLength(err); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	c.index = make([]colID, len(header))
	c.b = newRowBuilder("column", now, o)
	at := map[string]int{} // canonical -> the file column giving it
	for i, h := range header {
		c.index[i] = -1
		canon, ok := CanonicalColumn(h)
		if !ok {
			if strings.TrimSpace(h) != "" {
				c.ignored = append(c.ignored, echoHeader(h))
			}
			continue
		}
		if prev, dup := c.b.columns[canon]; dup {
			// The header of the earlier tier wins; one tier is ambiguous.
			pt, ht := headerTier(prev), headerTier(h)
			if pt == ht {
				return nil, &FileError{Pos: inventory.Position{File: name, Line: 1},
					Msg: fmt.Sprintf("columns %s and %s both give %s: keep one", inventory.QuoteValue(prev), inventory.QuoteValue(h), canon)}
			}
			use, skip := prev, h
			if ht < pt {
				use, skip = h, prev
				c.index[at[canon]] = -1
				c.b.columns[canon], at[canon] = h, i
				c.index[i] = idOf(canon)
			}
			c.notes = append(c.notes, fmt.Sprintf("using %s for %s; ignoring %s", echoHeader(use), canon, echoHeader(skip)))
			continue
		}
		c.b.columns[canon], at[canon] = h, i
		c.index[i] = idOf(canon)
	}
	for _, req := range []string{inventory.FieldHostname, inventory.FieldOrg} {
		if req == inventory.FieldOrg && c.b.org != "" {
			continue // DefaultOrg gives every row one
		}
		if _, ok := c.b.columns[req]; !ok {
			msg := fmt.Sprintf("no %s column (accepted headers: %s)", req, strings.Join(aliasesOf(req), ", "))
			if req == inventory.FieldOrg {
				msg += "; or give the organisation of every row (--org CODE)"
			}
			return nil, &FileError{Pos: inventory.Position{File: name, Line: 1}, Msg: msg}
		}
	}
	cr.FieldsPerRecord = len(header)
	return c, nil
}

// maxEchoHeader is the longest ignored header listed as it is; a longer
// one, or one with control characters, is listed as inventory.QuoteValue
// renders it.
const maxEchoHeader = 64

// echoHeader is a header as shown to the operator: as it is, or quoted
// when it holds control characters or runs on.
func echoHeader(h string) string {
	if inventory.CheckText(h, maxEchoHeader) != nil {
		return inventory.QuoteValue(h)
	}
	return h
}

// Ignored lists the header names that map to no column.
func (c *CSVReader) Ignored() []string { return c.ignored }

// Notes lists the choices made reading the header: which of two columns
// giving one field is used, by the preference fieldAliases states.
func (c *CSVReader) Notes() []string { return c.notes }

// checkLength turns the limit reader's error into a refusal naming the
// record's line, refuses a record read whole but over MaxRecordBytes, and
// marks where the next record starts.
func (c *CSVReader) checkLength(err error) error {
	// A record starts where the last one ended (on the next line, unless
	// blank lines come between).
	if errors.Is(err, errRecordTooLong) {
		return c.lines.tooLong(c.name, c.lines.mark)
	}
	end := c.bom + c.r.InputOffset()
	if end-c.lines.mark > MaxRecordBytes {
		return c.lines.tooLong(c.name, c.lines.mark)
	}
	c.lines.setMark(end)
	return nil
}

// Next returns the next row as a record; problems with the row are in
// Record.Errs. It returns io.EOF after the last row.
func (c *CSVReader) Next() (inventory.Record, error) {
	row, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return inventory.Record{}, io.EOF
	}
	if err := c.checkLength(err); err != nil {
		return inventory.Record{}, err
	}
	if err != nil {
		var pe *csv.ParseError
		if !errors.As(err, &pe) {
			return inventory.Record{}, fmt.Errorf("read %s: %w", c.name, err)
		}
		if !errors.Is(pe.Err, csv.ErrFieldCount) {
			// The row could not be split into cells: report it and go on.
			msg := fmt.Errorf("malformed CSV: %v at character %d", pe.Err, pe.Column)
			if pe.Line != pe.StartLine {
				msg = fmt.Errorf("malformed CSV: %v (the row runs on to line %d, character %d)", pe.Err, pe.Line, pe.Column)
			}
			return inventory.Record{Pos: inventory.Position{File: c.name, Line: pe.StartLine}, Noun: "column",
				Errs: []*inventory.RowError{{Pos: inventory.Position{File: c.name, Line: pe.StartLine}, Err: msg}}}, nil
		}
		return inventory.Record{Pos: inventory.Position{File: c.name, Line: pe.StartLine}, Noun: "column",
			Errs: []*inventory.RowError{{Pos: inventory.Position{File: c.name, Line: pe.StartLine},
				Err: fmt.Errorf("row has %d cells, the header has %d", len(row), len(c.index))}}}, nil
	}
	line, _ := c.r.FieldPos(0) // only after a good read: a malformed row may have no fields
	c.cells = cells{}
	for i, v := range row {
		if id := c.index[i]; id >= 0 {
			l, _ := c.r.FieldPos(i)
			if l == line {
				l = 0
			}
			if !c.raw {
				v = safecsv.Restore(v)
			}
			c.cells[id] = cellValue{text: v, line: l, set: true}
		}
	}
	return c.b.build(inventory.Position{File: c.name, Line: line}, &c.cells), nil
}

func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &FileError{Pos: inventory.Position{File: name, Line: pe.Line}, Msg: fmt.Sprintf("malformed CSV at character %d: %v", pe.Column, pe.Err)}
	}
	return fmt.Errorf("read %s: %w", name, err)
}

func aliasesOf(canon string) []string {
	var out []string
	for a, c := range columnAliases {
		if c.canon == canon {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}
