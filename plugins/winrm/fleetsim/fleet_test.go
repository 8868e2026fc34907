package fleetsim_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/masterzen/winrm"

	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

const (
	testUser = "ringmaster"
	testPass = "Sim-Pa55word!"
)

func specs() []device.Spec {
	return []device.Spec{
		{Hostname: "pc000001.rxx.nhs.uk", Caption: "Microsoft Windows 10 Enterprise", Edition: "Enterprise", Build: "10.0.19045", UBR: 3803,
			KBs: []string{"KB5034441"}, DiskFreeGB: 48.5, RAMGB: 16, Manufacturer: "Dell Inc.", Model: "OptiPlex 7090", Serial: "AB123456"},
		{Hostname: "pc000002.rxx.nhs.uk", Caption: "Microsoft Windows 7 Professional", Edition: "Professional", Build: "6.1.7601", UBR: 24544,
			KBs: []string{"KB4474419"}, DiskFreeGB: 35, RAMGB: 8, Manufacturer: "HP", Model: "HP EliteDesk 800 G4 SFF", Serial: "CZC1234"},
		{Hostname: "pc000003.rxx.nhs.uk", Caption: "Microsoft Windows 10 Enterprise", Edition: "Enterprise", Build: "10.0.17763", UBR: 1935,
			DiskFreeGB: 9.5, RAMGB: 8, Manufacturer: "LENOVO", Model: "ThinkCentre M920q", Serial: "PF0XYZ"},
	}
}

func startFleet(t *testing.T, cfg fleetsim.Config) *fleetsim.Fleet {
	t.Helper()
	if cfg.Devices == nil {
		cfg.Devices = specs()
	}
	cfg.Username, cfg.Password = testUser, testPass
	if cfg.FirstAddress == nil {
		cfg.FirstAddress = freeRange()
	}
	f, err := fleetsim.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// freeRange picks a random block of loopback addresses, so fleets of
// concurrent tests (in this and other packages) do not collide.
func freeRange() net.IP {
	return net.IPv4(127, byte(100+rand.IntN(150)), byte(1+rand.IntN(250)), 1)
}

func client(t *testing.T, f *fleetsim.Fleet, i int, https bool, password string) *winrm.Client {
	t.Helper()
	ep := f.Endpoints()[i]
	host, port := ep.IP.String(), fleetsim.HTTPPort
	var ca []byte
	if https {
		port, ca = fleetsim.HTTPSPort, f.CACertPEM()
	}
	e := winrm.NewEndpoint(host, port, https, false, ca, nil, nil, 10*time.Second)
	e.TLSServerName = ep.Machine.Hostname()
	c, err := winrm.NewClient(e, testUser, password)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMasterzenRunsCommands(t *testing.T) {
	f := startFleet(t, fleetsim.Config{HTTPS: true})
	ctx := context.Background()
	for _, https := range []bool{false, true} {
		c := client(t, f, 0, https, testPass)
		tests := []struct {
			name, cmd  string
			ps         bool
			stdout     string
			stderrPart string
			code       int
		}{
			{"hostname", "hostname", false, "PC000001\r\n", "", 0},
			{"echo", "echo hello world", false, "hello world\r\n", "", 0},
			{"exit code", "exit /b 7", false, "", "", 7},
			{"ver", "ver", false, "\r\nMicrosoft Windows [Version 10.0.19045.3803]\r\n", "", 0},
			{"unknown cmd", "frobnicate /now", false, "", "'frobnicate' is not recognized", 9009},
			{"reg UBR", `reg query "HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion" /v UBR`, false, "", "", 0},
			{"ps write-output", "Write-Output 'it''s here'", true, "it's here\r\n", "", 0},
			{"ps exit", "Write-Output 'a'; exit 3", true, "a\r\n", "", 3},
			{"ps build", "(Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion').CurrentBuild", true, "19045\r\n", "", 0},
			{"ps ubr", "Get-ItemPropertyValue -Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion' -Name UBR", true, "3803\r\n", "", 0},
			{"ps os json", "Get-CimInstance Win32_OperatingSystem | Select-Object Caption,Version | ConvertTo-Json -Compress", true,
				`{"Caption":"Microsoft Windows 10 Enterprise","Version":"10.0.19045"}` + "\r\n", "", 0},
			{"ps hotfix", "Get-HotFix -Id KB5034441 | Select-Object -ExpandProperty HotFixID", true, "KB5034441\r\n", "", 0},
			{"ps missing hotfix", "Get-HotFix -Id KB4499175", true, "", "Cannot find the requested hotfix", 1},
			{"ps test-path", `Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending'`, true, "False\r\n", "", 0},
			{"ps unknown", "Get-Frobnicator", true, "", "The term 'Get-Frobnicator' is not recognized", 1},
		}
		for _, tt := range tests {
			cmd := tt.cmd
			if tt.ps {
				cmd = winrm.Powershell(cmd)
			}
			stdout, stderr, code, err := c.RunWithContextWithString(ctx, cmd, "")
			if err != nil {
				t.Fatalf("https=%v %s: %v", https, tt.name, err)
			}
			if tt.name == "reg UBR" {
				if !strings.Contains(stdout, "UBR    REG_DWORD    0xedb") {
					t.Errorf("%s: stdout %q", tt.name, stdout)
				}
			} else if stdout != tt.stdout {
				t.Errorf("https=%v %s: stdout %q, want %q", https, tt.name, stdout, tt.stdout)
			}
			if !strings.Contains(stderr, tt.stderrPart) || (tt.stderrPart == "" && stderr != "") {
				t.Errorf("https=%v %s: stderr %q, want it to contain %q", https, tt.name, stderr, tt.stderrPart)
			}
			if code != tt.code {
				t.Errorf("https=%v %s: exit code %d, want %d", https, tt.name, code, tt.code)
			}
		}
	}
	// The plain Run API too (deprecated upstream, still widely used).
	var stdout, stderr strings.Builder
	//lint:ignore SA1019 clients in the field still call Run; it must work here.
	if code, err := client(t, f, 2, false, testPass).Run("hostname", &stdout, &stderr); err != nil || code != 0 || stdout.String() != "PC000003\r\n" {
		t.Errorf("Run: %q %d %v", stdout.String(), code, err)
	}
	if n := f.Endpoints()[0].Server().Shells(); n != 0 {
		t.Errorf("%d shells left open after masterzen's Run", n)
	}
}

// TestCancelledCommand: cancelling RunWithContext signals the command to
// stop and the shell is closed; masterzen reports the cancellation.
func TestCancelledCommand(t *testing.T) {
	clock := device.NewManualClock(time.Date(2026, 11, 2, 22, 0, 0, 0, time.UTC)) // the scan never ends
	f := startFleet(t, fleetsim.Config{Clock: clock})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out, errOut strings.Builder
	_, err := client(t, f, 0, false, testPass).RunWithContext(ctx, `D:\setup.exe /Auto Upgrade /Quiet /Compat ScanOnly`, &out, &errOut)
	if err == nil {
		t.Fatal("a cancelled command reported no error")
	}
	waitFor(t, "the shell to close", func() bool { return f.Endpoints()[0].Server().Shells() == 0 })
}

func TestAuthenticationFailure(t *testing.T) {
	f := startFleet(t, fleetsim.Config{})
	c := client(t, f, 0, false, "wrong")
	_, _, _, err := c.RunWithContextWithString(context.Background(), "hostname", "")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong password: err = %v, want a 401", err)
	}
}

func TestHTTPSVerifiesCertificate(t *testing.T) {
	f := startFleet(t, fleetsim.Config{HTTPS: true})
	ep := f.Endpoints()[1]
	// Without the simulator's CA, verification must fail.
	e := winrm.NewEndpoint(ep.IP.String(), fleetsim.HTTPSPort, true, false, nil, nil, nil, 5*time.Second)
	c, err := winrm.NewClient(e, testUser, testPass)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c.RunWithContextWithString(context.Background(), "hostname", ""); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted CA: err = %v, want a certificate error", err)
	}
	// With the CA and the device's name, it succeeds.
	out, _, _, err := client(t, f, 1, true, testPass).RunWithContextWithString(context.Background(), "hostname", "")
	if err != nil || out != "PC000002\r\n" {
		t.Fatalf("trusted CA: %q, %v", out, err)
	}
}

