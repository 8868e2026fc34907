// Package factsdoc is the JSON document both storage engines (store/sqlite,
// store/postgres) keep a device's observed facts in, their devices' facts
// column: one format, so that an estate moves between them unchanged.
package factsdoc

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/jsontext"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// The facts column holds one JSON object per device:
//
//	{"at":1764355409000000,"v":{"os_build":"10.0.19045","ubr":"3803"},"t":{"kbs":1764300000000000}}
//
// "v" has each known fact's value as text; "at" is the observation time
// (Unix microseconds) most facts share, and "t" the times of the facts
// observed at another time. Facts usually arrive together (one import row,
// one probe), so this keeps rows small. It is written by hand because an
// import writes a million of them.
type factsDoc struct {
	At int64            `json:"at"`
	V  factValues       `json:"v"`
	T  map[string]int64 `json:"t"`
}

// factValues has a field per fact (struct decoding is several times faster
// than a map). Keep it in step with inventory's fact names.
type factValues struct {
	Manufacturer *string `json:"manufacturer"`
	Model        *string `json:"model"`
	Serial       *string `json:"serial"`
	OSCaption    *string `json:"os_caption"`
	OSEdition    *string `json:"os_edition"`
	OSBuild      *string `json:"os_build"`
	UBR          *string `json:"ubr"`
	KBs          *string `json:"kbs"`
	DiskFreeGB   *string `json:"disk_free_gb"`
	RAMGB        *string `json:"ram_gb"`
}

// byFact lists the values in inventory.AllFacts order; the build comes
// before the UBR, so a four-part build cannot overwrite a stored UBR.
func (v *factValues) byFact() [10]*string {
	return [10]*string{v.Manufacturer, v.Model, v.Serial, v.OSCaption, v.OSEdition, v.OSBuild, v.UBR, v.KBs, v.DiskFreeGB, v.RAMGB}
}

