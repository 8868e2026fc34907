package inventory

import (
	"strings"
	"time"
)

// Organisation is one body that owns devices: a hospital trust, a practice,
// a care provider. Its code is its identity (for NHS bodies, the ODS code).
type Organisation struct {
	Code     string   // unique, upper case, e.g. "RXX"
	Name     string   // human name, e.g. "Example Hospitals NHS Trust"
	TimeZone string   // IANA zone, e.g. "Europe/London"; maintenance windows are read in it
	Tags     []string // optional free-form tags, sorted and unique
	// Credential names the credential set its devices log on with, unless a
	// device names its own ("" for none).
	Credential string

	CreatedAt time.Time
}

// isOrgCode reports whether code is 1-32 upper-case letters, digits, '-'
// or '_', starting with a letter or digit.
func isOrgCode(code string) bool {
	if len(code) == 0 || len(code) > 32 {
		return false
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		ok := c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || i > 0 && (c == '-' || c == '_')
		if !ok {
			return false
		}
	}
	return true
}

// NormaliseOrgCode returns the canonical (upper-case, trimmed) form of an
// organisation code. Codes compare case-insensitively.
func NormaliseOrgCode(code string) string { return strings.ToUpper(strings.TrimSpace(code)) }

// ValidateOrgCode reports whether code (already normalised) is well formed.
func ValidateOrgCode(code string) error {
	if code == "" {
		return invalid("org", code, "is required")
	}
	if !isOrgCode(code) {
		return invalid("org", code, "must be 1-32 letters, digits, '-' or '_', starting with a letter or digit")
	}
	return nil
}

// Normalise canonicalises the organisation in place: trims fields, upper-cases
// the code, and sorts and de-duplicates tags.
func (o *Organisation) Normalise() {
	o.Code = NormaliseOrgCode(o.Code)
	o.Name = strings.TrimSpace(o.Name)
	o.TimeZone = strings.TrimSpace(o.TimeZone)
	o.Tags = normaliseList(o.Tags, strings.TrimSpace)
}

// Validate checks every field and returns the first problem as a *FieldError.
func (o *Organisation) Validate() error {
	if err := ValidateOrgCode(o.Code); err != nil {
		return err
	}
	if o.Name == "" {
		return invalid("name", "", "is required")
	}
	if err := ValidateText("name", o.Name, MaxOrgNameLen); err != nil {
		return err
	}
	if err := ValidateTimeZone(o.TimeZone); err != nil {
		return err
	}
	if len(o.Tags) > MaxTags {
		return invalid("tags", "", "has %d tags, over the limit of %d", len(o.Tags), MaxTags)
	}
	for _, t := range o.Tags {
		if !isName(t) {
			return invalid("tags", t, "is not a tag (1-63 letters, digits, '-', '_' or '.')")
		}
	}
	return nil
}

// ValidateTimeZone checks that tz names an IANA time zone this binary knows.
func ValidateTimeZone(tz string) error {
	if tz == "" {
		return invalid("timezone", tz, "is required (an IANA zone such as Europe/London)")
	}
	if err := ValidateText("timezone", tz, MaxTimeZoneLen); err != nil {
		return err
	}
	if tz == "Local" {
		return invalid("timezone", tz, "must name a zone explicitly, not the host's local zone")
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return invalid("timezone", tz, "is not an IANA time zone (for example Europe/London or UTC)")
	}
	return nil
}
