package targets

import (
	"context"
	"errors"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// Devices looks devices up by hostname (store/sqlite's Inventory is one).
type Devices interface {
	// Device returns the device, or an error wrapping errkind.NotFound
	// that names it.
	Device(ctx context.Context, hostname string) (inventory.Device, error)
}

// Device looks hostname up in Config.Devices and returns the device with
// how to reach it.
func (r *Resolver) Device(ctx context.Context, hostname string) (inventory.Device, Reach, error) {
	if r.cfg.Devices == nil {
		return inventory.Device{}, Reach{}, errors.New("targets: Config has no Devices to look hostnames up in")
	}
	d, err := r.cfg.Devices.Device(ctx, hostname)
	if err != nil {
		return inventory.Device{}, Reach{}, err
	}
	rc, err := r.Resolve(ctx, &d)
	if err != nil {
		return inventory.Device{}, Reach{}, err
	}
	return d, rc, nil
}

// Reach looks hostname up, builds its target and starts the executor its
// profile names (see Device and StartExecutor); the caller closes the
// executor. Its TLS failures say which CAs were used (*TrustError).
func (r *Resolver) Reach(ctx context.Context, hostname string) (inventory.Device, sdk.Target, playbooks.Executor, func(), error) {
	d, rc, err := r.Device(ctx, hostname)
	if err != nil {
		return inventory.Device{}, sdk.Target{}, nil, nil, err
	}
	x, err := r.StartExecutor(ctx, rc.Executor)
	if err != nil {
		return inventory.Device{}, sdk.Target{}, nil, nil, err
	}
	return d, rc.Target, explained{x: x, reach: rc}, x.Close, nil
}

// Reacher reaches devices by hostname, each through the executor its
// connection profile names, started once and reused (Executors), as a
// scheduler's workers do (it is an orchestrator/scheduler.Reacher).
type Reacher struct {
	Resolver  *Resolver
	Executors *Executors
}

// Reach returns hostname's target and the executor to run on it, whose
// TLS failures say which CAs were used (*TrustError).
func (rc Reacher) Reach(ctx context.Context, hostname string) (sdk.Target, playbooks.Executor, error) {
	_, r, err := rc.Resolver.Device(ctx, hostname)
	if err != nil {
		return sdk.Target{}, nil, err
	}
	x, err := rc.Executors.Get(ctx, r.Executor)
	if err != nil {
		return sdk.Target{}, nil, err
	}
	return r.Target, explained{x: x, reach: r}, nil
}

// Prober probes each target through the executor its device resolved to
// (by hostname, from reaches), started once and reused; it is a
// discovery.Prober, and its TLS failures say which CAs were used.
type Prober struct {
	Executors *Executors
	byHost    map[string]Reach
}

// Prober returns a Prober for reaches (from Resolve).
func (e *Executors) Prober(reaches []Reach) *Prober {
	p := &Prober{Executors: e, byHost: make(map[string]Reach, len(reaches))}
	for _, rc := range reaches {
		p.byHost[rc.Target.Hostname] = rc
	}
	return p
}

// Probe probes t through its device's executor.
func (p *Prober) Probe(ctx context.Context, t sdk.Target) (sdk.ProbeResult, error) {
	rc, ok := p.byHost[t.Hostname]
	if !ok {
		return sdk.ProbeResult{}, &sdk.Error{Kind: sdk.Internal, Op: "probe", Target: t.Hostname, Err: errors.New("not resolved")}
	}
	x, err := p.Executors.Get(ctx, rc.Executor)
	if err != nil {
		return sdk.ProbeResult{}, err
	}
	return explained{x: x, reach: rc}.Probe(ctx, t)
}

// Reaches resolves every device, in order; the first device that cannot
// be resolved stops it with its error, so that a batch starts only when
// every device in it can be reached.
func (r *Resolver) Reaches(ctx context.Context, devices []*inventory.Device) ([]Reach, error) {
	out := make([]Reach, len(devices))
	for i, d := range devices {
		rc, err := r.Resolve(ctx, d)
		if err != nil {
			return nil, err
		}
		out[i] = rc
	}
	return out, nil
}
