package testdevice_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/conformance"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/testdevice"
)

// direct is the thinnest executor there is: its "transport" is a call to
// the device, reachable at the address "device" with the password "pw".
// That it passes the kit shows the device behaves as the kit expects of
// Windows, whatever a real transport adds.
type direct struct{ dev *testdevice.Device }

func (direct) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "direct", Version: "test", Capabilities: []string{"probe", "exec", "powershell", "stream"}}, nil
}

func (d direct) reach(t sdk.Target, op string) error {
	switch {
	case t.Address != "device":
		return &sdk.Error{Kind: sdk.Unreachable, Op: op, Target: t.Hostname, Err: errors.New("no such device")}
	case t.Password != "pw":
		return &sdk.Error{Kind: sdk.AuthFailed, Op: op, Target: t.Hostname, Err: errors.New("refused")}
	}
	return nil
}

func (d direct) Probe(ctx context.Context, t sdk.Target) (sdk.ProbeResult, error) {
	return sdk.ProbeWindows(ctx, d, t)
}

func (d direct) Exec(ctx context.Context, t sdk.Target, c sdk.Command, out func(sdk.Chunk)) (sdk.Result, error) {
	if err := d.reach(t, "exec"); err != nil {
		return sdk.Result{ExitCode: -1}, err
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	res, err := d.dev.Run(ctx, c, out)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return res, &sdk.Error{Kind: sdk.TimedOut, Op: "exec", Target: t.Hostname, Err: err}
	case errors.Is(err, context.Canceled):
		return res, &sdk.Error{Kind: sdk.Cancelled, Op: "exec", Target: t.Hostname, Err: err}
	case err != nil:
		return res, err
	case res.ExitCode != 0:
		return res, &sdk.Error{Kind: sdk.CommandFailed, Op: "exec", Target: t.Hostname, ExitCode: res.ExitCode}
	}
	return res, nil
}

func TestDeviceBehavesAsTheKitExpects(t *testing.T) {
	dev := testdevice.New(testdevice.Spec{Hostname: "pc7.rxx.nhs.uk", Serial: "CZC0000007"})
	good := sdk.Target{Hostname: "pc7.rxx.nhs.uk", Address: "device", Password: "pw"}
	bad, gone := good, good
	bad.Password, gone.Address = "wrong", "elsewhere"
	conformance.Run(t, conformance.Harness{Executor: direct{dev}, Target: good, Unreachable: gone, BadCredentials: bad})
}

func TestProbeReadsWhatTheDeviceIs(t *testing.T) {
	dev := testdevice.New(testdevice.Spec{Hostname: "pc7.rxx.nhs.uk", Build: "10.0.19044", UBR: 2965, Serial: "CZC0000007", KBs: []string{"KB5005565"}})
	res, err := direct{dev}.Probe(context.Background(), sdk.Target{Address: "device", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	got, want := res.Facts, dev.Facts()
	if got.Hostname != want.Hostname || got.OSBuild != want.OSBuild || got.UBR != want.UBR || got.Serial != want.Serial ||
		got.Model != want.Model || len(got.KBs) != 1 || got.KBs[0] != "KB5005565" || got.RAMGB != want.RAMGB {
		t.Errorf("probe read %+v\nthe device is %+v", got, want)
	}
}

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		c       sdk.Command
		want    string
		wantErr bool
	}{
		{sdk.Command{Shell: sdk.Cmd, Script: "hostname"}, "hostname", false},
		{sdk.Command{Shell: sdk.PowerShell, Script: "hostname"}, "powershell.exe -NoProfile -NonInteractive -EncodedCommand aABvAHMAdABuAGEAbQBlAA==", false},
		{sdk.Command{Shell: sdk.Cmd, Script: "echo a\r\necho b"}, "", true},
		{sdk.Command{Shell: "bash", Script: "true"}, "", true},
	} {
		got, err := testdevice.CommandLine(tc.c)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("CommandLine(%+v) = %q, %v; want %q, error %v", tc.c, got, err, tc.want, tc.wantErr)
		}
	}
}
