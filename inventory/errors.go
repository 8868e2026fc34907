package inventory

import (
	"fmt"

	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// FieldError reports an invalid value of one named field. It wraps
// errkind.Invalid.
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

// Unwrap makes errors.Is(err, errkind.Invalid) true for every FieldError.
func (e *FieldError) Unwrap() error { return errkind.Invalid }

func invalid(field, value, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Value: value, Msg: fmt.Sprintf(format, args...)}
}
