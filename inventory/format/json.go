package format

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ringmaster-fleet/ringmaster/internal/jsontext"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// AppendJSON appends the stable JSON form of a device, as export and list
// write it and import reads it back:
//
//	{"hostname":"pc000001.rxx.nhs.uk","address":"","org":"RXX","site":"Leeds General",
//	 "labels":{"ring":"pilot"},"credential":"","release":"Windows 10 22H2",
//	 "facts":{"os_build":{"value":"10.0.19045","observed_at":"2026-11-28T09:00:00Z"}, ...},
//	 "last_seen":"2026-11-28T09:00:00Z","created_at":"...","updated_at":"..."}
//
// Keys always appear, in this order; labels are sorted by key and facts
// listed in a fixed order, each with its own observation time; ubr is a
// number, disk_free_gb and ram_gb are numbers, kbs a list; last_seen is null
// when never seen; release is derived from os_build and ignored on import.
func AppendJSON(b []byte, d *inventory.Device) []byte {
	b = append(b, `{"hostname":`...)
	b = jsontext.AppendString(b, d.Hostname)
	b = append(b, `,"address":`...)
	b = jsontext.AppendString(b, d.Address)
	b = append(b, `,"org":`...)
	b = jsontext.AppendString(b, d.Org)
	b = append(b, `,"site":`...)
	b = jsontext.AppendString(b, d.Site)
	b = append(b, `,"labels":{`...)
	keys := make([]string, 0, len(d.Labels))
	for k := range d.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsontext.AppendString(b, k)
		b = append(b, ':')
		b = jsontext.AppendString(b, d.Labels[k])
	}
	b = append(b, `},"credential":`...)
	b = jsontext.AppendString(b, d.Credential)
	b = append(b, `,"release":`...)
	b = jsontext.AppendString(b, d.Release())
	b = append(b, `,"facts":{`...)
	first := true
	for _, f := range inventory.AllFacts() {
		if !d.Facts.Known(f) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsontext.AppendKey(b, f.String())
		b = append(b, `{"value":`...)
		switch f {
		case inventory.FactUBR:
			b = strconv.AppendInt(b, int64(d.Facts.UBR), 10)
		case inventory.FactDiskFreeGB:
			b = strconv.AppendFloat(b, d.Facts.DiskFreeGB, 'f', -1, 64)
		case inventory.FactRAMGB:
			b = strconv.AppendFloat(b, d.Facts.RAMGB, 'f', -1, 64)
		case inventory.FactKBs:
			b = append(b, '[')
			for i, kb := range d.Facts.KBs {
				if i > 0 {
					b = append(b, ',')
				}
				b = jsontext.AppendString(b, kb)
			}
			b = append(b, ']')
		default:
			b = jsontext.AppendString(b, d.Facts.Value(f))
		}
		b = append(b, `,"observed_at":`...)
		b = appendTime(b, d.Facts.ObservedAt[f])
		b = append(b, '}')
	}
	b = append(b, `},"last_seen":`...)
	b = appendTime(b, d.LastSeen)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, d.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendTime(b, d.UpdatedAt)
	return append(b, '}')
}

// appendTime appends an RFC 3339 UTC time as a JSON string, or null.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// JSONReader streams devices from a JSON array of objects or from NDJSON
// (one object per line). Objects use the DeviceJSON form or flat keys named
// like the CSV columns (with the same aliases).
type JSONReader struct {
	name  string
	lines *lineCounter
	dec   *json.Decoder
	array bool
	done  bool
	b     rowBuilder
}

// NewJSONReader prepares to read r. Facts without their own observation
// time count as observed at now. DefaultOrg and Dates apply (to flat
// fields; a DeviceJSON fact's observed_at is always RFC 3339).
func NewJSONReader(r io.Reader, name string, now time.Time, opts ...Option) (*JSONReader, error) {
	// The decoder holds a value and what it has read past it in one buffer
	// that at most doubles as it fills: reading more than twice the limit
	// past the last value means the value is over the limit.
	lc := &lineCounter{r: bufio.NewReaderSize(r, 64<<10), limit: 2*MaxRecordBytes + 4096}
	j := &JSONReader{name: name, lines: lc, dec: json.NewDecoder(lc)}
	j.dec.UseNumber()
	j.b = newRowBuilder("field", now, collect(opts))
	br := lc.r.(*bufio.Reader)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3) // UTF-8 byte order mark
	}
	// Skip leading white space (counting its lines) to see how the file starts.
	for {
		c, err := br.Peek(1)
		if errors.Is(err, io.EOF) {
			j.done = true
			return j, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		if c[0] != ' ' && c[0] != '\t' && c[0] != '\r' && c[0] != '\n' {
			j.array = c[0] == '['
			break
		}
		b, _ := br.ReadByte()
		lc.note(b)
	}
	if j.array {
		if _, err := j.dec.Token(); err != nil {
			return nil, j.syntaxError(err)
		}
	}
	lc.setMark(j.dec.InputOffset())
	return j, nil
}

