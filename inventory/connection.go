package inventory

import (
	"strings"
	"time"
)

// Connection is a connection profile: how the devices of an organisation
// (or, with Org empty, of every organisation without a profile of its own:
// the estate default) are reached. It is set once and used by every
// command and the server; a caller's own settings override it (see the
// targets package, which resolves devices through profiles).
//
// An organisation's profile replaces the default's transport and executor
// as a whole. The credential is resolved field by field: the device's
// own, else its organisation's (Organisation.Credential, which an
// organisation's profile reads and writes), else the default profile's.
type Connection struct {
	Org string // organisation code; "" is the estate default

	// Executor names the executor: "winrm" (the built-in one) or a
	// registered plugin; "" means winrm.
	Executor string
	// HTTPS reaches the devices over HTTPS.
	HTTPS bool
	// Port is the port to connect to when a device's address names none
	// (0: the transport's default, 5985 or 5986 for WinRM).
	Port int
	// Auth is the authentication scheme ("" means ntlm).
	Auth string
	// AllowBasicWithoutTLS lets Basic send passwords over plain HTTP or
	// unverified TLS (isolated labs only).
	AllowBasicWithoutTLS bool
	// CACert is the PEM bundle of the CAs that sign the devices'
	// certificates, as it was read when the profile was set (nil: the
	// system roots). CAName is where it was read from, for messages.
	CACert []byte
	CAName string
	// Options are passed to the executor with every target (values as
	// they were read: an "@FILE" is read when the profile is set).
	Options map[string]string
	// Credential names the credential the devices log on with unless
	// they name their own ("" for none).
	Credential string

	UpdatedAt time.Time
}

// Limits of a connection profile's fields.
const (
	MaxPort          = 65535
	MaxAuthLen       = 32
	MaxCANameLen     = 256
	MaxOptions       = 64
	MaxOptionKeyLen  = 64
	MaxOptionValue   = 1 << 20 // an "@FILE" value such as known_hosts
	MaxCredentialLen = 128
)

// Normalise canonicalises the profile in place: the code upper-cased, the
// executor and scheme lower-cased and trimmed.
func (c *Connection) Normalise() {
	c.Org = NormaliseOrgCode(c.Org)
	c.Executor = strings.ToLower(strings.TrimSpace(c.Executor))
	c.Auth = strings.ToLower(strings.TrimSpace(c.Auth))
	c.Credential = strings.TrimSpace(c.Credential)
}

// Validate checks every field's shape and returns the first problem as a
// *FieldError named as the CLI's flag is (executor, port, auth, ...).
// Which executors exist, whether Basic is safe and whether the CA bundle
// parses are the targets package's rules.
func (c *Connection) Validate() error {
	if c.Org != "" {
		if err := ValidateOrgCode(c.Org); err != nil {
			return err
		}
	}
	if c.Executor != "" && !isName(c.Executor) {
		return invalid("executor", c.Executor, "must be an executor's name (lower-case letters, digits, '-', '_')")
	}
	if c.Port < 0 || c.Port > MaxPort {
		return invalid("port", "", "%d is not a port (1-%d, or 0 for the transport's default)", c.Port, MaxPort)
	}
	if c.Auth != "" && (len(c.Auth) > MaxAuthLen || !isName(c.Auth)) {
		return invalid("auth", c.Auth, "must be a scheme's name such as ntlm or basic")
	}
	if err := ValidateText("ca-name", c.CAName, MaxCANameLen); err != nil {
		return err
	}
	if len(c.CACert) > 0 && c.CAName == "" {
		return invalid("ca-name", "", "is required with a CA bundle (where it was read from, for messages)")
	}
	if len(c.Options) > MaxOptions {
		return invalid("option", "", "has %d options, over the limit of %d", len(c.Options), MaxOptions)
	}
	for k, v := range c.Options {
		if k == "" || len(k) > MaxOptionKeyLen || !isName(strings.ToLower(k)) {
			return invalid("option", k, "must be a key of letters, digits, '-' or '_'")
		}
		if len(v) > MaxOptionValue {
			return invalid("option", k, "has a value of %d bytes, over the limit of %d", len(v), MaxOptionValue)
		}
	}
	return ValidateText("credential", c.Credential, MaxCredentialLen)
}
