package wsman

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A small, strict, namespace-aware XML reader for SOAP envelopes. It reads
// the well-formed XML 1.0 that WS-Management uses (elements, attributes,
// namespaces, character and entity references, CDATA, comments, the XML
// declaration) into a tree, several times faster than encoding/xml's
// reflection-driven Unmarshal, which dominated the simulator's CPU per
// request. It refuses what a SOAP processor must refuse (DTDs, unknown
// entities, mismatched or unclosed tags) and anything it does not
// understand. A differential test keeps it in step with encoding/xml.

type xnode struct {
	space, local string
	attrs        []xattr
	text         strings.Builder
	children     []*xnode
}

type xattr struct {
	space, local, value string
}

func (n *xnode) child(space, local string) *xnode {
	for _, c := range n.children {
		if c.local == local && c.space == space {
			return c
		}
	}
	return nil
}

func (n *xnode) attr(local string) string {
	for _, a := range n.attrs {
		if a.local == local && a.space == "" {
			return a.value
		}
	}
	return ""
}

type xscanner struct {
	s  string
	i  int
	ns []map[string]string // prefix -> URI, innermost last
}

var errXML = errors.New("XML syntax error")

func (p *xscanner) fail(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", errXML, p.i, fmt.Sprintf(format, args...))
}

// parseXML reads one document and returns its root element.
func parseXML(s string) (*xnode, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: not UTF-8", errXML)
	}
	p := &xscanner{s: s, ns: []map[string]string{{"xml": "http://www.w3.org/XML/1998/namespace"}}}
	if err := p.misc(); err != nil {
		return nil, err
	}
	if p.i >= len(s) || s[p.i] != '<' {
		return nil, p.fail("no root element")
	}
	root, err := p.element()
	if err != nil {
		return nil, err
	}
	if err := p.misc(); err != nil {
		return nil, err
	}
	if p.i != len(s) {
		return nil, p.fail("content after the root element")
	}
	return root, nil
}

// misc skips white space, comments and processing instructions (including
// the XML declaration) outside the root element.
func (p *xscanner) misc() error {
	for {
		for p.i < len(p.s) && isSpace(p.s[p.i]) {
			p.i++
		}
		switch {
		case strings.HasPrefix(p.s[p.i:], "<?"):
			end := strings.Index(p.s[p.i:], "?>")
			if end < 0 {
				return p.fail("unterminated processing instruction")
			}
			p.i += end + 2
		case strings.HasPrefix(p.s[p.i:], "<!--"):
			if err := p.comment(); err != nil {
				return err
			}
		case strings.HasPrefix(p.s[p.i:], "<!"):
			return p.fail("DTDs are not allowed in SOAP messages")
		default:
			return nil
		}
	}
}

func (p *xscanner) comment() error {
	end := strings.Index(p.s[p.i+4:], "-->")
	if end < 0 {
		return p.fail("unterminated comment")
	}
	p.i += 4 + end + 3
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':' || c >= 0x80
}

func (p *xscanner) name() (string, error) {
	start := p.i
	for p.i < len(p.s) && isNameByte(p.s[p.i]) {
		p.i++
	}
	if p.i == start || p.s[start] == '-' || p.s[start] == '.' || (p.s[start] >= '0' && p.s[start] <= '9') {
		return "", p.fail("bad name")
	}
	return p.s[start:p.i], nil
}

func (p *xscanner) resolve(qname string, isAttr bool) (space, local string, err error) {
	prefix, local, ok := strings.Cut(qname, ":")
	if !ok {
		local, prefix = qname, ""
		if isAttr {
			return "", local, nil // unprefixed attributes are in no namespace
		}
	}
	if strings.Contains(local, ":") || local == "" {
		return "", "", p.fail("bad qualified name %q", qname)
	}
	for i := len(p.ns) - 1; i >= 0; i-- {
		if uri, ok := p.ns[i][prefix]; ok {
			return uri, local, nil
		}
	}
	if prefix == "" {
		return "", local, nil
	}
	return "", "", p.fail("undeclared namespace prefix %q", prefix)
}

