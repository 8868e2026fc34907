package winrm_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	wr "github.com/masterzen/winrm"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/conformance"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

const (
	user = "ringmaster"
	pass = "Exec-Pa55word!"
)

func fleet(t testing.TB, cfg fleetsim.Config) *fleetsim.Fleet {
	t.Helper()
	if cfg.Devices == nil {
		cfg.Devices = []device.Spec{
			{Hostname: "pc000001.rxx.nhs.uk", Caption: "Microsoft Windows 10 Enterprise", Edition: "Enterprise", Build: "10.0.19045", UBR: 3803,
				KBs: []string{"KB5034441"}, DiskFreeGB: 48.5, RAMGB: 16, Manufacturer: "Dell Inc.", Model: "OptiPlex 7090", Serial: "AB1"},
			{Hostname: "pc000002.rxx.nhs.uk", Caption: "Microsoft Windows 7 Professional", Edition: "Professional", Build: "6.1.7601", UBR: 24544,
				DiskFreeGB: 12, RAMGB: 4, Manufacturer: "HP", Model: "HP EliteDesk 800 G4 SFF", Serial: "CZ1"},
		}
	}
	cfg.Username, cfg.Password = user, pass
	cfg.FirstAddress = net.IPv4(127, byte(100+rand.IntN(150)), byte(1+rand.IntN(250)), 1)
	f, err := fleetsim.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

func target(f *fleetsim.Fleet, i int, https bool, auth string) sdk.Target {
	ep := f.Endpoints()[i]
	t := sdk.Target{Hostname: ep.Machine.Hostname(), Address: ep.Address(https), HTTPS: https, Auth: auth,
		Username: user, Password: pass, ConnectTimeout: 5 * time.Second}
	if https {
		t.CACertPEM = f.CACertPEM()
	}
	if auth == "basic" && !https {
		// The simulated fleet is on loopback; a real estate uses NTLM or HTTPS.
		t.Options = map[string]string{winrm.OptionAllowBasicWithoutTLS: "true"}
	}
	return t
}

func TestConformance(t *testing.T) {
	f := fleet(t, fleetsim.Config{HTTPS: true})
	for _, c := range []struct {
		name  string
		https bool
		auth  string
	}{{"http-basic", false, "basic"}, {"https-ntlm", true, "ntlm"}} {
		t.Run(c.name, func(t *testing.T) {
			good := target(f, 0, c.https, c.auth)
			bad := good
			bad.Password = "not-" + pass
			unreachable := good
			unreachable.Address = "127.0.0.1:1"
			conformance.Run(t, conformance.Harness{Executor: winrm.New(winrm.Options{}), Target: good, Unreachable: unreachable, BadCredentials: bad})
		})
	}
}

func TestProbeFacts(t *testing.T) {
	f := fleet(t, fleetsim.Config{})
	before := *wr.DefaultParameters
	res, err := winrm.New(winrm.Options{}).Probe(context.Background(), target(f, 1, false, "ntlm"))
	if err != nil {
		t.Fatal(err)
	}
	// The library's DefaultParameters is a shared pointer: the executor
	// must have worked on a copy.
	if after := *wr.DefaultParameters; after.Timeout != before.Timeout || after.Dial != nil || after.TransportDecorator != nil {
		t.Fatalf("the executor changed masterzen's shared DefaultParameters: %+v", after)
	}
	got := res.Facts
	if got.Hostname != "PC000002" || got.OSBuild != "6.1.7601" || got.UBR != 24544 || got.OSEdition != "Professional" ||
		got.DiskFreeGB != 12 || got.RAMGB != 4 || got.Model != "HP EliteDesk 800 G4 SFF" || len(got.KBs) != 0 || got.PendingReboot {
		t.Fatalf("facts %+v", got)
	}
}

// TestTypedErrors produces every error kind from the matching simulator fault.
func TestTypedErrors(t *testing.T) {
	ctx := context.Background()
	x := winrm.New(winrm.Options{})
	one := func(kind string) *fleetsim.Fleet {
		return fleet(t, fleetsim.Config{HTTPS: true, Devices: nil, Faults: fleetsim.FaultSpec{Share: map[string]float64{kind: 1}, Latency: 3 * time.Second}})
	}
	exec := func(tg sdk.Target, c sdk.Command) error {
		_, err := x.Exec(ctx, tg, c, nil)
		return err
	}
	hostname := sdk.Command{Shell: sdk.Cmd, Script: "hostname"}
	cases := []struct {
		name string
		err  func() error
		want sdk.Kind
	}{
		{"unreachable", func() error { return exec(target(one(fleetsim.FaultUnreachable), 0, false, "basic"), hostname) }, sdk.Unreachable},
		{"bad credentials (basic)", func() error { return exec(target(one(fleetsim.FaultBadCreds), 0, false, "basic"), hostname) }, sdk.AuthFailed},
		{"bad credentials (ntlm)", func() error { return exec(target(one(fleetsim.FaultBadCreds), 0, true, "ntlm"), hostname) }, sdk.AuthFailed},
		{"untrusted certificate", func() error {
			tg := target(one(fleetsim.FaultSlow), 0, true, "basic")
			tg.CACertPEM = nil
			return exec(tg, hostname)
		}, sdk.TLS},
		{"dropped mid-command", func() error { return exec(target(one(fleetsim.FaultDrop), 0, false, "basic"), hostname) }, sdk.Unreachable},
		{"slow past the timeout", func() error {
			c := hostname
			c.Timeout = time.Second
			return exec(target(one(fleetsim.FaultSlow), 0, false, "basic"), c)
		}, sdk.TimedOut},
		{"garbage answers", func() error {
			tg := target(one(fleetsim.FaultMalformed), 0, false, "basic")
			for range 10 {
				if err := exec(tg, hostname); err != nil {
					return err
				}
			}
			return nil
		}, sdk.Protocol},
		{"HTTPS spoken to HTTP", func() error {
			tg := target(one(fleetsim.FaultSlow), 0, false, "basic")
			tg.HTTPS = true
			return exec(tg, hostname)
		}, sdk.Protocol},
		{"command failed", func() error {
			return exec(target(fleet(t, fleetsim.Config{}), 0, false, "basic"), sdk.Command{Shell: sdk.Cmd, Script: "exit /b 5"})
		}, sdk.CommandFailed},
		{"cancelled", func() error {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := x.Exec(cctx, target(fleet(t, fleetsim.Config{}), 0, false, "basic"), hostname, nil)
			return err
		}, sdk.Cancelled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.err()
			if got := sdk.KindOf(err); got != c.want {
				t.Fatalf("kind %q (%v), want %q", got, err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), pass) {
				t.Fatalf("the error reveals the password: %v", err)
			}
		})
	}
}

// TestRebootMidCommand: a device that restarts while a command runs gives
// masterzen's exit code 16001 with an EOF; the executor calls it
// Unreachable, so the caller retries after the reboot.
func TestRebootMidCommand(t *testing.T) {
	clock := device.NewManualClock(time.Date(2026, 11, 2, 22, 0, 0, 0, time.UTC))
	f := fleet(t, fleetsim.Config{Clock: clock})
	x := winrm.New(winrm.Options{})
	tg := target(f, 0, false, "basic")
	done := make(chan error, 1)
	go func() {
		_, err := x.Exec(context.Background(), tg, sdk.Command{Shell: sdk.PowerShell, Script: "Start-Sleep -Seconds 600"}, nil)
		done <- err
	}()
	// The command is running once Start-Sleep waits on the device's clock.
	waitFor(t, "Start-Sleep to wait on the device clock", func() bool { return clock.Pending() > 0 }, func() string {
		return fmt.Sprintf("%d timers pending, %d shells open", clock.Pending(), f.Endpoints()[0].Server().Shells())
	})
	if _, err := x.Exec(context.Background(), tg, sdk.Command{Shell: sdk.Cmd, Script: "shutdown /r /t 0"}, nil); err != nil {
		t.Fatal(err)
	}
	clock.Advance(device.RestartGrace)
	select {
	case err := <-done:
		if !sdk.IsKind(err, sdk.Unreachable) {
			t.Fatalf("kind %q (%v), want unreachable", sdk.KindOf(err), err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the command did not end when its host rebooted")
	}
}

// waitFor waits, for 30 s at most, until cond holds; it fails the test with
// what state says it saw.
func waitFor(t *testing.T, what string, cond func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s; saw %s", what, state())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestConformanceOverGRPC runs the kit against the WinRM executor through
// the real gRPC plugin boundary (in process, go-plugin's test connection).
func TestConformanceOverGRPC(t *testing.T) {
	client, server := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		sdk.PluginName: &sdk.ExecutorPlugin{Impl: winrm.New(winrm.Options{})},
	})
	defer client.Close()
	defer server.Stop()
	raw, err := client.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	x := raw.(sdk.Executor)
	f := fleet(t, fleetsim.Config{HTTPS: true})
	good := target(f, 0, true, "ntlm")
	bad := good
	bad.Password = "not-" + pass
	unreachable := good
	unreachable.Address = "127.0.0.1:1"
	conformance.Run(t, conformance.Harness{Executor: x, Target: good, Unreachable: unreachable, BadCredentials: bad})
}
