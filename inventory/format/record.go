package format

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// rowBuilder turns the cells of one row (CSV) or object (flat JSON), keyed by
// canonical column, into an inventory.Record.
type rowBuilder struct {
	noun    string            // "column" or "field"
	columns map[string]string // canonical -> name in the file
	now     time.Time         // observation time when the row gives none
	org     string            // organisation of a row that names none (DefaultOrg)
	dates   DateFormat        // how the file writes its times (Dates)
}

// newRowBuilder returns a builder of a file's rows with the reader's options.
func newRowBuilder(noun string, now time.Time, o options) rowBuilder {
	return rowBuilder{noun: noun, columns: map[string]string{}, now: now, org: o.org, dates: o.dates}
}

type cellValue struct {
	text string
	line int  // 0: the record's line
	set  bool // the file has this column
}

// cells holds one row's values by column.
type cells [numCols]cellValue

func (c *cells) put(canon, text string, line int) {
	c[idOf(canon)] = cellValue{text: text, line: line, set: true}
}

// factOf maps a fact column's id to its fact.
var factOf = func() (m [numCols]inventory.Fact) {
	for col, f := range factColumns {
		m[idOf(col)] = f
	}
	return m
}()

// Column ids used per row, looked up once.
var (
	idLastSeen   = idOf(inventory.FieldLastSeen)
	idObservedAt = idOf(colObservedAt)
	idLabels     = idOf(inventory.FieldLabels)
	idDiskFreeMB = idOf(colDiskFreeMB)
	idRAMMB      = idOf(colRAMMB)
	declaredIDs  = []colID{idOf(inventory.FieldHostname), idOf(inventory.FieldAddress), idOf(inventory.FieldOrg),
		idOf(inventory.FieldSite), idOf(inventory.FieldCredential), idOf(colOrgName), idOf(colOrgTimeZone)}
	// The UBR column goes after the build, which may carry a UBR of its own.
	factIDs = []colID{idOf("manufacturer"), idOf("model"), idOf("serial"), idOf("os_caption"), idOf("os_edition"),
		idOf("os_build"), idOf("ubr"), idOf("kbs"), idOf("disk_free_gb"), idOf("ram_gb")}
)

func (b *rowBuilder) build(pos inventory.Position, cells *cells) inventory.Record {
	rec := inventory.Record{Pos: pos, Noun: b.noun, Columns: b.columns}
	fail := func(id colID, c cellValue, err error) {
		p := pos
		if c.line > 0 {
			p.Line = c.line
		}
		col := colNames[id]
		name := b.columns[col]
		if name == "" {
			name = col
		}
		rec.Errs = append(rec.Errs, &inventory.RowError{Pos: p, Noun: b.noun, Field: name, Err: err})
	}
	get := func(id colID) (cellValue, bool) {
		c := cells[id]
		c.text = strings.TrimSpace(c.text)
		if c.set && !utf8.ValidString(c.text) {
			fail(id, c, fmt.Errorf("is not UTF-8 text (save the file as UTF-8; spreadsheets often write Windows-1252)"))
			c.text = strings.ToValidUTF8(c.text, "\uFFFD")
		}
		return c, c.set
	}
	d := &rec.Device

	// When were the facts in this row observed?
	observed := b.now
	if c, ok := get(idLastSeen); ok && c.text != "" {
		t, err := b.dates.Parse(c.text)
		if err != nil {
			fail(idLastSeen, c, err)
		} else {
			d.LastSeen, observed = t, t
		}
	}
	if c, ok := get(idObservedAt); ok && c.text != "" {
		t, err := b.dates.Parse(c.text)
		if err != nil {
			fail(idObservedAt, c, err)
		} else {
			observed = t
		}
	}
	if observed.After(b.now) {
		observed = b.now // a source's clock ahead of ours must not outrank later observations
	}

	dst := [...]*string{&d.Hostname, &d.Address, &d.Org, &d.Site, &d.Credential, &rec.OrgName, &rec.OrgTimeZone}
	for i, id := range declaredIDs {
		if c, ok := get(id); ok {
			*dst[i] = c.text
			rec.Present.Add(colNames[id])
		}
	}
	if d.Org == "" && b.org != "" {
		d.Org = b.org
		rec.Present.Add(inventory.FieldOrg)
	}
	if c, ok := get(idLabels); ok {
		rec.Present.Add(inventory.FieldLabels)
		l, err := inventory.ParseLabels(c.text)
		if err != nil {
			fail(idLabels, c, err)
		}
		d.Labels = l
	}
	for _, id := range factIDs {
		if c, ok := get(id); ok && c.text != "" {
			if err := d.Facts.Set(factOf[id], c.text, observed); err != nil {
				fail(id, c, err)
			}
		}
	}
	for _, m := range [...]struct {
		id   colID
		fact inventory.Fact
	}{{idDiskFreeMB, inventory.FactDiskFreeGB}, {idRAMMB, inventory.FactRAMGB}} {
		if c, ok := get(m.id); ok && c.text != "" {
			mb, err := strconv.ParseFloat(c.text, 64)
			if err != nil || mb < 0 {
				fail(m.id, c, fmt.Errorf("%s is not a size in MB", inventory.QuoteValue(c.text)))
				continue
			}
			gb := strconv.FormatFloat(float64(int64(mb/1024*100+0.5))/100, 'f', -1, 64)
			_ = d.Facts.Set(m.fact, gb, observed)
		}
	}
	d.Normalise()
	return rec
}