// Append appends the JSON document for f to b.
func Append(b []byte, f *inventory.Facts) []byte {
	// The shared time is the most common observation time.
	facts := inventory.AllFacts()
	var micros [16]int64
	for i, a := range facts {
		if f.Known(a) {
			micros[i] = f.ObservedAt[a].UnixMicro()
		}
	}
	var common int64
	best := 0
	for i, a := range facts {
		if !f.Known(a) || (best > 0 && micros[i] == common) {
			continue
		}
		n := 0
		for j, c := range facts {
			if f.Known(c) && micros[j] == micros[i] {
				n++
			}
		}
		if n > best {
			common, best = micros[i], n
		}
	}
	if best == 0 {
		return append(b, "{}"...)
	}
	b = append(b, `{"at":`...)
	b = strconv.AppendInt(b, common, 10)
	b = append(b, `,"v":{`...)
	first, others := true, false
	for i, a := range facts {
		if !f.Known(a) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsontext.AppendKey(b, a.String())
		b = appendFactValue(b, f, a)
		others = others || micros[i] != common
	}
	b = append(b, '}')
	if others {
		b = append(b, `,"t":{`...)
		first = true
		for i, a := range facts {
			if !f.Known(a) || micros[i] == common {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = jsontext.AppendKey(b, a.String())
			b = strconv.AppendInt(b, micros[i], 10)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendFactValue appends fact a's value as a JSON string, as Facts.Value
// renders it, without building the intermediate string.
func appendFactValue(b []byte, f *inventory.Facts, a inventory.Fact) []byte {
	switch a {
	case inventory.FactOSBuild:
		b = append(b, '"')
		b = strconv.AppendInt(b, int64(f.OSBuild.Major), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(f.OSBuild.Minor), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(f.OSBuild.Build), 10)
		return append(b, '"')
	case inventory.FactUBR:
		b = append(b, '"')
		b = strconv.AppendInt(b, int64(f.UBR), 10)
		return append(b, '"')
	case inventory.FactDiskFreeGB, inventory.FactRAMGB:
		v := f.DiskFreeGB
		if a == inventory.FactRAMGB {
			v = f.RAMGB
		}
		b = append(b, '"')
		b = strconv.AppendFloat(b, v, 'f', -1, 64)
		return append(b, '"')
	case inventory.FactKBs:
		b = append(b, '"')
		for i, kb := range f.KBs {
			if i > 0 {
				b = append(b, ';')
			}
			b = append(b, kb...) // KB numbers need no escaping
		}
		return append(b, '"')
	}
	return jsontext.AppendString(b, f.Value(a))
}

// Decode parses a document into f.
func Decode(text string, f *inventory.Facts) error {
	if text == "" || text == "{}" {
		return nil
	}
	var doc factsDoc
	if !parseFactsDoc(text, &doc) {
		// Not in the shape appendFacts writes (edited by hand, or written
		// by another version): take the general path.
		doc = factsDoc{}
		if err := json.Unmarshal([]byte(text), &doc); err != nil {
			return fmt.Errorf("facts: %w", err)
		}
	}
	for i, v := range doc.V.byFact() {
		if v == nil {
			continue
		}
		fact := inventory.Fact(i)
		at := doc.At
		if t, ok := doc.T[fact.String()]; ok {
			at = t
		}
		if err := f.Set(fact, *v, time.UnixMicro(at).UTC()); err != nil {
			return fmt.Errorf("facts: %s: %w", fact, err)
		}
	}
	return nil
}

// parseFactsDoc reads the exact shape appendFacts writes, several times
// faster than encoding/json (listing a large organisation decodes tens of
// thousands of these). It reports false on anything else, and the caller
// falls back to encoding/json.
func parseFactsDoc(s string, doc *factsDoc) bool {
	p := factsParser{s: s}
	if !p.lit(`{"at":`) {
		return false
	}
	var ok bool
	if doc.At, ok = p.int(); !ok || !p.lit(`,"v":{`) {
		return false
	}
	vals := doc.V.fields()
	for first := true; !p.lit("}"); first = false {
		if !first && !p.lit(",") {
			return false
		}
		name, ok := p.str()
		if !ok || !p.lit(":") {
			return false
		}
		val, ok := p.str()
		if !ok {
			return false
		}
		f, known := inventory.FactByName(name)
		if !known {
			continue
		}
		*vals[f] = &val
	}
	if p.lit(`,"t":{`) {
		doc.T = map[string]int64{}
		for first := true; !p.lit("}"); first = false {
			if !first && !p.lit(",") {
				return false
			}
			name, ok := p.str()
			if !ok || !p.lit(":") {
				return false
			}
			if doc.T[name], ok = p.int(); !ok {
				return false
			}
		}
	}
	return p.lit("}") && p.i == len(s)
}

// fields returns pointers to the value fields, indexed like byFact.
func (v *factValues) fields() [10]**string {
	return [10]**string{&v.Manufacturer, &v.Model, &v.Serial, &v.OSCaption, &v.OSEdition, &v.OSBuild, &v.UBR, &v.KBs, &v.DiskFreeGB, &v.RAMGB}
}

type factsParser struct {
	s string
	i int
}

func (p *factsParser) lit(l string) bool {
	if strings.HasPrefix(p.s[p.i:], l) {
		p.i += len(l)
		return true
	}
	return false
}

func (p *factsParser) int() (int64, bool) {
	j := p.i
	if j < len(p.s) && p.s[j] == '-' {
		j++
	}
	for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(p.s[p.i:j], 10, 64)
	p.i = j
	return n, err == nil
}

// str reads a JSON string; one with escapes goes through encoding/json.
func (p *factsParser) str() (string, bool) {
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return "", false
	}
	start := p.i
	escaped := false
	for j := p.i + 1; j < len(p.s); j++ {
		switch p.s[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			p.i = j + 1
			if !escaped {
				return p.s[start+1 : j], true
			}
			var out string
			err := json.Unmarshal([]byte(p.s[start:j+1]), &out)
			return out, err == nil
		}
	}
	return "", false
}
