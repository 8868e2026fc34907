package targets

import (
	"context"
	"errors"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// Devices looks devices up by hostname (store/sqlite's Inventory is one).
type Devices interface {
	// Device returns the device, or an error wrapping errkind.NotFound
	// that names it.
	Device(ctx context.Context, hostname string) (inventory.Device, error)
}

// Device looks hostname up in Config.Devices and returns the device with
// its target.
func (r *Resolver) Device(ctx context.Context, hostname string) (inventory.Device, sdk.Target, error) {
	if r.cfg.Devices == nil {
		return inventory.Device{}, sdk.Target{}, errors.New("targets: Config has no Devices to look hostnames up in")
	}
	d, err := r.cfg.Devices.Device(ctx, hostname)
	if err != nil {
		return inventory.Device{}, sdk.Target{}, err
	}
	t, err := r.Target(ctx, &d)
	if err != nil {
		return inventory.Device{}, sdk.Target{}, err
	}
	return d, t, nil
}

// Reach looks hostname up, builds its target and starts the executor to
// reach it with (see Device and StartExecutor); the caller closes the
// executor.
func (r *Resolver) Reach(ctx context.Context, hostname string) (inventory.Device, sdk.Target, *host.Plugin, error) {
	d, t, err := r.Device(ctx, hostname)
	if err != nil {
		return inventory.Device{}, sdk.Target{}, nil, err
	}
	x, err := r.StartExecutor(ctx)
	if err != nil {
		return inventory.Device{}, sdk.Target{}, nil, err
	}
	return d, t, x, nil
}

// Reacher reaches devices by hostname through one running executor, as a
// scheduler's workers do (it is an orchestrator/scheduler.Reacher).
type Reacher struct {
	Resolver *Resolver
	Executor playbooks.Executor
}

// Reach returns hostname's target and the executor to run on it.
func (rc Reacher) Reach(ctx context.Context, hostname string) (sdk.Target, playbooks.Executor, error) {
	_, t, err := rc.Resolver.Device(ctx, hostname)
	return t, rc.Executor, err
}
