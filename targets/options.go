package targets

import (
	"fmt"
	"strings"
	"time"
)

// Options say how to reach devices, over their connection profiles: what
// is set here overrides the profile (a bool only turns its setting on;
// ExecutorOptions override key by key); what is left zero comes from the
// device's organisation's profile, else the estate default's, else the
// defaults: HTTP (HTTPS for an address on port 5986), NTLM, the system
// roots and the built-in WinRM executor.
type Options struct {
	// HTTPS reaches every device over HTTPS; an address on port 5986 does
	// so anyway.
	HTTPS bool
	// CAFile is a PEM bundle of the CAs that sign the devices'
	// certificates; empty means the profile's, else the system roots.
	CAFile string
	// Port is the port to connect to where a device's address names none
	// (0: the profile's, else the transport's default).
	Port int
	// InsecureSkipVerify accepts any certificate (testing only).
	InsecureSkipVerify bool
	// Auth is the authentication scheme: "ntlm" (Negotiate) or "basic";
	// empty means the profile's, else ntlm.
	Auth string
	// AllowBasicWithoutTLS lets Basic send passwords over plain HTTP or
	// unverified TLS (isolated labs only); see CheckAuth.
	AllowBasicWithoutTLS bool
	// ConnectTimeout bounds connecting and each round trip; zero leaves
	// the executor's default.
	ConnectTimeout time.Duration
	// Executor names the executor: a built-in one ("winrm") or a
	// registered plugin; empty means the profile's, else winrm.
	Executor string
	// ExecutorOptions are passed to the executor with every target. A
	// value "@FILE" is replaced by the contents of FILE.
	ExecutorOptions map[string]string
}

// DefaultExecutor is the executor used when Options.Executor is empty.
const DefaultExecutor = "winrm"

// BasicAuthError refuses Basic authentication where the password would
// cross the network readable.
type BasicAuthError struct {
	// Unverified is true when HTTPS is asked for but certificates are not
	// verified; false when the transport is plain HTTP.
	Unverified bool
	// Profile names the connection profile the setting came from
	// ("organisation RXX's connection profile"); empty when the options
	// alone ask for it.
	Profile string
}

func (e *BasicAuthError) Error() string {
	msg := "basic authentication without HTTPS would send passwords in clear"
	if e.Unverified {
		msg = "basic authentication over TLS without certificate verification would hand passwords to whoever answers"
	}
	if e.Profile != "" {
		msg += " (with " + e.Profile + ")"
	}
	return msg
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