// element reads an element starting at '<'.
func (p *xscanner) element() (*xnode, error) {
	p.i++ // '<'
	qname, err := p.name()
	if err != nil {
		return nil, err
	}
	type rawAttr struct{ name, value string }
	var raw []rawAttr
	scope := map[string]string{}
	for {
		for p.i < len(p.s) && isSpace(p.s[p.i]) {
			p.i++
		}
		if p.i >= len(p.s) {
			return nil, p.fail("unterminated start tag <%s>", qname)
		}
		if p.s[p.i] == '>' || strings.HasPrefix(p.s[p.i:], "/>") {
			break
		}
		an, err := p.name()
		if err != nil {
			return nil, err
		}
		for p.i < len(p.s) && isSpace(p.s[p.i]) {
			p.i++
		}
		if p.i >= len(p.s) || p.s[p.i] != '=' {
			return nil, p.fail("attribute %s has no value", an)
		}
		p.i++
		for p.i < len(p.s) && isSpace(p.s[p.i]) {
			p.i++
		}
		if p.i >= len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\'') {
			return nil, p.fail("attribute %s value is not quoted", an)
		}
		q := p.s[p.i]
		end := strings.IndexByte(p.s[p.i+1:], q)
		if end < 0 {
			return nil, p.fail("unterminated attribute value")
		}
		v, err := p.unescape(p.s[p.i+1 : p.i+1+end])
		if err != nil {
			return nil, err
		}
		if strings.ContainsRune(p.s[p.i+1:p.i+1+end], '<') {
			return nil, p.fail("'<' in an attribute value")
		}
		p.i += end + 2
		for _, r := range raw {
			if r.name == an {
				return nil, p.fail("attribute %s given twice", an)
			}
		}
		raw = append(raw, rawAttr{an, v})
		switch {
		case an == "xmlns":
			scope[""] = v
		case strings.HasPrefix(an, "xmlns:"):
			scope[an[6:]] = v
		}
	}
	p.ns = append(p.ns, scope)
	defer func() { p.ns = p.ns[:len(p.ns)-1] }()
	n := &xnode{}
	if n.space, n.local, err = p.resolve(qname, false); err != nil {
		return nil, err
	}
	for _, r := range raw {
		if r.name == "xmlns" || strings.HasPrefix(r.name, "xmlns:") {
			continue
		}
		sp, lo, err := p.resolve(r.name, true)
		if err != nil {
			return nil, err
		}
		n.attrs = append(n.attrs, xattr{sp, lo, r.value})
	}
	if strings.HasPrefix(p.s[p.i:], "/>") {
		p.i += 2
		return n, nil
	}
	p.i++ // '>'
	for {
		lt := strings.IndexByte(p.s[p.i:], '<')
		if lt < 0 {
			return nil, p.fail("element <%s> is not closed", qname)
		}
		if lt > 0 {
			t, err := p.unescape(p.s[p.i : p.i+lt])
			if err != nil {
				return nil, err
			}
			n.text.WriteString(t)
			p.i += lt
		}
		rest := p.s[p.i:]
		switch {
		case strings.HasPrefix(rest, "</"):
			p.i += 2
			end, err := p.name()
			if err != nil {
				return nil, err
			}
			for p.i < len(p.s) && isSpace(p.s[p.i]) {
				p.i++
			}
			if end != qname || p.i >= len(p.s) || p.s[p.i] != '>' {
				return nil, p.fail("element <%s> closed by </%s>", qname, end)
			}
			p.i++
			return n, nil
		case strings.HasPrefix(rest, "<![CDATA["):
			end := strings.Index(rest[9:], "]]>")
			if end < 0 {
				return nil, p.fail("unterminated CDATA section")
			}
			n.text.WriteString(rest[9 : 9+end])
			p.i += 9 + end + 3
		case strings.HasPrefix(rest, "<!--"):
			if err := p.comment(); err != nil {
				return nil, err
			}
		case strings.HasPrefix(rest, "<?"):
			end := strings.Index(rest, "?>")
			if end < 0 {
				return nil, p.fail("unterminated processing instruction")
			}
			p.i += end + 2
		case strings.HasPrefix(rest, "<!"):
			return nil, p.fail("markup declarations are not allowed here")
		default:
			c, err := p.element()
			if err != nil {
				return nil, err
			}
			n.children = append(n.children, c)
		}
	}
}

// unescape decodes character and predefined entity references.
func (p *xscanner) unescape(s string) (string, error) {
	if !strings.ContainsRune(s, '&') {
		if strings.Contains(s, "]]>") {
			return "", p.fail("']]>' in character data")
		}
		return s, nil
	}
	var b strings.Builder
	for {
		amp := strings.IndexByte(s, '&')
		if amp < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:amp])
		semi := strings.IndexByte(s[amp:], ';')
		if semi < 0 {
			return "", p.fail("unterminated entity reference")
		}
		ref := s[amp+1 : amp+semi]
		switch ref {
		case "lt":
			b.WriteByte('<')
		case "gt":
			b.WriteByte('>')
		case "amp":
			b.WriteByte('&')
		case "quot":
			b.WriteByte('"')
		case "apos":
			b.WriteByte('\'')
		default:
			var n uint64
			var err error
			switch {
			case strings.HasPrefix(ref, "#x"):
				n, err = strconv.ParseUint(ref[2:], 16, 32)
			case strings.HasPrefix(ref, "#"):
				n, err = strconv.ParseUint(ref[1:], 10, 32)
			default:
				return "", p.fail("unknown entity &%s;", ref)
			}
			if err != nil || !validXMLChar(rune(n)) {
				return "", p.fail("bad character reference &%s;", ref)
			}
			b.WriteRune(rune(n))
		}
		s = s[amp+semi+1:]
	}
}

func validXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}
