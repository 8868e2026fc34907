package targets

import (
	"fmt"
	"strings"
	"time"
)

// Options say how to reach devices. The zero value reaches them over HTTP
// (HTTPS for an address on port 5986) with NTLM and the built-in WinRM
// executor.
type Options struct {
	// HTTPS reaches every device over HTTPS; an address on port 5986 does
	// so anyway.
	HTTPS bool
	// CAFile is a PEM bundle of the CAs that sign the devices'
	// certificates; empty means the system roots.
	CAFile string
	// InsecureSkipVerify accepts any certificate (testing only).
	InsecureSkipVerify bool
	// Auth is the authentication scheme: "ntlm" (Negotiate, the default
	// when empty) or "basic".
	Auth string
	// AllowBasicWithoutTLS lets Basic send passwords over plain HTTP or
	// unverified TLS (isolated labs only); see CheckAuth.
	AllowBasicWithoutTLS bool
	// ConnectTimeout bounds connecting and each round trip; zero leaves
	// the executor's default.
	ConnectTimeout time.Duration
	// Executor names the executor: a built-in one ("winrm", the default
	// when empty) or a registered plugin.
	Executor string
	// ExecutorOptions are passed to the executor with every target. A
	// value "@FILE" is replaced by the contents of FILE.
	ExecutorOptions map[string]string
}

// DefaultExecutor is the executor used when Options.Executor is empty.
const DefaultExecutor = "winrm"

// executor is the executor the options name.
func (o *Options) executor() string {
	if o.Executor == "" {
		return DefaultExecutor
	}
	return o.Executor
}

// BasicAuthError refuses Basic authentication where the password would
// cross the network readable.
type BasicAuthError struct {
	// Unverified is true when HTTPS is asked for but certificates are not
	// verified; false when the transport is plain HTTP.
	Unverified bool
}

func (e *BasicAuthError) Error() string {
	if e.Unverified {
		return "basic authentication over TLS without certificate verification would hand passwords to whoever answers"
	}
	return "basic authentication without HTTPS would send passwords in clear"
}

// CheckAuth refuses Basic authentication where the password would cross
// the network readable (plain HTTP, or TLS whose certificate is not
// verified) with a *BasicAuthError, unless AllowBasicWithoutTLS says so:
// then it returns a warning for the caller to show its user. Devices whose
// address is on port 5986 use HTTPS too, but Basic asks for HTTPS so that
// the choice is explicit for every device.
func (o *Options) CheckAuth() (warning string, err error) {
	if !strings.EqualFold(o.Auth, "basic") {
		return "", nil
	}
	exposed := !o.HTTPS || o.InsecureSkipVerify
	switch {
	case exposed && !o.AllowBasicWithoutTLS:
		return "", &BasicAuthError{Unverified: o.HTTPS}
	case exposed:
		return "passwords cross the network where anyone on the path can read them", nil
	}
	return "", nil
}

// FileError is a file the options name that could not be read: the CA
// bundle (Option empty) or an "@FILE" executor option value.
type FileError struct {
	Option string // the executor option's key; empty for Options.CAFile
	Err    error
}

func (e *FileError) Error() string {
	if e.Option == "" {
		return fmt.Sprintf("CA file: %v", e.Err)
	}
	return fmt.Sprintf("executor option %s: %v", e.Option, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }
