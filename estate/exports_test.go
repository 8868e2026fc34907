package estate_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/estate"
	"github.com/ringmaster-fleet/ringmaster/internal/golden"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
)

// TestImportRealExports imports sample exports shaped like those of the
// tools an estate's inventory comes from, each with the options its shape
// needs and no hand edits, and compares what was stored (and the notes
// and ignored columns) with testdata/exports/NAME.golden. The column
// names come from the documentation cited beside each; the values are
// illustrative (the pages list columns, not always how a cell is written).
func TestImportRealExports(t *testing.T) {
	tests := []struct {
		file string
		o    estate.ImportOptions
	}{
		// Configuration Manager: a SQL query's result saved as CSV by a UK
		// operator, joining v_R_System (Name0, Netbios_Name0,
		// Resource_Domain_OR_Workgr0, AD_Site_Name0,
		// Operating_System_Name_and0, Build01) with v_GS_OPERATING_SYSTEM
		// (Caption0, Version0, BuildNumber0), v_GS_COMPUTER_SYSTEM
		// (Manufacturer0, Model0), v_GS_PC_BIOS (SerialNumber0),
		// v_GS_LOGICAL_DISK (FreeSpace0, MB) and v_GS_WORKSTATION_STATUS
		// (LastHWScan). No organisation column; dates day first.
		// "Discovery views in Configuration Manager",
		// https://learn.microsoft.com/mem/configmgr/develop/core/understand/sqlviews/discovery-views-configuration-manager
		// "Hardware inventory views in Configuration Manager",
		// https://learn.microsoft.com/mem/configmgr/develop/core/understand/sqlviews/hardware-inventory-views-configuration-manager
		{"configmgr.csv", estate.ImportOptions{Org: "RXX", DateFormat: "dmy"}},
		// Intune: Devices > All devices > Export, which writes the columns
		// the list shows by their titles; fields as in "managedDevice
		// resource type" (deviceName, operatingSystem, osVersion,
		// lastSyncDateTime, serialNumber, manufacturer, model,
		// complianceState, userPrincipalName),
		// https://learn.microsoft.com/graph/api/resources/intune-devices-manageddevice
		// Dates as a US-locale portal writes them, month first.
		{"intune.csv", estate.ImportOptions{Org: "RYY", DateFormat: "mdy"}},
		// Defender for Endpoint: Assets > Devices > Export, columns as the
		// device inventory lists them ("Device inventory",
		// https://learn.microsoft.com/defender-endpoint/machines-view-overview;
		// fields as in "Machine resource type": computerDnsName,
		// osPlatform, lastSeen, healthStatus, onboardingStatus,
		// https://learn.microsoft.com/defender-endpoint/api/machine).
		// Dates as the portal shows them, read with a Go layout.
		{"defender.csv", estate.ImportOptions{Org: "RZZ", DateFormat: "Jan 2, 2006 3:04:05 PM"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			o := tt.o
			o.Name, o.Now = filepath.Join("testdata", "exports", tt.file), testNow
			o.CreateOrgs, o.DefaultTimeZone = true, "Europe/London"
			src, err := estate.Open(o, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			rep, err := estate.Import(ctx, s, src, o)
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "options: --org %s --date-format %q\n", tt.o.Org, tt.o.DateFormat)
			fmt.Fprintf(&b, "imported: %d new, %d updated, %d unchanged, %d rejected; created %v\n", rep.New, rep.Updated, rep.Unchanged, rep.Rejected, rep.CreatedOrgs)
			for _, n := range rep.Notes {
				fmt.Fprintf(&b, "note: %s\n", n)
			}
			fmt.Fprintf(&b, "ignored: %s\n", strings.Join(rep.Ignored, ", "))
			if err := estate.Export(ctx, s, inventory.Everything(), &b, format.NDJSON); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "exports", strings.TrimSuffix(tt.file, ".csv")+".golden"), b.String())
		})
	}
}
