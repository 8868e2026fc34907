package certify

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"time"

	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/conformance"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// Targets are the device a plugin is checked against, three ways.
type Targets struct {
	Reachable      sdk.Target // with working credentials
	Unreachable    sdk.Target // where nothing answers
	BadCredentials sdk.Target // the reachable device with a wrong password
	// Describe says what the device is, for the report.
	Describe string
}

// Options say how to check a plugin.
type Options struct {
	Targets Targets
	// StartTimeout bounds the plugin's handshake (default
	// host.DefaultStartTimeout).
	StartTimeout time.Duration
	// Prompt is how soon a timeout or a cancel must take effect (the
	// kit's default, 10 s, if zero).
	Prompt time.Duration
	// Logger receives what the plugin logs (default: discarded).
	Logger *slog.Logger
}

// Report is a plugin's result.
type Report struct {
	Info     sdk.Info // what the plugin says it is
	Protocol int      // the plugin protocol version agreed in the handshake
	Results  []conformance.Result
}

// Failed names the checks that did not pass.
func (r Report) Failed() []string {
	var out []string
	for _, res := range r.Results {
		if !res.Passed() {
			out = append(out, res.Check)
		}
	}
	return out
}

// Run starts the plugin spec names, runs every check against o.Targets
// through it and stops it. Each result goes to progress (if not nil) as
// its check finishes. An error means the plugin could not be checked at
// all (it did not start: a *host.HandshakeError, an *host.UnsafePathError,
// a changed digest); a plugin that fails checks returns a Report saying
// which, and no error.
func Run(ctx context.Context, spec host.Spec, o Options, progress func(conformance.Result)) (Report, error) {
	if o.Targets.Reachable.Address == "" && o.Targets.Reachable.Hostname == "" {
		return Report{}, errors.New("certify: Options.Targets has no reachable device")
	}
	if o.StartTimeout > 0 {
		spec.StartTimeout = o.StartTimeout
	}
	p, err := host.Start(ctx, spec, o.Logger)
	if err != nil {
		return Report{}, err
	}
	defer p.Close()
	var r Report
	if r.Info, err = p.Info(ctx); err != nil {
		return r, fmt.Errorf("plugin %s: %w", spec.Name, err)
	}
	r.Protocol = p.Protocol()
	h := conformance.Harness{Executor: p, Target: o.Targets.Reachable, Unreachable: o.Targets.Unreachable,
		BadCredentials: o.Targets.BadCredentials, Prompt: o.Prompt}
	restarts := p.Restarts()
	for res := range conformance.Evaluate(ctx, h) {
		// The host restarts a plugin that crashed, so a later check would
		// pass on a fresh process: a crash is this check's failure.
		if n := p.Restarts(); n > restarts {
			res.Problems = append(res.Problems, fmt.Sprintf("the plugin process failed (crashed, hung or broke its stream) and was restarted %d time(s)", n-restarts))
			restarts = n
		}
		r.Results = append(r.Results, res)
		if progress != nil {
			progress(res)
		}
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	return r, nil
}

// Named returns targets on the device at reachable: its wrong-password
// twin, and as the unreachable device, unreachable if given, else a
// loopback port where nothing listens.
func Named(reachable sdk.Target, unreachable string) (Targets, error) {
	if reachable.Address == "" {
		return Targets{}, errors.New("certify: the device to check against needs an address")
	}
	if reachable.Password == "" {
		return Targets{}, errors.New("certify: the device to check against needs a password, or the kit cannot tell a wrong one from it")
	}
	if unreachable == "" {
		var err error
		if unreachable, err = UnusedAddress(); err != nil {
			return Targets{}, err
		}
	}
	bad, gone := reachable, reachable
	bad.Password = wrongPassword()
	gone.Address = unreachable
	return Targets{Reachable: reachable, BadCredentials: bad, Unreachable: gone,
		Describe: fmt.Sprintf("%s at %s", name(reachable), reachable.Address)}, nil
}

func name(t sdk.Target) string {
	if t.Hostname != "" {
		return t.Hostname
	}
	return "the device"
}

// wrongPassword is a password no device has: random, and nothing like
// the real one, so that an error quoting it reveals nothing.
func wrongPassword() string {
	b := make([]byte, 12)
	_, _ = crand.Read(b)
	return "Wrong-" + hex.EncodeToString(b)
}

// UnusedAddress returns a loopback address and port where nothing
// listens: one that was free a moment ago.
func UnusedAddress() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("certify: find an unused port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// Simulated starts a simulated Windows 10 device in this process, served
// over WinRM on HTTPS with NTLM logons as a domain-joined Windows device
// is, and returns targets on it and a func that stops it.
func Simulated(ctx context.Context) (Targets, func(), error) {
	const user, pass = "ringmaster-test", "Plugin-Test-Passw0rd"
	spec := device.Spec{Hostname: "pc1.plugin-test.nhs.uk", Caption: "Microsoft Windows 10 Enterprise", Edition: "Enterprise",
		Build: "10.0.19045", UBR: 3803, KBs: []string{"KB5034441"}, DiskFreeGB: 40, RAMGB: 8,
		Manufacturer: "Dell Inc.", Model: "OptiPlex 7090", Serial: "5CG1234ABC"}
	var (
		f   *fleetsim.Fleet
		err error
	)
	// Its own loopback address, on WinRM's standard ports: another fleet
	// on this machine may hold one, so try a few.
	for range 5 {
		first := net.IPv4(127, byte(100+rand.IntN(150)), byte(1+rand.IntN(250)), byte(1+rand.IntN(250)))
		f, err = fleetsim.Start(ctx, fleetsim.Config{Username: user, Password: pass, HTTPS: true, FirstAddress: first, Devices: []device.Spec{spec}})
		if err == nil {
			break
		}
	}
	if err != nil {
		return Targets{}, nil, fmt.Errorf("certify: start the simulated device: %w", err)
	}
	ep := f.Endpoints()[0]
	good := sdk.Target{Hostname: spec.Hostname, Address: ep.Address(true), HTTPS: true, CACertPEM: f.CACertPEM(),
		Auth: "ntlm", Username: user, Password: pass, ConnectTimeout: 5 * time.Second}
	gone, err := UnusedAddress()
	if err != nil {
		f.Close()
		return Targets{}, nil, err
	}
	t, err := Named(good, gone)
	if err != nil {
		f.Close()
		return Targets{}, nil, err
	}
	t.Describe = fmt.Sprintf("a simulated Windows 10 device, %s, WinRM over HTTPS at %s, NTLM logon", spec.Hostname, good.Address)
	return t, f.Close, nil
}
