package host

import (
	"errors"
	"fmt"
)

// ErrChecksum reports a plugin binary that is not the one registered.
var ErrChecksum = errors.New("plugin binary does not match its registered SHA-256")

// UnsafePathError reports a plugin file, or a directory on the way to it,
// that someone other than root and the user running Ringmaster could
// change: they could then replace or alter the plugin behind its pin.
type UnsafePathError struct {
	Plugin  string // the plugin file as registered
	Path    string // the file or directory at fault
	Dir     bool   // Path is a directory
	Mode    uint32 // its permission bits, with setuid, setgid and sticky (as ls shows them, in octal)
	UID     int    // its owner
	Problem string // e.g. "is writable by others"
	Fix     string // what to do about it
}

func (e *UnsafePathError) Error() string {
	what := "directory " + e.Path
	switch {
	case e.Path == e.Plugin:
		what = "the file"
	case !e.Dir:
		what = "file " + e.Path // the target of a symbolic link
	}
	return fmt.Sprintf("plugin file %s: refused: %s (mode %04o, owner uid %d) %s, so the plugin could be replaced or changed behind its pin; fix: %s",
		e.Plugin, what, e.Mode, e.UID, e.Problem, e.Fix)
}