// Next returns the next object as a record, or io.EOF after the last one.
func (j *JSONReader) Next() (inventory.Record, error) {
	if j.done {
		return inventory.Record{}, io.EOF
	}
	if j.array && !j.dec.More() {
		j.done = true
		if _, err := j.dec.Token(); err != nil { // the closing ']'
			return inventory.Record{}, j.syntaxError(err)
		}
		if _, err := j.dec.Token(); !errors.Is(err, io.EOF) {
			return inventory.Record{}, &FileError{Pos: j.pos(j.dec.InputOffset()), Msg: "unexpected data after the closing ']'"}
		}
		return inventory.Record{}, io.EOF
	}
	var raw json.RawMessage
	if err := j.dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) && !j.array {
			j.done = true
			return inventory.Record{}, io.EOF
		}
		return inventory.Record{}, j.syntaxError(err)
	}
	end := j.dec.InputOffset()
	if len(raw) > MaxRecordBytes {
		j.done = true
		return inventory.Record{}, j.lines.tooLong(j.name, end-int64(len(raw)))
	}
	pos := j.pos(end - int64(len(raw)))
	j.lines.setMark(end)
	return j.record(pos, raw), nil
}

func (j *JSONReader) pos(offset int64) inventory.Position {
	return inventory.Position{File: j.name, Line: j.lines.lineAt(offset)}
}

func (j *JSONReader) syntaxError(err error) error {
	j.done = true
	if errors.Is(err, errRecordTooLong) {
		// The decoder keeps the value it was reading, from the white space
		// before it: the value starts at the first other byte.
		start := j.dec.InputOffset()
		if rest, rerr := io.ReadAll(j.dec.Buffered()); rerr == nil {
			if i := bytes.IndexFunc(rest, func(r rune) bool { return !strings.ContainsRune(" \t\r\n,", r) }); i >= 0 {
				start += int64(i)
			}
		}
		return j.lines.tooLong(j.name, start)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &FileError{Pos: j.pos(se.Offset), Msg: "invalid JSON: " + se.Error()}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &FileError{Pos: j.pos(j.dec.InputOffset()), Msg: "invalid JSON: unexpected end of file"}
	}
	return fmt.Errorf("read %s: %w", j.name, err)
}

