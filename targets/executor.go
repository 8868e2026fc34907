package targets

import (
	"context"
	"fmt"

	"github.com/ringmaster-fleet/ringmaster/plugins/host"
)

// Plugins finds registered executor plugins: where each is and the SHA-256
// it was pinned to, as a host.Spec.
type Plugins interface {
	// Plugin returns the named plugin's registration (its Spec is how to
	// start it), or an error wrapping errkind.NotFound.
	Plugin(ctx context.Context, name string) (host.Registration, error)
}

// StartExecutor starts the executor the options name: a built-in one of
// this binary, else a registered plugin, which the host checks against
// its pinned SHA-256. The caller closes it.
func (r *Resolver) StartExecutor(ctx context.Context) (*host.Plugin, error) {
	name := r.o.executor()
	if spec, ok := r.cfg.Builtins[name]; ok {
		return host.Start(ctx, spec, r.cfg.Logger)
	}
	if r.cfg.Plugins == nil {
		return nil, fmt.Errorf("executor %q is not built in, and no plugins are registered", name)
	}
	reg, err := r.cfg.Plugins.Plugin(ctx, name)
	if err != nil {
		return nil, err
	}
	return host.Start(ctx, reg.Spec(), r.cfg.Logger)
}
