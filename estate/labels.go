package estate

import (
	"context"
	"time"

	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Labeller changes devices' labels and reads what was changed
// (inventory.Store's LabelDevices and LabelHistory).
type Labeller interface {
	LabelDevices(ctx context.Context, sel inventory.Selector, changes []inventory.LabelChange, actor string) (inventory.LabelResult, error)
	LabelHistory(ctx context.Context, hostname string, limit int) ([]inventory.LabelEvent, error)
	// LastSeen tells which of hosts the inventory holds.
	LastSeen(ctx context.Context, hosts []string) (map[string]time.Time, error)
}

// Label makes the label changes (inventory.ParseLabelChanges reads them
// as written "key=value" and "key-") on the devices sel matches, in one
// transaction recorded in the label history under actor, who asked.
// When hosts are named (and sel is HostSelector(hosts)), one the
// inventory does not hold fails it with a *MissingError before anything
// is changed.
func Label(ctx context.Context, s Labeller, sel inventory.Selector, hosts []string, changes []inventory.LabelChange, actor string) (inventory.LabelResult, error) {
	if len(hosts) > 0 {
		held, err := s.LastSeen(ctx, hosts)
		if err != nil {
			return inventory.LabelResult{}, err
		}
		var missing []string
		for _, h := range hosts {
			if _, ok := held[h]; !ok {
				missing = append(missing, h)
			}
		}
		if len(missing) > 0 {
			return inventory.LabelResult{}, &MissingError{Hosts: missing}
		}
	}
	return s.LabelDevices(ctx, sel, changes, actor)
}

// DeviceStore reads one device and its label history.
type DeviceStore interface {
	Labeller
	// Device returns one device by hostname, or an error wrapping
	// errkind.NotFound.
	Device(ctx context.Context, hostname string) (inventory.Device, error)
}

// HistoryShown is how many label changes a device's details show.
const HistoryShown = 5

// DeviceDetail is one device with its last label changes, newest first.
type DeviceDetail struct {
	Device       inventory.Device
	LabelChanges []inventory.LabelEvent
}

// ShowDevice returns the device hostname names with its last
// HistoryShown label changes, or an error wrapping errkind.NotFound.
func ShowDevice(ctx context.Context, s DeviceStore, hostname string) (DeviceDetail, error) {
	d, err := s.Device(ctx, hostname)
	if err != nil {
		return DeviceDetail{}, err
	}
	h, err := s.LabelHistory(ctx, d.Hostname, HistoryShown)
	if err != nil {
		return DeviceDetail{}, err
	}
	return DeviceDetail{Device: d, LabelChanges: h}, nil
}
