package winrm_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// BenchmarkExec runs a playbook's worth of commands (five, one after the
// other, as a run's steps go) on each of 100 simulated devices, 25 devices
// at a time, through the executor with NTLM: what one command costs the
// executor and the device. make bench-dense measures it out of process.
func BenchmarkExec(b *testing.B) {
	devs := make([]device.Spec, 100)
	for i := range devs {
		devs[i] = device.Spec{Hostname: fmt.Sprintf("pc%06d.rxx.nhs.uk", i), Caption: "Microsoft Windows 10 Enterprise", Edition: "Enterprise",
			Build: "10.0.19045", UBR: 3803, DiskFreeGB: 48.5, RAMGB: 16}
	}
	f := fleet(b, fleetsim.Config{Devices: devs})
	x := winrm.New(winrm.Options{})
	ctx := context.Background()
	cmds := []sdk.Command{
		{Shell: sdk.Cmd, Script: "hostname"},
		{Shell: sdk.PowerShell, Script: `Get-CimInstance Win32_LogicalDisk -Filter "DeviceID='C:'" | Select-Object FreeSpace,Size | ConvertTo-Json -Compress`},
		{Shell: sdk.PowerShell, Script: `Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired'`},
		{Shell: sdk.Cmd, Script: "ver"},
		{Shell: sdk.PowerShell, Script: "hostname"},
	}
	var next atomic.Int64
	b.SetParallelism(25)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			t := target(f, int(next.Add(1))%len(devs), false, "ntlm")
			for _, c := range cmds {
				if _, err := x.Exec(ctx, t, c, nil); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(cmds)), "µs/command")
}