func TestUnreachableDeviceRefusesConnections(t *testing.T) {
	f := startFleet(t, fleetsim.Config{Faults: fleetsim.FaultSpec{Share: map[string]float64{fleetsim.FaultUnreachable: 0.34}}, Seed: 1})
	refused := 0
	for _, ep := range f.Endpoints() {
		conn, err := net.DialTimeout("tcp", ep.Address(false), time.Second)
		if err != nil {
			var op *net.OpError
			if !errors.As(err, &op) || !ep.Faults[fleetsim.FaultUnreachable] {
				t.Errorf("%s: %v", ep.Machine.Hostname(), err)
			}
			refused++
			continue
		}
		conn.Close()
	}
	if refused != 1 {
		t.Fatalf("%d devices refused connections, want 1 (34%% of 3)", refused)
	}
}

func TestNTLM(t *testing.T) {
	f := startFleet(t, fleetsim.Config{HTTPS: true})
	for _, https := range []bool{false, true} {
		ep := f.Endpoints()[0]
		port, ca := fleetsim.HTTPPort, []byte(nil)
		if https {
			port, ca = fleetsim.HTTPSPort, f.CACertPEM()
		}
		e := winrm.NewEndpoint(ep.IP.String(), port, https, false, ca, nil, nil, 10*time.Second)
		e.TLSServerName = ep.Machine.Hostname()
		params := *winrm.DefaultParameters // a copy: DefaultParameters is shared
		params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
		for _, pw := range []string{testPass, "wrong"} {
			c, err := winrm.NewClientWithParameters(e, testUser, pw, &params)
			if err != nil {
				t.Fatal(err)
			}
			out, _, code, err := c.RunWithContextWithString(context.Background(), winrm.Powershell("hostname"), "")
			if pw == "wrong" {
				if err == nil || !strings.Contains(err.Error(), "401") {
					t.Errorf("https=%v NTLM with a wrong password: %v", https, err)
				}
				continue
			}
			if err != nil || code != 0 || out != "PC000001\r\n" {
				t.Errorf("https=%v NTLM: %q %d %v", https, out, code, err)
			}
		}
	}
}
