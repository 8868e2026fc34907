package targets

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ringmaster-fleet/ringmaster/plugins/host"
)

// Plugins finds registered executor plugins: where each is and the SHA-256
// it was pinned to, as a host.Spec.
type Plugins interface {
	// Plugin returns the named plugin's registration (its Spec is how to
	// start it), or an error wrapping errkind.NotFound.
	Plugin(ctx context.Context, name string) (host.Registration, error)
}

// StartExecutor starts the named executor: a built-in one of this
// binary, else a registered plugin, which the host checks against its
// pinned SHA-256. The caller closes it.
func (r *Resolver) StartExecutor(ctx context.Context, name string) (*host.Plugin, error) {
	if spec, ok := r.cfg.Builtins[name]; ok {
		return host.Start(ctx, spec, r.cfg.Logger)
	}
	if r.cfg.Plugins == nil {
		return nil, fmt.Errorf("executor %q is not built in, and no plugins are registered", name)
	}
	reg, err := r.cfg.Plugins.Plugin(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("executor %q: %w", name, err)
	}
	return host.Start(ctx, reg.Spec(), r.cfg.Logger)
}

// ErrClosed is returned by Executors.Get after Close.
var ErrClosed = errors.New("targets: executors closed")

// Executors starts executors by name on first use and reuses each (the
// plugin host restarts one that crashes), so that one run drives
// organisations whose profiles name different executors. It is safe for
// concurrent use; Close closes every executor it started.
type Executors struct {
	r       *Resolver
	mu      sync.Mutex // held while one starts: starts are rare and short
	running map[string]*host.Plugin
	closed  bool
}

// Executors returns an empty set of executors started through r.
func (r *Resolver) Executors() *Executors {
	return &Executors{r: r, running: map[string]*host.Plugin{}}
}

// Get returns the named executor, starting it the first time. A start
// that fails is tried again by the next Get.
func (e *Executors) Get(ctx context.Context, name string) (*host.Plugin, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	if x, ok := e.running[name]; ok {
		return x, nil
	}
	x, err := e.r.StartExecutor(ctx, name)
	if err != nil {
		return nil, err
	}
	e.running[name] = x
	return x, nil
}

// Started names the executors running, for logs and tests.
func (e *Executors) Started() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.running))
	for name := range e.running {
		out = append(out, name)
	}
	return out
}

// Close closes every executor started; Get fails afterwards.
func (e *Executors) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for _, x := range e.running {
		x.Close()
	}
	e.running = nil
}
