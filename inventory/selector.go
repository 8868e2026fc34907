package inventory

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// Operator is a selector requirement's comparison.
type Operator string

// Selector operators.
const (
	OpExists    Operator = "exists"  // key       (the value is known / label present)
	OpNotExists Operator = "!exists" // !key
	OpEq        Operator = "="
	OpNe        Operator = "!="
	OpIn        Operator = "in"
	OpNotIn     Operator = "notin"
	OpLt        Operator = "<"
	OpLe        Operator = "<="
	OpGt        Operator = ">"
	OpGe        Operator = ">="
)

// keyKind says how a selector key's values compare.
type keyKind int

const (
	kindString  keyKind = iota // case-insensitive text
	kindVersion                // OS version, ordered
	kindNumber                 // number, ordered
	kindTime                   // timestamp, ordered
	kindKB                     // set membership of installed KBs
	kindLabel                  // label.<key>, case-sensitive
)

// selectorKeys are the keys a selector can name (besides label.<key>).
var selectorKeys = map[string]keyKind{
	"hostname": kindString, "address": kindString, "org": kindString, "site": kindString,
	"credential": kindString, "manufacturer": kindString, "model": kindString, "serial": kindString,
	"os": kindString, "edition": kindString, "release": kindString,
	"build": kindVersion, "ubr": kindNumber, "disk": kindNumber, "ram": kindNumber,
	"last_seen": kindTime, "kb": kindKB,
}

