// Package inputfile reads the files operators hand to Ringmaster (campaigns,
// playbooks, alerts, keys, certificates) with a size limit, so a runaway or
// hostile file is refused with its name and size before it is parsed,
// instead of taking the process's memory and minutes of CPU.
package inputfile

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// DefaultMax is the default limit for one input file: far above any real
// campaign, playbook or alert (the largest sample alert is a few KB), far
// below what would hurt the process. Callers let the operator raise it.
const DefaultMax int64 = 4 << 20

// ErrTooLarge is wrapped by the error returned for a file over its limit.
var ErrTooLarge = errors.New("file too large")

// TooLargeError says which file was over which limit.
type TooLargeError struct {
	Name  string
	Size  int64 // bytes read before giving up: at least Max+1
	Max   int64
	Raise string // how to raise the limit, e.g. "--max-file-size"; may be empty
}

func (e *TooLargeError) Error() string {
	msg := fmt.Sprintf("%s: larger than the limit of %d bytes", e.Name, e.Max)
	if e.Raise != "" {
		msg += " (raise it with " + e.Raise + ")"
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// Limit is a size limit and how the operator raises it.
type Limit struct {
	Max   int64  // bytes; 0 means DefaultMax
	Raise string // the flag or setting that raises it, named in the error
}

func (l Limit) max() int64 {
	if l.Max <= 0 {
		return DefaultMax
	}
	return l.Max
}

// ReadFile reads the named file ("-" is not special) if it is no larger
// than the limit. The limit is enforced on the bytes read, not on a size
// reported by stat, so a FIFO or a growing file is bounded too.
func (l Limit) ReadFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return l.Read(name, f)
}

// Read reads r whole if it holds no more than the limit; name is used in
// the error.
func (l Limit) Read(name string, r io.Reader) ([]byte, error) {
	max := l.max()
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > max {
		return nil, &TooLargeError{Name: name, Size: int64(len(data)), Max: max, Raise: l.Raise}
	}
	return data, nil
}
