package errkind

import "errors"

// The kinds. Their texts are what a wrapped error ends in, e.g.
// "organisation RXX: not found".
var (
	// NotFound is a record (organisation, device, credential, plugin,
	// campaign, wave, alert...) that does not exist.
	NotFound = errors.New("not found")
	// Exists is a record created under a name or key already taken.
	Exists = errors.New("already exists")
	// Conflict is a change refused because what is stored disagrees with
	// it, such as a credential sealed under a key other than the one the
	// stored credentials were sealed with.
	Conflict = errors.New("conflict")
	// InUse is a record that cannot be removed because others refer to it.
	InUse = errors.New("in use")
	// Invalid is wrapped by every validation error.
	Invalid = errors.New("invalid")
	// Forbidden is an action the caller's access scope does not allow.
	Forbidden = errors.New("forbidden")
)

// kinds in the order Of tests them.
var kinds = []error{NotFound, Exists, Conflict, InUse, Invalid, Forbidden}

// Of returns the kind err wraps (the first of NotFound, Exists, Conflict,
// InUse, Invalid, Forbidden that errors.Is finds), or nil when it wraps
// none: the one place a caller such as an HTTP server turns an error into
// a status.
func Of(err error) error {
	if err == nil {
		return nil
	}
	for _, k := range kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}
