package targets_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/credential"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
	"github.com/ringmaster-fleet/ringmaster/targets"
)

// TestMain lets this test binary serve the built-in WinRM executor when
// the host starts it as a plugin, as ringmaster itself does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "executor-plugin" {
		sdk.Serve(winrm.New(winrm.Options{}))
		return
	}
	os.Exit(m.Run())
}

// TestReachSimulatedDevice resolves a device of a simulated fleet (HTTPS
// on 5986, a private CA, NTLM, its organisation's credential) and probes
// it through the built-in executor, out of process.
func TestReachSimulatedDevice(t *testing.T) {
	if _, err := os.Stat("/proc/self/exe"); err != nil {
		t.Skip("plugins run on Linux only")
	}
	ctx := context.Background()
	f, err := fleetsim.Start(ctx, fleetsim.Config{Username: "svc", Password: "Fleet-Secret-1", HTTPS: true,
		FirstAddress: net.IPv4(127, byte(100+rand.IntN(150)), byte(1+rand.IntN(250)), 1),
		Devices: []device.Spec{{Hostname: "pc9.rzz.nhs.uk", Caption: "Microsoft Windows 10 Enterprise", Edition: "Enterprise",
			Build: "10.0.19045", UBR: 3803, DiskFreeGB: 40, RAMGB: 8}}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e := newEstateWith(t, "pc9.rzz.nhs.uk,RXX,"+f.Endpoints()[0].Address(true)+",fleet-admin\n")
	ca := e.joinFleet(t, f)
	cfg := e.config()
	cfg.Files.Max = 1 << 20
	cfg.Builtins = map[string]host.Spec{"winrm": {Name: "winrm", Self: true, Args: []string{"executor-plugin", "winrm"}}}
	cfg.Plugins = e.db.Plugins()

	r, err := targets.New(ctx, cfg, targets.Options{CAFile: ca, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := r.Target(ctx, e.device(t, "pc9.rzz.nhs.uk"))
	if err != nil {
		t.Fatal(err)
	}
	x, err := r.StartExecutor(ctx, "winrm")
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	res, err := x.Probe(ctx, tg)
	if err != nil || res.Facts.OSBuild != "10.0.19045" || res.Facts.UBR != 3803 {
		t.Fatalf("probe: %+v %v", res.Facts, err)
	}

	// An executor neither built in nor registered is not found, by name.
	if _, err := r.StartExecutor(ctx, "ssh"); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("unregistered executor: %v", err)
	}
}

// joinFleet stores the simulated fleet's credential as fleet-admin and
// writes its CA bundle, whose path it returns.
func (e *estate) joinFleet(t *testing.T, f *fleetsim.Fleet) string {
	t.Helper()
	k, err := credential.LoadKey(e.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.creds.AddCredential(context.Background(), "fleet-admin", "svc", k.Seal("fleet-admin", "Fleet-Secret-1"), k.Check()); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(e.dir, "ca.pem")
	if err := os.WriteFile(ca, f.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}
