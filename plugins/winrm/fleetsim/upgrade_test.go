package fleetsim_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/masterzen/winrm"

	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// run runs a command line and fails the test on a transport error.
func run(t *testing.T, c *winrm.Client, cmd string) (string, string, int) {
	t.Helper()
	out, errOut, code, err := c.RunWithContextWithString(context.Background(), cmd, "")
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return out, errOut, code
}

func ps(t *testing.T, c *winrm.Client, script string) (string, string, int) {
	t.Helper()
	return run(t, c, winrm.Powershell(script))
}

// waitFor polls cond (real time) for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func reachable(ep *fleetsim.Endpoint) bool {
	c, err := net.DialTimeout("tcp", ep.Address(false), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

const setupTask = `schtasks /Create /TN RingmasterUpgrade /TR "D:\setup.exe /Auto Upgrade /Quiet /NoReboot /DynamicUpdate Disable" /SC ONCE /ST 00:00 /RU SYSTEM /F`

func TestFeatureUpdateThroughScheduledTask(t *testing.T) {
	clock := device.NewManualClock(time.Date(2026, 11, 2, 22, 0, 0, 0, time.UTC))
	f := startFleet(t, fleetsim.Config{Clock: clock})
	ep := f.Endpoints()[1] // Windows 7 SP1, 35 GB free
	c := client(t, f, 1, false, testPass)

	// Setup cannot run in the WinRM session itself.
	if _, _, code := run(t, c, `D:\setup.exe /Auto Upgrade /Quiet /NoReboot`); code != device.AccessDeniedHResult {
		t.Fatalf("setup in a WinRM session: exit %d, want 0x80070005", code)
	}
	if out, _, code := run(t, c, setupTask); code != 0 || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("schtasks /Create: %q %d", out, code)
	}
	run(t, c, "schtasks /Run /TN RingmasterUpgrade")
	waitFor(t, "setup to start", func() bool { return clock.Pending() == 1 })
	if out, _, _ := run(t, c, "schtasks /Query /TN RingmasterUpgrade /FO LIST /V"); !strings.Contains(out, "Status:                               Running") {
		t.Fatalf("task not running:\n%s", out)
	}
	clock.Advance(10 * time.Minute) // the compatibility scan
	waitFor(t, "the down-level phase", func() bool { return clock.Pending() == 1 })
	clock.Advance(25 * time.Minute)
	waitFor(t, "setup to finish", func() bool {
		out, _, _ := run(t, c, "schtasks /Query /TN RingmasterUpgrade /FO LIST /V")
		return strings.Contains(out, "Status:                               Ready") && strings.Contains(out, "Last Result:                          0")
	})
	if out, _, _ := ps(t, c, `Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending'`); out != "True\r\n" {
		t.Fatalf("reboot pending = %q", out)
	}
	if out, _, _ := run(t, c, "ver"); !strings.Contains(out, "6.1.7601") {
		t.Fatalf("upgraded before the restart: %q", out)
	}

	// The restart: the endpoint goes away, shells with it, for the offline phases.
	run(t, c, "shutdown /r /t 0")
	clock.Advance(device.RestartGrace)
	waitFor(t, "the device to go down", func() bool { return !reachable(ep) })
	if ep.Server().Shells() != 0 {
		t.Fatal("shells survived the reboot")
	}
	clock.Advance(44 * time.Minute)
	time.Sleep(20 * time.Millisecond)
	if reachable(ep) {
		t.Fatal("the device came back before the offline phases ended")
	}
	clock.Advance(2 * time.Minute)
	waitFor(t, "the device to come back", func() bool { return reachable(ep) })

	if out, _, _ := run(t, c, "ver"); out != "\r\nMicrosoft Windows [Version 10.0.19045.2006]\r\n" {
		t.Fatalf("after upgrade: %q", out)
	}
	if out, _, _ := ps(t, c, "(Get-CimInstance Win32_OperatingSystem).Caption"); out != "Microsoft Windows 10 Pro\r\n" {
		t.Fatalf("caption after upgrade: %q", out)
	}
	if out, _, _ := ps(t, c, `Get-Content 'C:\$WINDOWS.~BT\Sources\Panther\setupact.log' -Tail 1`); !strings.Contains(out, "Setup completed successfully") {
		t.Fatalf("setup log: %q", out)
	}
	tr := ep.Machine.Truth()
	if tr.UpgradesLaunched != 1 || tr.UpgradesDone != 1 || tr.Reboots != 3 || tr.Build != "10.0.19045" {
		t.Fatalf("truth %+v", tr)
	}
}

