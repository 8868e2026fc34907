package format

import (
	"strings"

	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Canonical column names, in the order CSV export writes them. Each is
// accepted on import, as are the aliases in columnAliases.
var Columns = []string{
	"hostname", "address", "org", "site", "labels", "credential",
	"manufacturer", "model", "serial", "os_caption", "os_edition", "os_build",
	"ubr", "kbs", "disk_free_gb", "ram_gb", "last_seen", "observed_at",
}

// Import-only columns: unit variants and what --create-orgs uses.
const (
	colDiskFreeMB  = "disk_free_mb"
	colRAMMB       = "ram_mb"
	colOrgName     = "org_name"
	colOrgTimeZone = "org_timezone"
	colObservedAt  = "observed_at"
)

// columnAliases maps a folded header (lower case, letters and digits only)
// to its canonical column. Aliases cover common Configuration Manager
// (console and v_R_System / v_GS_* view) and Active Directory export headers.
var columnAliases = map[string]string{
	"hostname": "hostname", "name": "hostname", "fqdn": "hostname", "dnshostname": "hostname",
	"dnsname": "hostname", "computer": "hostname", "computername": "hostname", "devicename": "hostname",
	"name0": "hostname", "netbiosname0": "hostname", "netbiosname": "hostname", "resourcename": "hostname",

	"address": "address", "ipaddress": "address", "ip": "address", "winrmaddress": "address",

	"org": "org", "organisation": "org", "organization": "org", "orgcode": "org", "odscode": "org", "ods": "org",

	"site": "site", "sitename": "site", "location": "site", "adsite": "site", "adsitename": "site", "adsitename0": "site",

	"labels": "labels", "tags": "labels",
	"credential": "credential", "credentialname": "credential",

	"manufacturer": "manufacturer", "manufacturer0": "manufacturer", "make": "manufacturer",
	"model": "model", "model0": "model",
	"serial": "serial", "serialnumber": "serial", "serialnumber0": "serial", "biosserialnumber": "serial",

	"oscaption": "os_caption", "os": "os_caption", "operatingsystem": "os_caption",
	"operatingsystemname": "os_caption", "osname": "os_caption", "caption0": "os_caption",
	"osedition": "os_edition", "edition": "os_edition", "operatingsystemedition": "os_edition",
	"osbuild": "os_build", "build": "os_build", "buildnumber": "os_build", "buildnumber0": "os_build",
	"osversion": "os_build", "version": "os_build", "version0": "os_build", "operatingsystembuild": "os_build",
	"operatingsystemversion": "os_build",
	"ubr":                    "ubr", "updatebuildrevision": "ubr",
	"kbs": "kbs", "installedkbs": "kbs", "hotfixes": "kbs", "hotfixids": "kbs", "installedupdates": "kbs",

	"diskfreegb": "disk_free_gb", "diskfree": "disk_free_gb", "freespacegb": "disk_free_gb",
	"freediskspacegb": "disk_free_gb", "systemdrivefreegb": "disk_free_gb",
	"diskfreemb": colDiskFreeMB, "freespacemb": colDiskFreeMB, "freespace0": colDiskFreeMB,
	"ramgb": "ram_gb", "ram": "ram_gb", "memorygb": "ram_gb", "totalmemorygb": "ram_gb",
	"rammb": colRAMMB, "memorymb": colRAMMB, "totalphysicalmemorymb": colRAMMB,

	"lastseen": "last_seen", "lastactivetime": "last_seen", "lastactivity": "last_seen",
	"lastcontact": "last_seen", "lastonline": "last_seen", "lastlogontimestamp": "last_seen",
	"observedat": colObservedAt, "lasthardwarescan": colObservedAt, "lasthwscan": colObservedAt,

	"orgname": colOrgName, "organisationname": colOrgName, "organizationname": colOrgName,
	"orgtimezone": colOrgTimeZone, "timezone": colOrgTimeZone,
}

// colID numbers the canonical columns (Columns, then the import-only ones),
// so a row's cells live in an array rather than a map.
type colID int

var colNames = append(append([]string{}, Columns...), colDiskFreeMB, colRAMMB, colOrgName, colOrgTimeZone)

const numCols = 22

func init() {
	if len(colNames) != numCols {
		panic("format: numCols out of date")
	}
}

var colIDs = func() map[string]colID {
	m := make(map[string]colID, numCols)
	for i, c := range colNames {
		m[c] = colID(i)
	}
	return m
}()

func idOf(canon string) colID {
	id, ok := colIDs[canon]
	if !ok {
		panic("format: unknown column " + canon)
	}
	return id
}

// foldHeader lower-cases a header and keeps letters and digits only, so
// "Operating System", "operating_system" and "OperatingSystem" all match.
func foldHeader(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// CanonicalColumn returns the canonical column a header names, if any.
func CanonicalColumn(header string) (string, bool) {
	c, ok := columnAliases[foldHeader(header)]
	return c, ok
}

// factColumns maps canonical fact columns to facts.
var factColumns = map[string]inventory.Fact{
	"manufacturer": inventory.FactManufacturer, "model": inventory.FactModel, "serial": inventory.FactSerial,
	"os_caption": inventory.FactOSCaption, "os_edition": inventory.FactOSEdition, "os_build": inventory.FactOSBuild,
	"ubr": inventory.FactUBR, "kbs": inventory.FactKBs, "disk_free_gb": inventory.FactDiskFreeGB,
	"ram_gb": inventory.FactRAMGB,
}
