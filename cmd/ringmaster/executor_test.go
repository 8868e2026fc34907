package main

import (
	"context"
	"math/rand/v2"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/plugintest"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/conformance"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// TestBuiltinWinRMExecutorOutOfProcess builds ringmaster, starts its
// built-in WinRM executor as a plugin of itself, and runs the conformance
// kit through that process boundary against the simulated fleet.
func TestBuiltinWinRMExecutorOutOfProcess(t *testing.T) {
	bin := filepath.Join(plugintest.Dir(t), "ringmaster") // not t.TempDir(): plugins under /tmp are refused
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	sum, err := host.CheckFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	p, err := host.Start(context.Background(), host.Spec{Name: "winrm", Path: bin, Args: []string{"executor-plugin", "winrm"}, SHA256: sum}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	info, err := p.Info(context.Background())
	if err != nil || info.Name != "winrm" {
		t.Fatalf("info %+v %v", info, err)
	}
	f, err := fleetsim.Start(context.Background(), fleetsim.Config{Username: "u", Password: "Pw-123456", HTTPS: true,
		FirstAddress: net.IPv4(127, byte(100+rand.IntN(150)), byte(1+rand.IntN(250)), 1),
		Devices: []device.Spec{{Hostname: "pc1.rxx.nhs.uk", Caption: "Microsoft Windows 10 Enterprise", Edition: "Enterprise",
			Build: "10.0.19045", UBR: 3803, DiskFreeGB: 40, RAMGB: 8, Model: "OptiPlex 7090"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ep := f.Endpoints()[0]
	good := sdk.Target{Hostname: ep.Machine.Hostname(), Address: ep.Address(true), HTTPS: true, CACertPEM: f.CACertPEM(),
		Auth: "ntlm", Username: "u", Password: "Pw-123456", ConnectTimeout: 5 * time.Second}
	bad, unreachable := good, good
	bad.Password = "wrong-password"
	unreachable.Address = "127.0.0.1:1"
	conformance.Run(t, conformance.Harness{Executor: p, Target: good, Unreachable: unreachable, BadCredentials: bad})
}
