package format

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// MaxRecordBytes bounds one record of an import file: a CSV row (with any
// line breaks quoted inside it) or one JSON object. A real device is a few
// hundred bytes, a few KB with a long list of updates; a longer record is
// refused, with its line, before it is held in memory whole, so a file of
// one 10 GB line cannot exhaust the process.
const MaxRecordBytes = 1 << 20

// errRecordTooLong is what lineCounter.Read returns once the reader is
// more than its limit past the start of the record being read.
var errRecordTooLong = errors.New("record too long")

// lineCounter counts newlines in what a decoder reads, so byte offsets can
// be turned into line numbers without keeping the file, and bounds how
// far the decoder may read past the end of the last whole record (mark).
type lineCounter struct {
	r     io.Reader
	read  int64   // bytes handed to the decoder
	nl    []int64 // offsets of newlines not yet passed by lineAt
	lines int     // newlines before the last lineAt offset

	limit int64 // 0 for none; else Read hands out at most limit bytes past mark, then fails
	mark  int64 // where the record being read began (the last one's end)
}

// setMark records that a whole record ends at off: the next one starts
// after it.
func (l *lineCounter) setMark(off int64) {
	l.lineAt(off) // forget the newlines before it
	l.mark = off
}

func (l *lineCounter) Read(p []byte) (int, error) {
	if l.limit > 0 {
		left := l.limit - (l.read - l.mark)
		if left <= 0 {
			return 0, errRecordTooLong
		}
		p = p[:min(int64(len(p)), left)]
	}
	n, err := l.r.Read(p)
	for i, c := range p[:n] {
		if c == '\n' {
			l.nl = append(l.nl, l.read+int64(i))
		}
	}
	l.read += int64(n)
	return n, err
}

// note records a byte consumed before the decoder started.
func (l *lineCounter) note(b byte) {
	if b == '\n' {
		l.lines++
	}
}

// lineAt returns the 1-based line of decoder offset off; offsets must not decrease.
func (l *lineCounter) lineAt(off int64) int {
	i := 0
	for i < len(l.nl) && l.nl[i] < off {
		i++
	}
	l.lines += i
	l.nl = l.nl[i:]
	if cap(l.nl) > 1024 && len(l.nl) < cap(l.nl)/4 {
		l.nl = slices.Clone(l.nl)
	}
	return l.lines + 1
}

// tooLong is the error for a record over MaxRecordBytes that starts at
// offset start.
func (l *lineCounter) tooLong(name string, start int64) error {
	return &FileError{Pos: inventory.Position{File: name, Line: l.lineAt(start)},
		Msg: fmt.Sprintf("record longer than the limit of %d bytes (a runaway line, or not an inventory file)", MaxRecordBytes)}
}
