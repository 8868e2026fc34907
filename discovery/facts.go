package discovery

import (
	"strconv"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// Facts turns what a probe reported into inventory facts observed at at.
// It is the one such mapping: probes and campaign runs both record what
// they observe through it. An empty value is left unobserved, except the
// list of updates, where none installed is an observation; a value the
// inventory refuses (malformed, or text beyond its limits) is left
// unobserved too.
func Facts(f sdk.Facts, at time.Time) inventory.Facts {
	var out inventory.Facts
	set := func(fact inventory.Fact, v string) {
		if v != "" {
			_ = out.Set(fact, v, at) // a refused value stays unobserved
		}
	}
	set(inventory.FactManufacturer, f.Manufacturer)
	set(inventory.FactModel, f.Model)
	set(inventory.FactSerial, f.Serial)
	set(inventory.FactOSCaption, f.OSCaption)
	set(inventory.FactOSEdition, f.OSEdition)
	set(inventory.FactOSBuild, f.OSBuild)
	set(inventory.FactUBR, strconv.Itoa(f.UBR))
	_ = out.Set(inventory.FactKBs, strings.Join(f.KBs, ";"), at) // "" records: none installed
	set(inventory.FactDiskFreeGB, strconv.FormatFloat(f.DiskFreeGB, 'f', -1, 64))
	set(inventory.FactRAMGB, strconv.FormatFloat(f.RAMGB, 'f', -1, 64))
	return out
}
