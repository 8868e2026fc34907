package inventory

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"time"
)

// Device is one Windows machine in the estate. Hostname, Address, Org, Site,
// Labels and Credential are declared by the operator; Facts and LastSeen are
// observed, each fact with its own observation time.
type Device struct {
	Hostname   string // DNS name, lower case; unique across the estate
	Address    string // optional host[:port] to connect to, when not the hostname
	Org        string // organisation code
	Site       string // optional site within the organisation
	Labels     Labels
	Credential string // optional name of the credential set executors use

	Facts    Facts
	LastSeen time.Time // when any source last saw the device alive; zero if never

	CreatedAt time.Time // when Ringmaster first stored the device
	UpdatedAt time.Time // when Ringmaster last changed the stored device
}

// Declared field names, as used in files, errors and selectors.
const (
	FieldHostname   = "hostname"
	FieldAddress    = "address"
	FieldOrg        = "org"
	FieldSite       = "site"
	FieldLabels     = "labels"
	FieldCredential = "credential"
	FieldLastSeen   = "last_seen"
)

// isDNSLabel reports whether s is one lower-case DNS label (RFC 1123).
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// NormaliseHostname returns the canonical form of a hostname: trimmed, lower
// case, without a trailing dot. Hostnames compare case-insensitively.
func NormaliseHostname(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
}

// ValidateHostname checks a normalised hostname is a DNS name (RFC 1123):
// dot-separated labels of letters, digits and '-', at most 253 characters.
// A fully qualified name is recommended; a single label is accepted because
// many exports carry NetBIOS names.
func ValidateHostname(h string) error {
	if h == "" {
		return invalid(FieldHostname, h, "is required")
	}
	if len(h) > 253 {
		return invalid(FieldHostname, h, "is longer than 253 characters")
	}
	for l := range strings.SplitSeq(h, ".") {
		if !isDNSLabel(l) {
			return invalid(FieldHostname, h, "must be a DNS name: labels of letters, digits and '-', separated by dots")
		}
	}
	if strings.Trim(h, "0123456789.") == "" {
		return invalid(FieldHostname, h, "is an IP address; give a DNS name here and put the IP in the address field")
	}
	return nil
}

// ValidateAddress checks host[:port] where host is a DNS name, an IPv4
// address or a bracketed IPv6 address, and port is 1-65535.
func ValidateAddress(a string) error {
	if a == "" {
		return nil
	}
	if len(a) > 261 { // a 253-byte name, brackets or a colon, a port
		return invalid(FieldAddress, a, "is longer than 261 bytes")
	}
	host, port := a, ""
	if h, p, err := net.SplitHostPort(a); err == nil {
		host, port = h, p
	} else if strings.Contains(a, ":") && !strings.HasPrefix(a, "[") && net.ParseIP(a) == nil {
		return invalid(FieldAddress, a, "is not host[:port]")
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return invalid(FieldAddress, a, "has a port outside 1-65535")
		}
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	if err := ValidateHostname(strings.ToLower(host)); err != nil {
		return invalid(FieldAddress, a, "has a host that is neither a DNS name nor an IP address")
	}
	return nil
}

// Normalise canonicalises the declared fields in place.
func (d *Device) Normalise() {
	d.Hostname = NormaliseHostname(d.Hostname)
	d.Address = strings.TrimSpace(d.Address)
	d.Org = NormaliseOrgCode(d.Org)
	d.Site = strings.TrimSpace(d.Site)
	d.Credential = strings.TrimSpace(d.Credential)
	if len(d.Labels) == 0 {
		d.Labels = nil
	}
}

// Validate checks the declared fields and returns the first problem as a
// *FieldError. It does not check that the organisation exists.
func (d *Device) Validate() error {
	if p := d.Problems(); len(p) > 0 {
		return p[0]
	}
	return nil
}

// Problems returns every problem with the declared fields, one per field.
func (d *Device) Problems() []*FieldError {
	var out []*FieldError
	add := func(err error) {
		var fe *FieldError
		if errors.As(err, &fe) {
			out = append(out, fe)
		}
	}
	add(ValidateHostname(d.Hostname))
	add(ValidateAddress(d.Address))
	add(ValidateOrgCode(d.Org))
	add(ValidateText(FieldSite, d.Site, MaxSiteLen))
	if d.Credential != "" && !isName(d.Credential) {
		add(invalid(FieldCredential, d.Credential, "is not a credential name (1-63 letters, digits, '-', '_' or '.')"))
	}
	if len(d.Labels) > MaxLabels {
		add(invalid(FieldLabels, "", "has %d labels, over the limit of %d", len(d.Labels), MaxLabels))
	}
	for k, v := range d.Labels {
		if err := ValidateLabel(k, v); err != nil {
			add(invalid(FieldLabels, "", "%v", err))
			break
		}
	}
	return out
}

// Release names the device's Windows release from its observed build, or ""
// when the build is unknown or not a known release.
func (d *Device) Release() string { return d.Facts.OSBuild.Release() }

// Observation is what was seen on one device at one time: facts to merge
// into it (per fact, the newest observation wins) and when it was seen.
type Observation struct {
	Hostname string
	Facts    Facts
	Seen     time.Time
}