// record converts one JSON object into a record.
func (j *JSONReader) record(pos inventory.Position, raw json.RawMessage) inventory.Record {
	fieldLine := func(key string) int {
		i := bytes.Index(raw, []byte(`"`+key+`"`))
		if i < 0 {
			return pos.Line
		}
		return pos.Line + bytes.Count(raw[:i], []byte("\n"))
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return inventory.Record{Pos: pos, Noun: "field", Errs: []*inventory.RowError{{Pos: pos, Err: errors.New("want a JSON object describing one device")}}}
	}
	var cells cells
	columns := map[string]string{}
	var errs []*inventory.RowError
	bad := func(key string, err error) {
		errs = append(errs, &inventory.RowError{Pos: inventory.Position{File: j.name, Line: fieldLine(key)}, Noun: "field", Field: key, Err: err})
	}
	var nested map[string]json.RawMessage
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := obj[k]
		switch k {
		case "facts":
			if err := json.Unmarshal(v, &nested); err != nil {
				bad(k, errors.New("want an object of facts, each {\"value\": ..., \"observed_at\": ...}"))
			}
			continue
		case "release", "created_at", "updated_at":
			continue // derived or kept by Ringmaster
		}
		canon, ok := CanonicalColumn(k)
		if !ok {
			bad(k, fmt.Errorf("unknown field (known: %s)", strings.Join(Columns, ", ")))
			continue
		}
		if prev, dup := columns[canon]; dup {
			bad(k, fmt.Errorf("gives %s, as %s does already", canon, inventory.QuoteValue(prev)))
			continue
		}
		text, err := jsonText(v, canon)
		if err != nil {
			bad(k, err)
			continue
		}
		columns[canon] = k
		cells.put(canon, text, fieldLine(k))
	}
	if _, ok := columns[inventory.FieldHostname]; !ok {
		errs = append(errs, &inventory.RowError{Pos: pos, Noun: "field", Field: "hostname", Err: errors.New("is required")})
	}
	b := j.b
	b.columns = columns
	rec := b.build(pos, &cells)
	rec.Errs = append(errs, rec.Errs...)
	// Facts in DeviceJSON form carry their own observation times.
	factKeys := make([]string, 0, len(nested))
	for k := range nested {
		factKeys = append(factKeys, k)
	}
	slices.Sort(factKeys)
	// Set the build before the UBR, which a four-part build would also set.
	slices.SortStableFunc(factKeys, func(a, b string) int {
		return boolInt(a == "ubr") - boolInt(b == "ubr")
	})
	for _, k := range factKeys {
		name := "facts." + k
		f, ok := inventory.FactByName(k)
		if !ok {
			rec.Errs = append(rec.Errs, &inventory.RowError{Pos: inventory.Position{File: j.name, Line: fieldLine(k)}, Noun: "field", Field: name, Err: errors.New("unknown fact")})
			continue
		}
		var fj struct {
			Value      json.RawMessage `json:"value"`
			ObservedAt string          `json:"observed_at"`
		}
		err := json.Unmarshal(nested[k], &fj)
		var at time.Time
		if err == nil {
			at, err = inventory.ParseTime(fj.ObservedAt)
		}
		var text string
		if err == nil {
			text, err = jsonText(fj.Value, k)
		}
		if err == nil {
			err = rec.Device.Facts.Set(f, text, at)
		}
		if err != nil {
			rec.Errs = append(rec.Errs, &inventory.RowError{Pos: inventory.Position{File: j.name, Line: fieldLine(k)}, Noun: "field", Field: name, Err: err})
		}
	}
	return rec
}

var errNotUTF8 = errors.New("is not UTF-8 text (an invalid byte or an unpaired \\uD800-\\uDFFF escape)")

// replacementsIn counts the U+FFFD characters a JSON string literal holds
// as written: the character itself or a \uFFFD escape.
func replacementsIn(lit []byte) int {
	n := bytes.Count(lit, []byte("\uFFFD"))
	for i := 0; i+6 <= len(lit); i++ {
		if lit[i] == '\\' {
			if lit[i+1] == 'u' && strings.EqualFold(string(lit[i+2:i+6]), "fffd") {
				n++
			}
			i++ // an escaped character, perhaps a backslash
		}
	}
	return n
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// jsonText renders a JSON value as the text a CSV cell would hold. Text
// that is not UTF-8 is refused, as the CSV reader refuses it, rather than
// replaced with U+FFFD as encoding/json would: an invalid byte, or a \u
// escape of half a UTF-16 surrogate pair.
func jsonText(v json.RawMessage, canon string) (string, error) {
	v = bytes.TrimSpace(v)
	if !utf8.Valid(v) {
		return "", errNotUTF8
	}
	switch {
	case len(v) == 0 || string(v) == "null":
		return "", nil
	case v[0] == '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", err
		}
		if strings.ContainsRune(s, utf8.RuneError) && strings.Count(s, "\uFFFD") > replacementsIn(v) {
			return "", errNotUTF8
		}
		return s, nil
	case v[0] == '[':
		var items []string
		if err := json.Unmarshal(v, &items); err != nil {
			return "", errors.New("want a list of strings")
		}
		return strings.Join(items, ";"), nil
	case v[0] == '{':
		if canon != inventory.FieldLabels {
			return "", errors.New("want a string or a number, not an object")
		}
		var m map[string]string
		if err := json.Unmarshal(v, &m); err != nil {
			return "", errors.New("want an object of string labels")
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			if strings.ContainsAny(k, ";,=") || strings.ContainsAny(m[k], ";,=") {
				return "", fmt.Errorf("label %s: keys and values cannot hold ';', ',' or '='", inventory.QuoteValue(k))
			}
			keys = append(keys, k+"="+m[k])
		}
		slices.Sort(keys)
		return strings.Join(keys, ";"), nil
	case v[0] == 't' || v[0] == 'f':
		return "", errors.New("want a string or a number, not a boolean")
	default:
		return string(v), nil // a number, as written
	}
}