func TestSetupScanCodes(t *testing.T) {
	clock := device.NewManualClock(time.Date(2026, 11, 2, 22, 0, 0, 0, time.UTC))
	devices := specs()
	devices[0].Edition = "EnterpriseS"
	f := startFleet(t, fleetsim.Config{Clock: clock, Devices: devices})
	want := []int{device.SetupMigrationNA, device.SetupNoIssues, device.SetupDiskSpace}
	for i := range devices {
		c := client(t, f, i, false, testPass)
		done := make(chan int, 1)
		go func() {
			_, _, code := run(t, c, `D:\setup.exe /Auto Upgrade /Quiet /NoReboot /DynamicUpdate Disable /Compat ScanOnly`)
			done <- code
		}()
		waitFor(t, "the scan to start", func() bool { return clock.Pending() == 1 })
		clock.Advance(10 * time.Minute)
		if code := <-done; code != want[i] {
			t.Errorf("%s: scan exit %#x, want %#x", devices[i].Hostname, uint32(int32(code)), uint32(int32(want[i])))
		}
	}
}

func TestPatchingNeedsSystem(t *testing.T) {
	clock := device.NewManualClock(time.Date(2026, 11, 2, 22, 0, 0, 0, time.UTC))
	f := startFleet(t, fleetsim.Config{Clock: clock})
	c := client(t, f, 1, false, testPass) // Windows 7
	if _, _, code := run(t, c, `wusa.exe C:\patches\windows6.1-kb4499175-x64.msu /quiet /norestart`); code != device.AccessDenied {
		t.Fatalf("wusa in a WinRM session: exit %d, want 5", code)
	}
	run(t, c, `schtasks /Create /TN Patch /TR "wusa.exe C:\patches\windows6.1-kb4499175-x64.msu /quiet /norestart" /SC ONCE /ST 00:00 /RU SYSTEM /F`)
	run(t, c, "schtasks /Run /TN Patch")
	waitFor(t, "wusa to finish", func() bool {
		out, _, _ := run(t, c, "schtasks /Query /TN Patch /FO LIST /V")
		return strings.Contains(out, "Last Result:                          3010")
	})
	if out, _, code := ps(t, c, "Get-HotFix -Id KB4499175 | Select-Object -ExpandProperty HotFixID"); code != 0 || out != "KB4499175\r\n" {
		t.Fatalf("hotfix after install: %q %d", out, code)
	}
	// Again: already installed. A Windows 10 KB: not applicable.
	run(t, c, "schtasks /Run /TN Patch")
	waitFor(t, "the second run", func() bool {
		out, _, _ := run(t, c, "schtasks /Query /TN Patch /FO LIST /V")
		return strings.Contains(out, "Last Result:                          2359302")
	})
	out, _, code := run(t, c, `DISM /Online /Add-Package /PackagePath:C:\x\Windows10.0-KB4512508-x64.cab /Quiet /NoRestart`)
	if code != -2146498530 || !strings.Contains(out+"", "") {
		t.Fatalf("DISM of a Windows 10 package on Windows 7: %d", code)
	}
	if tr := f.Endpoints()[1].Machine.Truth(); len(tr.KBsInstalled) != 1 || tr.KBsInstalled[0] != "KB4499175" {
		t.Fatalf("truth %+v", tr)
	}
}

