package scenario

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// The demo's estate: its logon, faults, and the names it gives things.
const (
	DemoUser        = "svc-ringmaster"
	DemoPassword    = "Demo-Passw0rd!"
	DemoFaults      = "compat=3%,rollback=2%,lowdisk=2%,slow=5%:200ms"
	DemoCampaign    = "win10-22h2"
	DemoAlert       = "HSA-DEMO-0001"
	DemoUpdateShare = `\\dp01\updates$`
	// DemoMinDiskFreeGB: the generated estate is an inventory as found,
	// where many disks are too full for an upgrade; the demo's has been
	// cleaned up first, all but the devices the lowdisk fault picks.
	DemoMinDiskFreeGB = 40
)

// DemoCampaignSpec is the demo's feature-update campaign (DemoCampaign): a
// pilot ring, a third of the rest, then everyone, inside windows that open
// every two hours for ninety minutes (compressed nights), at most 250
// devices per site at once (a site's link to the media share).
//
//go:embed demo/win10-22h2.yaml
var DemoCampaignSpec string

//go:embed demo/alert.yaml
var demoAlertSpec string

// DemoAlertSpec is a sample alert (DemoAlert) issued at issued with a
// deadline fourteen days on, after DejaBlue (CVE-2019-1181/1182, August
// 2019): the updates that fixed it on each build, and the later cumulative
// updates that supersede them. Devices the campaign moved to 22H2 are not
// affected; those it could not are.
func DemoAlertSpec(issued time.Time) string {
	return fmt.Sprintf(demoAlertSpec, DemoAlert, issued.Format(time.DateOnly), issued.AddDate(0, 0, 14).Format(time.DateOnly))
}

// TakeAway takes every nth device (from the offset-th) off the network
// and brings it back after away on clock, or when ctx ends. It returns
// how many left.
func (e *Estate) TakeAway(ctx context.Context, clock device.Clock, every, offset int, away time.Duration) int {
	var gone []*device.Machine
	for i, ep := range e.Endpoints() {
		if i%every == offset {
			ep.Machine.SetOnline(false)
			gone = append(gone, ep.Machine)
		}
	}
	back := clock.After(away)
	go func() {
		select {
		case <-ctx.Done():
		case <-back:
			for _, m := range gone {
				m.SetOnline(true)
			}
		}
	}()
	return len(gone)
}
