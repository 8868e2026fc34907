// Package safecsv writes CSV that a person can open in a spreadsheet
// without running what its cells hold. Excel, LibreOffice and Google Sheets
// read a cell that starts with = + - or @ as a formula, and a formula such
// as =cmd|' /C calc'!A0 (dynamic data exchange) or =HYPERLINK(...) can run
// a program or send data away; a leading tab or carriage return is read
// past. Every CSV file Ringmaster writes holds names that came from
// elsewhere (organisation names, sites, device facts from imports and
// probes), so every CSV writer goes through this package.
//
// The defence is OWASP's (owasp.org/www-community/attacks/CSV_Injection):
// prefix such a cell with a single quote, which spreadsheets take as "this
// is text" and do not show. Cells that are plain decimal numbers ("-5",
// "+3.5") are left alone: no spreadsheet reads them as anything but a
// number, and quoting them would turn numeric columns into text. OWASP
// quotes those too; here a figure such as a negative change stays a number.
//
// Restore undoes Neutralise exactly, so a file Ringmaster wrote reads back
// as the values it was written from; Writer.Raw turns neutralising off for
// files meant for programs rather than people.
package safecsv

import (
	"encoding/csv"
	"io"
)

// Neutralise returns cell as it should be written for a spreadsheet: with a
// leading single quote if a spreadsheet would otherwise take it as a
// formula (it starts with = + - @, a tab or a carriage return and is not a
// plain number), or if it already starts with single quotes before such a
// character (so that Restore can tell the quote Neutralise added from one
// that was there). Otherwise cell is returned unchanged.
func Neutralise(cell string) string {
	if risky(cell) {
		return "'" + cell
	}
	return cell
}

// Restore undoes Neutralise: for every string s, Restore(Neutralise(s)) is
// s. It removes one leading single quote, and only from a cell that
// Neutralise would have changed, so a value that merely starts with a quote
// ("'Tis") is kept.
func Restore(cell string) string {
	if len(cell) > 1 && cell[0] == '\'' && risky(cell) {
		return cell[1:]
	}
	return cell
}

// risky reports whether, after any leading single quotes, s starts with a
// character spreadsheets take as the start of a formula, and is not a
// plain number.
func risky(s string) bool {
	i := 0
	for i < len(s) && s[i] == '\'' {
		i++
	}
	if i == len(s) {
		return false
	}
	switch s[i] {
	case '=', '@', '\t', '\r':
		return true
	case '+', '-':
		return !isNumber(s[i:])
	}
	return false
}

// isNumber reports a plain decimal number: an optional sign, digits, and
// an optional fraction ("-5", "+3.25", "-0.5"). Exponents, thousands
// separators and anything after the number are not plain.
func isNumber(s string) bool {
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0 && i+1 < len(s):
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// Writer writes CSV records with every cell neutralised, unless Raw.
type Writer struct {
	// Raw writes cells exactly as given: for a file a program reads back,
	// never one a person opens in a spreadsheet.
	Raw bool

	w   *csv.Writer
	buf []string
}

// NewWriter returns a Writer that neutralises cells and writes to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: csv.NewWriter(w)}
}

// Write writes one record, neutralising its cells unless w.Raw. Like
// csv.Writer, it buffers: call Flush, then check Error.
func (w *Writer) Write(record []string) error {
	if w.Raw {
		return w.w.Write(record)
	}
	w.buf = w.buf[:0]
	for _, c := range record {
		w.buf = append(w.buf, Neutralise(c))
	}
	return w.w.Write(w.buf)
}

// Flush writes any buffered data to the underlying writer.
func (w *Writer) Flush() { w.w.Flush() }

// Error reports any error of a previous Write or Flush.
func (w *Writer) Error() error { return w.w.Error() }