func TestRollbackAndHang(t *testing.T) {
	clock := device.NewManualClock(time.Date(2026, 11, 2, 22, 0, 0, 0, time.UTC))
	devices := specs()[:2]
	devices[0].Behaviour.RollBack = true
	devices[1].Behaviour.RebootHangs = true
	f := startFleet(t, fleetsim.Config{Clock: clock, Devices: devices})

	c := client(t, f, 0, false, testPass)
	run(t, c, strings.Replace(setupTask, " /NoReboot", "", 1))
	run(t, c, "schtasks /Run /TN RingmasterUpgrade")
	waitFor(t, "setup", func() bool { return clock.Pending() == 1 })
	clock.Advance(10 * time.Minute)
	waitFor(t, "down-level", func() bool { return clock.Pending() == 1 })
	clock.Advance(21 * time.Minute) // without /NoReboot setup restarts by itself
	waitFor(t, "the restart", func() bool { return !reachable(f.Endpoints()[0]) })
	clock.Advance(46 * time.Minute)
	waitFor(t, "the device to come back", func() bool { return reachable(f.Endpoints()[0]) })
	if out, _, _ := run(t, c, "ver"); !strings.Contains(out, "10.0.19045.3803") {
		t.Fatalf("after a rollback the build must stay: %q", out)
	}
	if out, _, _ := ps(t, c, `Get-Content 'C:\$WINDOWS.~BT\Sources\Panther\setupact.log' -Tail 1`); !strings.Contains(out, "0xC1900101") {
		t.Fatalf("setup log after rollback: %q", out)
	}

	h := client(t, f, 1, false, testPass)
	run(t, h, "shutdown /r /t 0")
	clock.Advance(device.RestartGrace)
	waitFor(t, "the hang", func() bool { return !reachable(f.Endpoints()[1]) })
	clock.Advance(24 * time.Hour)
	time.Sleep(20 * time.Millisecond)
	if reachable(f.Endpoints()[1]) || f.Endpoints()[1].Machine.Up() {
		t.Fatal("a hung reboot came back")
	}
}

// TestEveryDocumentedCommand runs each command of the device package's
// documented set through masterzen once.
func TestEveryDocumentedCommand(t *testing.T) {
	clock := device.NewManualClock(time.Date(2026, 11, 2, 22, 0, 0, 0, time.UTC))
	f := startFleet(t, fleetsim.Config{Clock: clock})
	c := client(t, f, 0, false, testPass)
	cmds := []struct {
		line, want string
		code       int
	}{
		{"hostname", "PC000001", 0},
		{"echo ready", "ready", 0},
		{"exit /b 2", "", 2},
		{"ver", "10.0.19045.3803", 0},
		{`reg query "HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion" /v CurrentBuild`, "REG_SZ    19045", 0},
		{"cmd /c hostname", "PC000001", 0},
		{`wusa.exe C:\p\windows10.0-kb5034441-x64.msu /extract:C:\p\x`, "", 0},
		{`DISM /Online /Add-Package /PackagePath:C:\p\x\Windows10.0-KB5034441-x64.cab /Quiet /NoRestart`, "already installed", 0},
		{"DISM /Online /Get-OSUninstallWindow", "", device.ElementNotFound},
		{"schtasks /Create /TN T /TR \"hostname\" /SC ONCE /ST 00:00 /RU SYSTEM /F", "SUCCESS", 0},
		{"schtasks /Run /TN T", "SUCCESS", 0},
		{"schtasks /Delete /TN T /F", "SUCCESS", 0},
	}
	scripts := []struct {
		script, want string
		code         int
	}{
		{"Write-Output hi; Write-Host there", "hi\r\nthere", 0},
		{"$env:COMPUTERNAME", "PC000001", 0},
		{"(Get-CimInstance Win32_ComputerSystem).Model", "OptiPlex 7090", 0},
		{"(Get-WmiObject Win32_BIOS).SerialNumber", "AB123456", 0},
		{"Get-CimInstance Win32_QuickFixEngineering | Select-Object -ExpandProperty HotFixID", "KB5034441", 0},
		{"(Get-PSDrive C).Free", "52076478464", 0},
		{"Get-CimInstance Win32_OperatingSystem | Select-Object LastBootUpTime | ConvertTo-Json -Compress", `{"LastBootUpTime":"\/Date(`, 0},
		{"Get-HotFix | Out-String", "HotFixID", 0},
		{`Test-Path 'C:\Windows'`, "True", 0},
		{`Test-Path 'C:\$WINDOWS.~BT\Sources\Panther\setupact.log'`, "False", 0},
		{`Get-Content 'C:\$WINDOWS.~BT\Sources\Panther\setupact.log'`, "", 1},
		{"exit 5", "", 5},
	}
	for _, tt := range cmds {
		out, _, code := run(t, c, tt.line)
		if !strings.Contains(out, tt.want) || code != tt.code {
			t.Errorf("%s: %q exit %d; want %q exit %d", tt.line, out, code, tt.want, tt.code)
		}
	}
	for _, tt := range scripts {
		out, _, code := ps(t, c, tt.script)
		if !strings.Contains(out, tt.want) || code != tt.code {
			t.Errorf("%s: %q exit %d; want %q exit %d", tt.script, out, code, tt.want, tt.code)
		}
	}
	// Restart-Computer takes the device down after the grace period.
	ps(t, c, "Restart-Computer -Force")
	clock.Advance(device.RestartGrace)
	waitFor(t, "Restart-Computer", func() bool { return !reachable(f.Endpoints()[0]) })
	clock.Advance(2 * time.Minute)
	waitFor(t, "the device to come back", func() bool { return reachable(f.Endpoints()[0]) })
}

