package inventory

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Length limits on the inventory's free-text fields, in bytes of UTF-8.
// Each is several times the longest real value seen for the field, and
// small enough that a table, a report row or an HTML page stays readable:
// a 10 MB caption or a 5 MB organisation name is a mistake or an attack,
// never data. Fields with a grammar of their own have their limits there
// (hostname 253, organisation code 32, labels, tags and credential names
// 63).
const (
	// MaxOrgNameLen bounds an organisation's name; NHS body names run to
	// about 100 characters.
	MaxOrgNameLen = 200
	// MaxTimeZoneLen bounds an IANA zone name; the longest is 32 bytes.
	MaxTimeZoneLen = 64
	// MaxSiteLen bounds a site name; Active Directory site names are at
	// most 63 characters.
	MaxSiteLen = 128
	// MaxCaptionLen bounds the OS caption ("Microsoft Windows 10
	// Enterprise LTSC 2019" is 41).
	MaxCaptionLen = 256
	// MaxEditionLen bounds the EditionID ("IoTEnterpriseS" is 14).
	MaxEditionLen = 64
	// MaxHardwareLen bounds manufacturer, model and serial number: SMBIOS
	// strings are rarely over 64 bytes.
	MaxHardwareLen = 128
	// MaxLabels bounds the labels on one device, MaxTags the tags on one
	// organisation.
	MaxLabels = 64
	MaxTags   = 64
	// MaxKBs bounds a device's installed updates; a Windows 7 machine
	// patched for a decade lists a few hundred.
	MaxKBs = 4096
)

// maxEcho is how many bytes of a value an error message repeats.
const maxEcho = 64

// QuoteValue renders a value for an error message, as %q would: quoted,
// with control characters, invalid UTF-8 and other unprintable runes
// escaped, so that a value cannot break a terminal or a log line. A value
// longer than 64 bytes is cut to its first 64 (at a character boundary)
// and followed by its length: "aaaa"… (10485760 bytes). Every error in
// this package and in inventory/format that repeats a value uses it.
func QuoteValue(s string) string {
	if len(s) <= maxEcho {
		return strconv.Quote(s)
	}
	cut := maxEcho
	for i := 0; i < utf8.UTFMax-1 && !utf8.RuneStart(s[cut]); i++ {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}

// CheckText checks a single-line free-text value: valid UTF-8, at most max
// bytes, and no control characters. Refused are C0 controls (tab, CR, LF,
// ESC and the rest), DEL, C1 controls, the Unicode line and paragraph
// separators, and the bidirectional embedding, override and isolate
// characters, which can make a table or terminal show text other than
// what is stored. The error does not repeat the value; callers name the
// field (ValidateText does).
func CheckText(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("is longer than the limit of %d bytes", max)
	}
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !isReplacementChar(s[i:]):
			return fmt.Errorf("is not UTF-8 text (invalid byte at offset %d)", i)
		case unsafeRune(r):
			return fmt.Errorf("holds %U at byte %d: text is one line of printable characters, without control characters", r, i)
		}
	}
	return nil
}

// ValidateText is CheckText reporting a *FieldError for field.
func ValidateText(field, value string, max int) error {
	if err := CheckText(value, max); err != nil {
		return &FieldError{Field: field, Value: value, Msg: err.Error()}
	}
	return nil
}

// isReplacementChar reports whether s starts with a real, encoded U+FFFD
// rather than an invalid byte.
func isReplacementChar(s string) bool {
	r, size := utf8.DecodeRuneInString(s)
	return r == utf8.RuneError && size == 3
}

// unsafeRune reports a rune CheckText refuses.
func unsafeRune(r rune) bool {
	switch {
	case unicode.IsControl(r): // C0, DEL and C1
		return true
	case r == '\u2028' || r == '\u2029': // line and paragraph separators
		return true
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069': // bidi embeddings, overrides, isolates
		return true
	}
	return false
}