// SelectorKeys lists the keys a selector accepts, for help texts.
func SelectorKeys() []string {
	keys := []string{"label.<key>"}
	for k := range selectorKeys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Requirement is one comma-separated term of a selector.
type Requirement struct {
	Key    string   // e.g. "org", "build", "label.ring"
	Op     Operator //
	Values []string // as written (org codes upper-cased, hostnames lower-cased)

	kind    keyKind
	version []Version
	number  []float64
	time    []time.Time
	// folded holds a long list of text values, lower-cased, when all are
	// ASCII: membership in one look-up, not a scan of the list per device
	// (alert remediate targets tens of thousands of devices by name).
	folded map[string]bool
}

// foldedMin is the shortest list of values kept as a set.
const foldedMin = 16

// Selector picks devices: every requirement must hold (a logical AND).
// The zero Selector (or one parsed from "") selects every device.
//
// Syntax, in the spirit of Kubernetes label selectors:
//
//	org=RXX,site in (A,B),label.ring=pilot,build<10.0.19045,!label.excluded
//
// Keys: hostname, address, org, site, credential, manufacturer, model, serial,
// os, edition, release (e.g. 22H2, "Windows 7 SP1"), build, ubr, disk (free GB),
// ram (GB), last_seen (RFC 3339 or YYYY-MM-DD), kb (installed KB), label.<key>.
// Operators: = (or ==), !=, in (...), notin (...), <, <=, >, >= (build, ubr,
// disk, ram, last_seen), KEY (known or present) and !KEY (unknown or absent).
// Text compares case-insensitively except label values. A value with spaces or
// commas is written in double quotes. A comparison on an unknown fact is
// false; != and notin are true for it.
type Selector struct {
	src  string
	reqs []Requirement
}

// Everything selects every device.
func Everything() Selector { return Selector{} }

// String returns the selector as it was written.
func (s Selector) String() string { return s.src }

// Empty reports whether the selector selects everything.
func (s Selector) Empty() bool { return len(s.reqs) == 0 }

// And selects the devices both s and o select.
func (s Selector) And(o Selector) Selector {
	src := s.src
	switch {
	case src == "":
		src = o.src
	case o.src != "":
		src += ", " + o.src
	}
	return Selector{src: src, reqs: slices.Concat(s.reqs, o.reqs)}
}

// Requirements returns the selector's terms, for storage layers that push
// some of them down into queries. Matches remains the reference semantics.
func (s Selector) Requirements() []Requirement { return slices.Clone(s.reqs) }

// SelectorError is a parse error that points at the offending character.
type SelectorError struct {
	Input string
	Pos   int // byte offset into Input
	Msg   string
}

func (e *SelectorError) Error() string {
	line, caret := excerptAt(e.Input, e.Pos)
	return fmt.Sprintf("selector: %s at character %d\n  %s\n  %s^", e.Msg, e.Pos+1, line, strings.Repeat(" ", caret))
}

// excerptAt shows the part of s around byte pos for an error message,
// with the column of pos in what it returns: at most maxEcho bytes either
// side (elided with "…"), and every rune CheckText would refuse, or an
// invalid byte, written as a Go escape, so the line neither runs on nor
// drives the terminal.
func excerptAt(s string, pos int) (string, int) {
	start, end := max(0, pos-maxEcho), min(len(s), pos+maxEcho)
	// Widen to whole characters (by at most a character's length, so a run
	// of stray continuation bytes is not taken whole).
	for i := 0; i < utf8.UTFMax-1 && start > 0 && start < len(s) && !utf8.RuneStart(s[start]); i++ {
		start--
	}
	for i := 0; i < utf8.UTFMax-1 && end < len(s) && !utf8.RuneStart(s[end]); i++ {
		end++
	}
	var b strings.Builder
	col := -1
	if start > 0 {
		b.WriteString("…")
	}
	for i := start; i < end; {
		if i >= pos && col < 0 {
			col = utf8.RuneCountInString(b.String())
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafeRune(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
		i += size
	}
	if col < 0 {
		col = utf8.RuneCountInString(b.String())
	}
	if end < len(s) {
		b.WriteString("…")
	}
	return b.String(), col
}

// Unwrap makes selector errors match errkind.Invalid.
func (e *SelectorError) Unwrap() error { return errkind.Invalid }

// ParseSelector parses the selector syntax described on Selector.
func ParseSelector(src string) (Selector, error) {
	p := &selParser{src: src}
	sel := Selector{src: strings.TrimSpace(src)}
	p.skipSpace()
	if p.pos == len(src) {
		return sel, nil
	}
	for {
		r, err := p.requirement()
		if err != nil {
			return Selector{}, err
		}
		sel.reqs = append(sel.reqs, r)
		p.skipSpace()
		if p.pos == len(src) {
			return sel, nil
		}
		if src[p.pos] != ',' {
			return Selector{}, p.errf("expected ',' between requirements, got %q", p.rest(1))
		}
		p.pos++
		p.skipSpace()
		if p.pos == len(src) {
			return Selector{}, p.errf("expected a requirement after ','")
		}
	}
}

// MustParseSelector is ParseSelector for literals in code and tests; it panics on error.
func MustParseSelector(src string) Selector {
	s, err := ParseSelector(src)
	if err != nil {
		panic(err)
	}
	return s
}

type selParser struct {
	src string
	pos int
}

func (p *selParser) errf(format string, args ...any) error {
	return &SelectorError{Input: p.src, Pos: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *selParser) rest(n int) string {
	end := min(p.pos+n, len(p.src))
	return p.src[p.pos:end]
}

func (p *selParser) skipSpace() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

func isValueChar(c byte) bool {
	return isKeyChar(c) || c == ':' || c == '/' || c == '+' || c == '@'
}

func (p *selParser) requirement() (Requirement, error) {
	negate := false
	if p.src[p.pos] == '!' {
		negate = true
		p.pos++
		p.skipSpace()
	}
	keyPos := p.pos
	for p.pos < len(p.src) && isKeyChar(p.src[p.pos]) {
		p.pos++
	}
	key := p.src[keyPos:p.pos]
	if key == "" {
		if p.pos == len(p.src) {
			return Requirement{}, p.errf("expected a key")
		}
		return Requirement{}, p.errf("expected a key, got %q", p.rest(1))
	}
	r := Requirement{Key: key}
	if lk, ok := strings.CutPrefix(key, "label."); ok {
		if err := ValidateLabel(lk, ""); err != nil {
			p.pos = keyPos
			return Requirement{}, p.errf("invalid label key %s", QuoteValue(lk))
		}
		r.kind = kindLabel
	} else if k, ok := selectorKeys[strings.ToLower(key)]; ok {
		r.Key = strings.ToLower(key)
		r.kind = k
	} else {
		p.pos = keyPos
		return Requirement{}, p.errf("unknown key %s (known: %s)", QuoteValue(key), strings.Join(SelectorKeys(), ", "))
	}
	p.skipSpace()
	if negate {
		r.Op = OpNotExists
		return r, p.checkKind(r, keyPos)
	}
	if p.pos == len(p.src) || p.src[p.pos] == ',' {
		r.Op = OpExists
		return r, p.checkKind(r, keyPos)
	}
	opPos := p.pos
	switch {
	case strings.HasPrefix(p.src[p.pos:], "=="):
		r.Op, p.pos = OpEq, p.pos+2
	case strings.HasPrefix(p.src[p.pos:], "!="):
		r.Op, p.pos = OpNe, p.pos+2
	case strings.HasPrefix(p.src[p.pos:], "<="):
		r.Op, p.pos = OpLe, p.pos+2
	case strings.HasPrefix(p.src[p.pos:], ">="):
		r.Op, p.pos = OpGe, p.pos+2
	case p.src[p.pos] == '=':
		r.Op, p.pos = OpEq, p.pos+1
	case p.src[p.pos] == '<':
		r.Op, p.pos = OpLt, p.pos+1
	case p.src[p.pos] == '>':
		r.Op, p.pos = OpGt, p.pos+1
	case p.word("notin"):
		r.Op = OpNotIn
	case p.word("in"):
		r.Op = OpIn
	default:
		return Requirement{}, p.errf("expected an operator (=, !=, <, <=, >, >=, in, notin) after %s, got %q", QuoteValue(key), p.rest(1))
	}
	if err := p.checkKind(r, opPos); err != nil {
		return Requirement{}, err
	}
	p.skipSpace()
	if r.Op == OpIn || r.Op == OpNotIn {
		if p.pos == len(p.src) || p.src[p.pos] != '(' {
			return Requirement{}, p.errf("expected '(' after %s", r.Op)
		}
		p.pos++
		for {
			p.skipSpace()
			v, err := p.value(&r)
			if err != nil {
				return Requirement{}, err
			}
			r.Values = append(r.Values, v)
			p.skipSpace()
			if p.pos == len(p.src) {
				return Requirement{}, p.errf("expected ')' to close the list")
			}
			if p.src[p.pos] == ')' {
				p.pos++
				break
			}
			if p.src[p.pos] != ',' {
				return Requirement{}, p.errf("expected ',' or ')' in the list, got %q", p.rest(1))
			}
			p.pos++
		}
		r.foldValues()
		return r, nil
	}
	v, err := p.value(&r)
	if err != nil {
		return Requirement{}, err
	}
	r.Values = []string{v}
	return r, nil
}

// word consumes an operator word followed by space or '('.
func (p *selParser) word(w string) bool {
	if !strings.HasPrefix(p.src[p.pos:], w) {
		return false
	}
	end := p.pos + len(w)
	if end < len(p.src) && p.src[end] != ' ' && p.src[end] != '(' && p.src[end] != '\t' {
		return false
	}
	p.pos = end
	return true
}

func (p *selParser) checkKind(r Requirement, pos int) error {
	ordered := r.Op == OpLt || r.Op == OpLe || r.Op == OpGt || r.Op == OpGe
	if ordered && r.kind != kindVersion && r.kind != kindNumber && r.kind != kindTime {
		p.pos = pos
		return p.errf("operator %s needs an ordered key (build, ubr, disk, ram, last_seen), not %s", r.Op, QuoteValue(r.Key))
	}
	return nil
}

// value reads one bare or double-quoted value and parses it for the key's kind.
func (p *selParser) value(r *Requirement) (string, error) {
	start := p.pos
	var v string
	if p.pos < len(p.src) && p.src[p.pos] == '"' {
		end := strings.IndexByte(p.src[p.pos+1:], '"')
		if end < 0 {
			return "", p.errf("unterminated quoted value")
		}
		v = p.src[p.pos+1 : p.pos+1+end]
		p.pos += end + 2
	} else {
		for p.pos < len(p.src) && isValueChar(p.src[p.pos]) {
			p.pos++
		}
		v = p.src[start:p.pos]
		if v == "" {
			if p.pos == len(p.src) {
				return "", p.errf("expected a value")
			}
			return "", p.errf("expected a value, got %q", p.rest(1))
		}
	}
	fail := func(format string, args ...any) (string, error) {
		p.pos = start
		return "", p.errf(format, args...)
	}
	switch r.kind {
	case kindVersion:
		ver, ubr, err := ParseVersion(v)
		if err != nil || ubr >= 0 {
			return fail("%s is not a build such as 10.0.19045", QuoteValue(v))
		}
		r.version = append(r.version, ver)
	case kindNumber:
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fail("%s is not a number", QuoteValue(v))
		}
		r.number = append(r.number, n)
	case kindTime:
		t, err := ParseTime(v)
		if err != nil {
			return fail("%s is not a time (RFC 3339 or YYYY-MM-DD)", QuoteValue(v))
		}
		r.time = append(r.time, t)
	case kindKB:
		kb, err := NormaliseKB(v)
		if err != nil {
			return fail("%s is not a KB number such as KB4499175", QuoteValue(v))
		}
		v = kb
	case kindLabel:
		if err := ValidateLabel("k", v); err != nil {
			return fail("%s is not a label value", QuoteValue(v))
		}
	case kindString:
		switch r.Key {
		case "org":
			v = NormaliseOrgCode(v)
		case "hostname":
			v = NormaliseHostname(v)
		}
	}
	return v, nil
}

// ParseTime accepts RFC 3339 ("2026-03-01T09:30:00Z"), "2026-03-01 09:30:00"
// (UTC) and "2026-03-01" (midnight UTC). Ambiguous day/month forms are refused.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%s is not a time: want RFC 3339 (2006-01-02T15:04:05Z) or YYYY-MM-DD", QuoteValue(s))
}

// Matches reports whether the device satisfies every requirement.
func (s Selector) Matches(d *Device) bool {
	for i := range s.reqs {
		if !s.reqs[i].matches(d) {
			return false
		}
	}
	return true
}

// foldValues fills folded for a long list of ASCII text values.
func (r *Requirement) foldValues() {
	if r.kind != kindString || r.Key == "release" || len(r.Values) < foldedMin {
		return
	}
	set := make(map[string]bool, len(r.Values))
	for _, v := range r.Values {
		if !isASCII(v) {
			return
		}
		set[strings.ToLower(v)] = true
	}
	r.folded = set
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func (r *Requirement) matches(d *Device) bool {
	switch r.kind {
	case kindLabel:
		v, ok := d.Labels[strings.TrimPrefix(r.Key, "label.")]
		return matchText(r.Op, r.Values, v, ok, false)
	case kindKB:
		known := d.Facts.Known(FactKBs)
		switch r.Op {
		case OpExists:
			return known
		case OpNotExists:
			return !known
		case OpEq, OpIn:
			return slices.ContainsFunc(r.Values, d.Facts.HasKB)
		case OpNe, OpNotIn:
			return !slices.ContainsFunc(r.Values, d.Facts.HasKB)
		}
	case kindVersion:
		known := d.Facts.Known(FactOSBuild)
		return matchOrdered(r.Op, known, len(r.version), func(i int) int { return d.Facts.OSBuild.Compare(r.version[i]) })
	case kindNumber:
		f, n := FactUBR, float64(d.Facts.UBR)
		switch r.Key {
		case "disk":
			f, n = FactDiskFreeGB, d.Facts.DiskFreeGB
		case "ram":
			f, n = FactRAMGB, d.Facts.RAMGB
		}
		return matchOrdered(r.Op, d.Facts.Known(f), len(r.number), func(i int) int { return cmp.Compare(n, r.number[i]) })
	case kindTime:
		return matchOrdered(r.Op, !d.LastSeen.IsZero(), len(r.time), func(i int) int { return d.LastSeen.Compare(r.time[i]) })
	case kindString:
		v, known := r.stringField(d)
		if r.Key == "release" && (r.Op == OpEq || r.Op == OpNe || r.Op == OpIn || r.Op == OpNotIn) {
			hit := slices.ContainsFunc(r.Values, func(want string) bool { return releaseMatches(v, want) })
			if !known {
				hit = false
			}
			if r.Op == OpNe || r.Op == OpNotIn {
				return !hit
			}
			return hit
		}
		// Only an ASCII value can equal an ASCII one under case folding
		// (EqualFold also folds, say, the Kelvin sign to k): others take
		// the scan.
		if r.folded != nil && isASCII(v) && (r.Op == OpIn || r.Op == OpNotIn) {
			hit := known && r.folded[strings.ToLower(v)]
			return hit == (r.Op == OpIn)
		}
		return matchText(r.Op, r.Values, v, known, true)
	}
	return false
}

func (r *Requirement) stringField(d *Device) (string, bool) {
	switch r.Key {
	case "hostname":
		return d.Hostname, true
	case "address":
		return d.Address, d.Address != ""
	case "org":
		return d.Org, true
	case "site":
		return d.Site, d.Site != ""
	case "credential":
		return d.Credential, d.Credential != ""
	case "manufacturer":
		return d.Facts.Manufacturer, d.Facts.Known(FactManufacturer)
	case "model":
		return d.Facts.Model, d.Facts.Known(FactModel)
	case "serial":
		return d.Facts.Serial, d.Facts.Known(FactSerial)
	case "os":
		return d.Facts.OSCaption, d.Facts.Known(FactOSCaption)
	case "edition":
		return d.Facts.OSEdition, d.Facts.Known(FactOSEdition)
	case "release":
		rel := d.Release()
		return rel, d.Facts.Known(FactOSBuild) && rel != ""
	}
	return "", false
}

// releaseMatches lets "22H2" match "Windows 10 22H2" as well as the full name.
func releaseMatches(release, want string) bool {
	return strings.EqualFold(release, want) || strings.HasSuffix(strings.ToLower(release), " "+strings.ToLower(want))
}

func matchText(op Operator, values []string, v string, known, fold bool) bool {
	eq := func(w string) bool {
		if fold {
			return strings.EqualFold(v, w)
		}
		return v == w
	}
	switch op {
	case OpExists:
		return known
	case OpNotExists:
		return !known
	case OpEq, OpIn:
		return known && slices.ContainsFunc(values, eq)
	case OpNe, OpNotIn:
		return !known || !slices.ContainsFunc(values, eq)
	}
	return false
}

// matchOrdered applies op given cmp(i) = compare(actual, values[i]).
func matchOrdered(op Operator, known bool, n int, cmp func(i int) int) bool {
	switch op {
	case OpExists:
		return known
	case OpNotExists:
		return !known
	case OpNe, OpNotIn:
		if !known {
			return true
		}
		for i := range n {
			if cmp(i) == 0 {
				return false
			}
		}
		return true
	}
	if !known {
		return false
	}
	for i := range n {
		c := cmp(i)
		switch op {
		case OpEq, OpIn:
			if c == 0 {
				return true
			}
		case OpLt:
			return c < 0
		case OpLe:
			return c <= 0
		case OpGt:
			return c > 0
		case OpGe:
			return c >= 0
		}
	}
	return false
}