func TestSeededBehaviourFaults(t *testing.T) {
	clock := device.NewManualClock(time.Date(2026, 11, 2, 22, 0, 0, 0, time.UTC))
	for kind, want := range map[string]int{fleetsim.FaultCompat: device.SetupCompatBlock, fleetsim.FaultLowDisk: device.SetupDiskSpace} {
		f := startFleet(t, fleetsim.Config{Clock: clock, Devices: specs()[:1], Faults: fleetsim.FaultSpec{Share: map[string]float64{kind: 1}}})
		c := client(t, f, 0, false, testPass)
		done := make(chan int, 1)
		go func() {
			_, _, code := run(t, c, `D:\setup.exe /Auto Upgrade /Quiet /Compat ScanOnly`)
			done <- code
		}()
		waitFor(t, "the scan", func() bool { return clock.Pending() >= 1 })
		clock.Advance(10 * time.Minute)
		if code := <-done; code != want {
			t.Errorf("%s: scan exit %#x, want %#x", kind, uint32(int32(code)), uint32(int32(want)))
		}
		f.Close()
	}
}

func TestGoingBackAfterAnUpgrade(t *testing.T) {
	clock := device.NewManualClock(time.Date(2026, 11, 2, 22, 0, 0, 0, time.UTC))
	f := startFleet(t, fleetsim.Config{Clock: clock, Devices: specs()[1:2]})
	ep, c := f.Endpoints()[0], client(t, f, 0, false, testPass)
	run(t, c, strings.Replace(setupTask, " /NoReboot", "", 1))
	run(t, c, "schtasks /Run /TN RingmasterUpgrade")
	waitFor(t, "setup", func() bool { return clock.Pending() == 1 })
	clock.Advance(10 * time.Minute)
	waitFor(t, "down-level", func() bool { return clock.Pending() == 1 })
	clock.Advance(21 * time.Minute)
	waitFor(t, "the restart", func() bool { return !reachable(ep) })
	clock.Advance(46 * time.Minute)
	waitFor(t, "the upgraded device", func() bool { return reachable(ep) })
	if out, _, code := run(t, c, "DISM /Online /Get-OSUninstallWindow"); code != 0 || !strings.Contains(out, "Uninstall Window : 10") {
		t.Fatalf("uninstall window: %q %d", out, code)
	}
	run(t, c, "DISM /Online /Initiate-OSUninstall")
	clock.Advance(device.RestartGrace)
	waitFor(t, "the going-back restart", func() bool { return !reachable(ep) })
	clock.Advance(3 * time.Minute)
	waitFor(t, "the device to come back", func() bool { return reachable(ep) })
	if out, _, _ := run(t, c, "ver"); !strings.Contains(out, "6.1.7601") {
		t.Fatalf("after going back: %q", out)
	}
}
