package estate

import (
	"context"
	"io"
	"iter"
	"slices"
	"strings"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
)

// Devices reads devices from the inventory store.
type Devices interface {
	// Devices streams the devices sel matches, by organisation, then
	// hostname (inventory.Store's order).
	Devices(ctx context.Context, sel inventory.Selector) iter.Seq2[*inventory.Device, error]
}

// Organisations reads the organisations and the estate's build counts.
type Organisations interface {
	Organisations(ctx context.Context) ([]inventory.Organisation, error)
	// Organisation returns one, or an error wrapping errkind.NotFound.
	Organisation(ctx context.Context, code string) (inventory.Organisation, error)
	CountByOrgAndBuild(ctx context.Context) ([]inventory.BuildCount, error)
}

// Store is what the changes of this package write through.
type Store interface {
	Organisations
	// CreateOrganisation stores a new organisation, or fails with an
	// error wrapping errkind.Exists.
	CreateOrganisation(ctx context.Context, o *inventory.Organisation) error
	// RemoveDevices removes the devices sel matches and returns their
	// hostnames.
	RemoveDevices(ctx context.Context, sel inventory.Selector) ([]string, error)
}

// Export streams the devices sel matches to w in a file format that
// Import reads back.
func Export(ctx context.Context, s Devices, sel inventory.Selector, w io.Writer, kind format.Kind, opts ...format.Option) error {
	fw, err := format.NewWriter(kind, w, opts...)
	if err != nil {
		return err
	}
	for d, err := range s.Devices(ctx, sel) {
		if err != nil {
			return err
		}
		if err := fw.Write(d); err != nil {
			return err
		}
	}
	return fw.Close()
}

// Collect reads the devices sel matches into a slice.
func Collect(ctx context.Context, s Devices, sel inventory.Selector) ([]*inventory.Device, error) {
	var out []*inventory.Device
	for d, err := range s.Devices(ctx, sel) {
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// HostSelector is the selector text that picks the named hosts.
func HostSelector(hosts []string) string {
	quoted := make([]string, len(hosts))
	for i, h := range hosts {
		quoted[i] = `"` + inventory.NormaliseHostname(h) + `"`
	}
	return "hostname in (" + strings.Join(quoted, ",") + ")"
}

// MissingError names the hosts a removal was asked for that the inventory
// did not hold. It wraps errkind.NotFound.
type MissingError struct{ Hosts []string }

func (e *MissingError) Error() string {
	return errkind.NotFound.Error() + ": not in the inventory: " + strings.Join(e.Hosts, ", ")
}

func (e *MissingError) Unwrap() error { return errkind.NotFound }

// Remove removes the devices sel matches and returns how many went. When
// hosts are named (and sel is HostSelector(hosts)), those the inventory
// did not hold fail it with a *MissingError, after the others are removed.
func Remove(ctx context.Context, s Store, sel inventory.Selector, hosts []string) (int, error) {
	removed, err := s.RemoveDevices(ctx, sel)
	if err != nil {
		return 0, err
	}
	var missing []string
	for _, h := range hosts {
		if !slices.Contains(removed, inventory.NormaliseHostname(h)) {
			missing = append(missing, h)
		}
	}
	if len(missing) > 0 {
		return len(removed), &MissingError{Hosts: missing}
	}
	return len(removed), nil
}

// Build is a device's observed build with its update revision
// (10.0.19045.3803), or "" when no build was observed.
func Build(d *inventory.Device) string {
	build := d.Facts.Value(inventory.FactOSBuild)
	if build != "" && d.Facts.Known(inventory.FactUBR) {
		build += "." + d.Facts.Value(inventory.FactUBR)
	}
	return build
}
