// Package simtest starts simulated Windows devices for tests and wires the
// playbook engine to them through the real WinRM executor, so tests of
// playbooks and of what drives them run against the WS-Management protocol
// rather than a mock.
package simtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// Credentials every simulated device accepts.
const (
	User     = "ringmaster"
	Password = "Simtest-Pa55word!"
)

// Device is one simulated device and an engine that reaches it.
type Device struct {
	Engine   *playbooks.Engine
	Target   sdk.Target
	Endpoint *fleetsim.Endpoint
	Clock    *device.ScaledClock
}

// Win10 is an Enterprise desktop on Windows 10 21H2 (10.0.19044).
func Win10(b device.Behaviour) device.Spec {
	return device.Spec{Hostname: "pc000001.rxx.nhs.uk", Caption: "Microsoft Windows 10 Enterprise", Edition: "Enterprise",
		Build: "10.0.19044", UBR: 2965, KBs: []string{"KB5034441"}, DiskFreeGB: 48.5, RAMGB: 16,
		Manufacturer: "Dell Inc.", Model: "OptiPlex 7090", Serial: "AB1", Behaviour: b}
}

// next spreads fleets over loopback ranges: a random second octet per test
// process, so packages tested in parallel rarely meet, and a counter
// within it.
var next atomic.Uint32

func init() { next.Store(uint32(rand.IntN(150)) << 8) }

// Start runs a fleet of one device per spec whose clock runs scale times
// faster than the wall (a two-minute reboot takes 0.2 s at 600), closed
// when the test ends.
func Start(t testing.TB, scale float64, specs ...device.Spec) []Device {
	t.Helper()
	clock := device.NewScaledClock(time.Now(), scale)
	var f *fleetsim.Fleet
	var err error
	for range 5 { // another test process may hold the range: move on
		n := next.Add(1)
		first := net.IPv4(127, byte(100+(n>>8)%150), byte(1+n%250), 1)
		f, err = fleetsim.Start(context.Background(), fleetsim.Config{Devices: specs, Username: User, Password: Password,
			Clock: clock, FirstAddress: first})
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(fmt.Errorf("simulated fleet: %w", err))
	}
	t.Cleanup(f.Close)
	engine := &playbooks.Engine{Executor: winrm.New(winrm.Options{}), Clock: clock}
	out := make([]Device, len(specs))
	for i, ep := range f.Endpoints() {
		out[i] = Device{Engine: engine, Endpoint: ep, Clock: clock, Target: sdk.Target{Hostname: ep.Machine.Hostname(),
			Address: ep.Address(false), Auth: "basic", Username: User, Password: Password, ConnectTimeout: 5 * time.Second,
			// Loopback, in a test: Basic is the cheapest scheme to drive.
			Options: map[string]string{winrm.OptionAllowBasicWithoutTLS: "true"}}}
	}
	return out
}

// Reacher reaches simulated devices by hostname, as the scheduler's
// workers reach real ones (scheduler.Reacher).
type Reacher map[string]Device

// Reach returns the device's target and the executor that reaches it.
func (r Reacher) Reach(_ context.Context, host string) (sdk.Target, playbooks.Executor, error) {
	d, ok := r[host]
	if !ok {
		return sdk.Target{}, nil, fmt.Errorf("no simulated device %s", host)
	}
	return d.Target, d.Engine.Executor, nil
}

// ReacherOf is a Reacher of devs.
func ReacherOf(devs []Device) Reacher {
	r := Reacher{}
	for _, d := range devs {
		r[d.Target.Hostname] = d
	}
	return r
}
