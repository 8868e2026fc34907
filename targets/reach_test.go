package targets_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/targets"
)

// TestDevice looks hostnames up in the inventory and resolves them, as
// exec, playbook run and the scheduler's workers do.
func TestDevice(t *testing.T) {
	e := newEstate(t)
	ctx := context.Background()
	cfg := e.config()
	cfg.Devices = e.store
	r, err := targets.New(ctx, cfg, targets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host, user string
		wantErr    func(error) bool
	}{
		{host: "pc1.rxx.nhs.uk", user: `NHS\dev`},
		{host: "PC2.RXX.NHS.UK", user: `NHS\org`},
		{host: "pc9.rxx.nhs.uk", wantErr: func(err error) bool { return errors.Is(err, errkind.NotFound) }},
		{host: "pc3.ryy.nhs.uk", wantErr: func(err error) bool { var nc *targets.NoCredentialError; return errors.As(err, &nc) }},
	} {
		t.Run(tc.host, func(t *testing.T) {
			d, rc, err := r.Device(ctx, tc.host)
			if tc.wantErr != nil {
				if err == nil || !tc.wantErr(err) {
					t.Fatalf("Device: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Device: %v", err)
			}
			if tg := rc.Target; d.Hostname != tg.Hostname || tg.Username != tc.user || rc.Executor != "winrm" || rc.Org != d.Org {
				t.Fatalf("Device = %s, %s as %s through %s", d.Hostname, tg.Hostname, tg.Username, rc.Executor)
			}
		})
	}

	// Without Devices it says so rather than failing on nil.
	r, err = targets.New(ctx, e.config(), targets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Device(ctx, "pc1.rxx.nhs.uk"); err == nil {
		t.Fatal("Device without Devices: no error")
	}
}

// TestReach starts the executor too: the built-in one, this test binary
// re-executed (see TestMain).
func TestReach(t *testing.T) {
	if _, err := os.Stat("/proc/self/exe"); err != nil {
		t.Skip("plugins run on Linux only")
	}
	e := newEstate(t)
	ctx := context.Background()
	cfg := e.config()
	cfg.Devices = e.store
	cfg.Builtins = map[string]host.Spec{"winrm": {Name: "winrm", Self: true, Args: []string{"executor-plugin", "winrm"}}}
	r, err := targets.New(ctx, cfg, targets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, tg, x, closeX, err := r.Reach(ctx, "pc1.rxx.nhs.uk")
	if err != nil {
		t.Fatal(err)
	}
	defer closeX()
	if x == nil || d.Hostname != "pc1.rxx.nhs.uk" || tg.Username != `NHS\dev` {
		t.Fatalf("Reach: %s as %s through %v", d.Hostname, tg.Username, x)
	}
	// A device that cannot be resolved starts nothing.
	if _, _, x, _, err := r.Reach(ctx, "pc3.ryy.nhs.uk"); err == nil || x != nil {
		t.Fatalf("Reach of a device without a credential: %v, %v", x, err)
	}
}
