package fleetsim_test

import (
	"context"
	"io"
	"sync/atomic"
	"testing"

	"github.com/masterzen/winrm"

	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// BenchmarkRoundTrip runs `hostname` through masterzen against a fleet of
// 300 devices, round robin, 50 at a time. The simulator's own CPU per
// command is measured out of process by `make bench-sim`.
func BenchmarkRoundTrip(b *testing.B) {
	devs := make([]device.Spec, 300)
	for i := range devs {
		devs[i] = specs()[0]
		devs[i].Hostname = "pc" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + ".rxx.nhs.uk"
	}
	f, err := fleetsim.Start(context.Background(), fleetsim.Config{Devices: devs, Username: testUser, Password: testPass, FirstAddress: freeRange()})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	clients := make([]*winrm.Client, len(devs))
	for i, ep := range f.Endpoints() {
		clients[i], _ = winrm.NewClient(winrm.NewEndpoint(ep.IP.String(), fleetsim.HTTPPort, false, false, nil, nil, nil, 0), testUser, testPass)
	}
	var next atomic.Int64
	b.SetParallelism(25)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := clients[int(next.Add(1))%len(clients)]
			if code, err := c.RunWithContext(context.Background(), "hostname", io.Discard, io.Discard); err != nil || code != 0 {
				b.Fatal(code, err)
			}
		}
	})
}
