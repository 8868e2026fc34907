package sdk

import (
	"errors"
	"fmt"
)

// Kind classifies a failure so callers can decide what to do about it.
type Kind string

// Error kinds.
const (
	Unreachable   Kind = "unreachable"
	TimedOut      Kind = "timed_out"
	AuthFailed    Kind = "auth_failed"
	TLS           Kind = "tls"
	Protocol      Kind = "protocol"
	Cancelled     Kind = "cancelled"
	CommandFailed Kind = "command_failed"
	Internal      Kind = "internal"
)

// Retryable reports whether trying again later may succeed on its own.
func (k Kind) Retryable() bool { return k == Unreachable || k == TimedOut }

// Error is an executor failure of a Kind. Its message never holds a secret.
type Error struct {
	Kind     Kind
	Op       string // "probe", "exec", "connect" ...
	Target   string // the device's hostname or address
	ExitCode int    // for CommandFailed
	Err      error  // the underlying cause, already free of secrets
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %s", e.Op, e.Target, e.Kind)
	if e.Kind == CommandFailed {
		msg += fmt.Sprintf(" (exit code %d)", e.ExitCode)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error with a formatted cause.
func Errorf(kind Kind, op, target, format string, args ...any) *Error {
	return &Error{Kind: kind, Op: op, Target: target, Err: fmt.Errorf(format, args...)}
}

// KindOf returns the kind of an executor error, or "" for an error that
// carries none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// IsKind reports whether err is an executor error of kind k.
func IsKind(err error, k Kind) bool { return KindOf(err) == k }
