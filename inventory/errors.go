package inventory

import (
	"errors"
	"fmt"
)

// Sentinel errors that storage and callers wrap and test with errors.Is.
var (
	// ErrNotFound reports that an organisation or device does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists reports that an organisation or device already exists.
	ErrExists = errors.New("already exists")
	// ErrInUse reports that a record cannot be removed because others refer to it.
	ErrInUse = errors.New("in use")
	// ErrInvalid is wrapped by every validation error.
	ErrInvalid = errors.New("invalid")
	// ErrConflict reports a change refused because what is stored
	// disagrees with it, such as a credential sealed under a key other
	// than the one the stored credentials were sealed with.
	ErrConflict = errors.New("conflict")
)

// FieldError reports an invalid value of one named field. It wraps ErrInvalid.
type FieldError struct {
	Field string // the field or column name, e.g. "hostname"
	Value string // the offending value, as given (Error repeats at most 64 bytes of it)
	Msg   string // what is wrong, e.g. "must be a DNS name"
	Hint  string // optional advice, e.g. "use --create-orgs"
}

func (e *FieldError) Error() string {
	s := e.Msg
	if e.Value != "" {
		s = QuoteValue(e.Value) + " " + s
	}
	if e.Field != "" {
		s = e.Field + " " + s
	}
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// Unwrap makes errors.Is(err, ErrInvalid) true for every FieldError.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(field, value, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Value: value, Msg: fmt.Sprintf(format, args...)}
}
