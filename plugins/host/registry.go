package host

import (
	"context"
	"time"
)

// Registration is an executor plugin as registered (ringmaster plugin
// install): its binary and the SHA-256 the host pins it to.
type Registration struct {
	Name, Path, SHA256 string
	InstalledAt        time.Time
	// Protocol is the plugin protocol version it was installed with (0:
	// installed before Ringmaster recorded it), Version the version it
	// reported then.
	Protocol int
	Version  string
}

// Spec is how to start the registered plugin, pinned to its digest.
func (r Registration) Spec() Spec {
	return Spec{Name: r.Name, Path: r.Path, SHA256: r.SHA256}
}

// Registry is the contract every store of plugin registrations implements
// (store/sqlite's Plugins today, PostgreSQL's next).
type Registry interface {
	// InstallPlugin registers (or re-registers) a plugin binary and its
	// digest.
	InstallPlugin(ctx context.Context, p Registration) error
	// Plugin returns a registered plugin, or an error wrapping
	// errkind.NotFound.
	Plugin(ctx context.Context, name string) (Registration, error)
	// Plugins lists the registered plugins by name.
	Plugins(ctx context.Context) ([]Registration, error)
	// RemovePlugin forgets a plugin (an unknown one: errkind.NotFound).
	RemovePlugin(ctx context.Context, name string) error
}
