package host

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// DefaultStartTimeout is how long a plugin has to complete the handshake
// and answer its first Info call, unless Spec.StartTimeout says otherwise.
// A Go plugin needs milliseconds; the margin is for a loaded host.
const DefaultStartTimeout = 10 * time.Second

// ErrNotPlugin is what every *HandshakeError is (errors.Is).
var ErrNotPlugin = errors.New("did not speak the Ringmaster plugin protocol")

// HandshakeError reports a plugin file that ran but did not complete the
// Ringmaster plugin handshake: not a plugin, a plugin built for another
// protocol version, or one that did not answer within the start timeout.
type HandshakeError struct {
	Path   string
	Reason string // what it did instead, with any text from it quoted
	// Timeout is the start timeout when the file said nothing within it
	// (zero otherwise): a slow plugin would start with a longer one.
	Timeout time.Duration
	// Protocol is the plugin protocol version the file offered when it
	// is a plugin of another version than sdk.ProtocolVersion (zero
	// otherwise).
	Protocol int
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Path, ErrNotPlugin, e.Reason)
}

// Is makes errors.Is(err, ErrNotPlugin) true.
func (e *HandshakeError) Is(target error) bool { return target == ErrNotPlugin }

// Messages of go-plugin's (v1.8) Client.Start, which returns no typed
// errors; TestNotAPluginRefused pins each one.
const (
	goPluginTimeout      = "timeout while waiting for plugin to start"
	goPluginExited       = "plugin exited before we could connect"
	goPluginUnrecognized = "Unrecognized remote plugin message: "
)

// goPluginVersionRE finds the version a plugin offered in go-plugin's
// "incompatible API version with plugin. Plugin version: 2, Client
// versions: [1]".
var goPluginVersionRE = regexp.MustCompile(`Plugin version: (\d+)`)

// startError turns what go-plugin reports when the plugin at path fails to
// start into an error that names the file and says what happened, without
// go-plugin's multi-line diagnostics (which stat the wrong file here:
// /proc/self/fd/3 of this process) and with whatever the file wrote
// quoted, so that it cannot reach a terminal as it is.
func startError(path string, timeout time.Duration, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) { // os/exec could not start it at all
		return fmt.Errorf("%s cannot be executed: %w", path, pe.Err)
	}
	msg := err.Error()
	e := &HandshakeError{Path: path}
	switch {
	case strings.HasPrefix(msg, goPluginTimeout):
		e.Reason, e.Timeout = fmt.Sprintf("it wrote no handshake within %s", timeout), timeout
	case strings.HasPrefix(msg, goPluginExited):
		e.Reason = "it exited before the handshake"
	case strings.HasPrefix(msg, goPluginUnrecognized):
		line, _, _ := strings.Cut(strings.TrimPrefix(msg, goPluginUnrecognized), "\n")
		if line == "" {
			e.Reason = "it exited before the handshake"
		} else {
			e.Reason = fmt.Sprintf("it wrote %s where the handshake belongs", quote(line, 80))
		}
	case strings.Contains(msg, "API version"), strings.Contains(msg, "protocol version"), strings.Contains(msg, "Unsupported plugin protocol"):
		if m := goPluginVersionRE.FindStringSubmatch(msg); m != nil {
			e.Protocol, _ = strconv.Atoi(m[1])
			e.Reason = fmt.Sprintf("it is a plugin of protocol version %d and this Ringmaster speaks version %d; rebuild it against a plugins/sdk of protocol version %d",
				e.Protocol, sdk.ProtocolVersion, sdk.ProtocolVersion)
		} else {
			e.Reason = fmt.Sprintf("it speaks another version of the plugin protocol than this Ringmaster's (version %d); rebuild it against this Ringmaster's plugins/sdk", sdk.ProtocolVersion)
		}
	default:
		line, _, _ := strings.Cut(msg, "\n")
		e.Reason = quote(line, 200)
	}
	return e
}

// quote returns s, cut to at most n bytes, Go-quoted.
func quote(s string, n int) string {
	if len(s) <= n {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:n]) + "..."
}
