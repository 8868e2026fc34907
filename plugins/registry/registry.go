package registry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// Store keeps the plugin registrations (a host.Registry, such as
// store/sqlite's Plugins, is one).
type Store interface {
	// InstallPlugin registers (or re-registers) a plugin binary and its
	// digest.
	InstallPlugin(ctx context.Context, p host.Registration) error
	// Plugin returns a registered plugin, or an error wrapping
	// errkind.NotFound.
	Plugin(ctx context.Context, name string) (host.Registration, error)
	// Plugins lists the registered plugins by name.
	Plugins(ctx context.Context) ([]host.Registration, error)
	// RemovePlugin forgets a plugin (an unknown one: errkind.NotFound).
	RemovePlugin(ctx context.Context, name string) error
}

// Config is what a Registry works with.
type Config struct {
	Store Store
	// Builtins are the names of the executors built into this binary:
	// no plugin may take them, and List shows them first.
	Builtins []string
	// Logger receives the output of plugins started to check them
	// (default: discarded).
	Logger *slog.Logger
}

// Registry registers, lists and forgets executor plugins.
type Registry struct {
	cfg Config
}

// New returns a Registry over cfg.Store.
func New(cfg Config) (*Registry, error) {
	if cfg.Store == nil {
		return nil, errors.New("registry: Config needs a Store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Registry{cfg: cfg}, nil
}

// InstallOptions say how to register a plugin.
type InstallOptions struct {
	// Name is the name to register it under (default: the name it
	// reports).
	Name string
	// StartTimeout bounds its handshake (default
	// host.DefaultStartTimeout).
	StartTimeout time.Duration
}

// Installed is a plugin as registered, with the version and protocol
// version it reported.
type Installed struct {
	host.Registration
}

// ReportedNameError is a plugin whose own name cannot be registered: it
// must be given a name.
type ReportedNameError struct {
	Path string
	Err  error // a *host.NameError
}

func (e *ReportedNameError) Error() string {
	return fmt.Sprintf("%s reports a name that cannot be registered (%v)", e.Path, e.Err)
}

func (e *ReportedNameError) Unwrap() error { return e.Err }

// Install registers the plugin binary at path, pinned to its SHA-256 as
// it is now. A name given in o that cannot be registered is refused first
// (a *host.NameError), before the file is looked at; then the file is
// checked as the host checks it at every start (an *host.UnsafePathError
// for a file others could change), started once to check it completes the
// handshake within o.StartTimeout (a *host.HandshakeError otherwise) and
// asked its name and version. Without o.Name it is registered under the
// name it reports (a *ReportedNameError if that cannot be registered).
func (r *Registry) Install(ctx context.Context, path string, o InstallOptions) (Installed, error) {
	if o.Name != "" {
		if err := host.CheckName(o.Name, r.cfg.Builtins...); err != nil {
			return Installed{}, err
		}
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return Installed{}, err
	}
	sum, err := host.CheckFile(path)
	if err != nil {
		return Installed{}, fmt.Errorf("plugin install: %w", err)
	}
	p, err := host.Start(ctx, host.Spec{Name: filepath.Base(path), Path: path, SHA256: sum, StartTimeout: o.StartTimeout}, r.cfg.Logger)
	if err != nil {
		return Installed{}, err
	}
	info, err := p.Info(ctx)
	protocol := p.Protocol()
	p.Close()
	if err != nil {
		return Installed{}, err
	}
	name := o.Name
	if name == "" {
		if err := host.CheckName(info.Name, r.cfg.Builtins...); err != nil {
			return Installed{}, &ReportedNameError{Path: path, Err: err}
		}
		name = info.Name
	}
	reg := host.Registration{Name: name, Path: path, SHA256: sum, Protocol: protocol, Version: info.Version}
	if err := r.cfg.Store.InstallPlugin(ctx, reg); err != nil {
		return Installed{}, fmt.Errorf("register plugin %s: %w", name, err)
	}
	return Installed{Registration: reg}, nil
}

// Spec says how to start the plugin named by pathOrName: a plugin file
// (a path with a slash in it, e.g. ./ringmaster-executor-agent), pinned
// to its SHA-256 as it is now after the checks the host makes at every
// start, or the name of a registered plugin, pinned as registered.
func (r *Registry) Spec(ctx context.Context, pathOrName string) (host.Spec, error) {
	if !strings.ContainsRune(pathOrName, filepath.Separator) {
		reg, err := r.cfg.Store.Plugin(ctx, pathOrName)
		if err != nil {
			return host.Spec{}, err
		}
		return reg.Spec(), nil
	}
	return FileSpec(pathOrName)
}

// FileSpec says how to start the plugin file at path: pinned to its
// SHA-256 as it is now, after the checks the host makes at every start.
func FileSpec(path string) (host.Spec, error) {
	path, err := filepath.Abs(path)
	if err != nil {
		return host.Spec{}, err
	}
	sum, err := host.CheckFile(path)
	if err != nil {
		return host.Spec{}, err
	}
	return host.Spec{Name: filepath.Base(path), Path: path, SHA256: sum}, nil
}

// Remove forgets the named plugin (an unknown one: errkind.NotFound); its
// binary is left alone.
func (r *Registry) Remove(ctx context.Context, name string) error {
	return r.cfg.Store.RemovePlugin(ctx, name)
}

// Health is how an executor stands.
type Health string

// An executor's standing, as List finds it.
const (
	// BuiltIn: served by this binary.
	BuiltIn Health = "built in"
	// OK: the file is there, safe and the one pinned.
	OK Health = "ok"
	// Missing: no file at the registered path.
	Missing Health = "missing"
	// Refused: the host would refuse to start it (Entry.Err says why,
	// often an *host.UnsafePathError).
	Refused Health = "refused"
	// Changed: the file is not the one pinned; it is refused until
	// installed again.
	Changed Health = "changed"
	// InvalidName: registered under a name no longer accepted (before
	// names were checked); remove it and install it again under another.
	InvalidName Health = "invalid name"
	// OtherProtocol: installed as a plugin of another protocol version
	// than this Ringmaster's (sdk.ProtocolVersion), which refuses it at
	// start; rebuild it against this Ringmaster's plugins/sdk.
	OtherProtocol Health = "other protocol"
)

// Entry is one executor and how it stands.
type Entry struct {
	host.Registration
	Health Health
	// Err is why a Refused plugin is refused, or why an InvalidName one's
	// name is not accepted.
	Err error
}

// List returns the built-in executors, then every registered plugin by
// name with how its file stands now (see Health).
func (r *Registry) List(ctx context.Context) ([]Entry, error) {
	regs, err := r.cfg.Store.Plugins(ctx)
	if err != nil {
		return nil, fmt.Errorf("list plugins: %w", err)
	}
	out := make([]Entry, 0, len(r.cfg.Builtins)+len(regs))
	for _, name := range r.cfg.Builtins {
		out = append(out, Entry{Registration: host.Registration{Name: name}, Health: BuiltIn})
	}
	for _, p := range regs {
		e := Entry{Registration: p, Health: OK}
		switch sum, err := host.CheckFile(p.Path); {
		case errors.Is(err, fs.ErrNotExist):
			e.Health = Missing
		case err != nil:
			e.Health, e.Err = Refused, err
		case sum != p.SHA256:
			e.Health = Changed
		case p.Protocol != 0 && p.Protocol != sdk.ProtocolVersion:
			e.Health = OtherProtocol
		}
		if err := host.CheckName(p.Name, r.cfg.Builtins...); err != nil {
			e.Health, e.Err = InvalidName, err
		}
		out = append(out, e)
	}
	return out, nil
}
