package scenario

import (
	"context"
	"fmt"
	"io"
	"syscall"

	"github.com/ringmaster-fleet/ringmaster/internal/safecsv"
	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// Spec is the simulated machine of a generated device, as generated.
func Spec(d synth.Device) device.Spec {
	return device.Spec{Hostname: d.Hostname, Caption: d.OSCaption, Edition: d.OSEdition, Build: d.OSBuild, UBR: d.UBR, KBs: d.KBs,
		DiskFreeGB: d.DiskFreeGB, RAMGB: d.RAMGB, Manufacturer: d.Manufacturer, Model: d.Model, Serial: d.Serial}
}

// CheckDescriptors refuses a fleet that cannot fit in the open-file limit
// (raising the soft limit to the hard one first): one descriptor per
// listener, and room for connections.
func CheckDescriptors(devices int, https bool) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil
	}
	if lim.Cur < lim.Max { // use what the hard limit allows
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	need := uint64(devices)
	if https {
		need *= 2
	}
	if need+1024 > lim.Cur {
		return fmt.Errorf("%d devices need %d listening sockets plus room for connections, but the open-file limit is %d: use fewer devices, drop --https, or raise the limit (ulimit -n)", devices, need, lim.Cur)
	}
	return nil
}

// Config is the estate to generate and the fleet to serve it on.
type Config struct {
	Synth synth.Options
	// Fleet is how the fleet runs; its Devices are filled in.
	Fleet fleetsim.Config
	// MinDiskFreeGB raises every generated disk to at least this much free
	// space (an estate cleaned up before its upgrade), but for the devices
	// the lowdisk fault picks.
	MinDiskFreeGB float64
	// Behaviour, when set, gives each generated device how its upgrades
	// and reboots go (how long they take, say); the faults are added on
	// top of it.
	Behaviour func(synth.Device) device.Behaviour
}

// Estate is a generated estate served by a running simulated fleet: the
// i-th device is the i-th endpoint.
type Estate struct {
	Orgs    []synth.Org
	Devices []synth.Device
	*fleetsim.Fleet
}

// Start generates the estate and starts its fleet; Close stops it.
func Start(ctx context.Context, c Config) (*Estate, error) {
	orgs, devices, err := synth.Devices(c.Synth)
	if err != nil {
		return nil, err
	}
	e := &Estate{Orgs: orgs}
	for d := range devices {
		e.Devices = append(e.Devices, d)
		spec := Spec(d)
		spec.DiskFreeGB = max(spec.DiskFreeGB, c.MinDiskFreeGB)
		if c.Behaviour != nil {
			spec.Behaviour = c.Behaviour(d)
		}
		c.Fleet.Devices = append(c.Fleet.Devices, spec)
	}
	if e.Fleet, err = fleetsim.Start(ctx, c.Fleet); err != nil {
		return nil, err
	}
	return e, nil
}

// WriteInventory writes every generated column of the devices as
// inventory CSV, with each one's address (HTTPS or not) and the name of
// the credential to log on with.
func (e *Estate) WriteInventory(w io.Writer, https bool, credential string) error {
	cw := safecsv.NewWriter(w)
	_ = cw.Write(append(append([]string{}, synth.Header...), "address", "credential"))
	row := make([]string, 0, len(synth.Header)+2)
	for i := range e.Devices {
		row = append(e.Devices[i].Row(row), e.Endpoints()[i].Address(https), credential)
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteDirectory writes the inventory as IT operations would export it from
// a directory: names, organisations, sites and addresses, no facts.
func (e *Estate) WriteDirectory(w io.Writer, credential string) error {
	cw := safecsv.NewWriter(w)
	_ = cw.Write([]string{"hostname", "org", "org_name", "org_timezone", "site", "address", "credential"})
	for i, d := range e.Devices {
		_ = cw.Write([]string{d.Hostname, d.Org, d.OrgName, d.OrgTimeZone, d.Site, e.Endpoints()[i].Address(false), credential})
	}
	cw.Flush()
	return cw.Error()
}

// Upgraded counts the devices the simulator says run build.
func (e *Estate) Upgraded(build string) int {
	n := 0
	for _, ep := range e.Endpoints() {
		if ep.Machine.Truth().Build == build {
			n++
		}
	}
	return n
}
