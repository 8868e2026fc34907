package errkind

import "errors"

// Kind is a kind of failure. It is an error itself, so a store wraps it
// (fmt.Errorf("organisation %s: %w", code, errkind.NotFound)) and a caller
// tests it with errors.Is. The kinds are constants: nothing can reassign
// one.
type Kind string

func (k Kind) Error() string { return string(k) }

// The kinds. Their texts are what a wrapped error ends in, e.g.
// "organisation RXX: not found".
const (
	// NotFound is a record (organisation, device, credential, plugin,
	// campaign, wave, alert...) that does not exist.
	NotFound Kind = "not found"
	// Exists is a record created under a name or key already taken.
	Exists Kind = "already exists"
	// Conflict is a change refused because what is stored disagrees with
	// it, such as a credential sealed under a key other than the one the
	// stored credentials were sealed with.
	Conflict Kind = "conflict"
	// InUse is a record that cannot be removed because others refer to it.
	InUse Kind = "in use"
	// Invalid is wrapped by every validation error.
	Invalid Kind = "invalid"
	// Forbidden is an action the caller's access scope does not allow.
	Forbidden Kind = "forbidden"
)

// kinds in the order Of tests them.
var kinds = []Kind{NotFound, Exists, Conflict, InUse, Invalid, Forbidden}

// Of returns the kind err wraps (the first of NotFound, Exists, Conflict,
// InUse, Invalid, Forbidden that errors.Is finds), or "" when it wraps
// none: the one place a caller such as an HTTP server turns an error into
// a status.
func Of(err error) Kind {
	if err == nil {
		return ""
	}
	for _, k := range kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return ""
}
