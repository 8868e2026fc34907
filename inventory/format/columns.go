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

// fieldAliases lists, per canonical column, the folded headers (lower case,
// letters and digits only) that name it: common Configuration Manager
// (console, and v_R_System / v_GS_* views), Active Directory, Intune and
// Defender for Endpoint export headers. The headers of a column come in
// tiers, in order of preference: when a file has two headers for one
// column from different tiers, the earlier tier's is used and the other
// ignored, with a note (Configuration Manager's Name0 over Netbios_Name0);
// two from the same tier are refused as ambiguous.
var fieldAliases = []struct {
	canon string
	tiers [][]string
}{
	{"hostname", [][]string{
		{"hostname", "fqdn", "dnshostname", "dnsname", "computerdnsname"},
		{"name", "computer", "computername", "devicename", "name0", "resourcename"},
		{"netbiosname0", "netbiosname"},
	}},
	{"address", [][]string{{"address", "ipaddress", "ip", "winrmaddress"}}},
	{"org", [][]string{{"org", "organisation", "organization", "orgcode", "odscode", "ods"}}},
	{"site", [][]string{{"site", "sitename", "location", "adsite", "adsitename", "adsitename0"}}},
	{"labels", [][]string{{"labels", "tags"}}},
	{"credential", [][]string{{"credential", "credentialname"}}},
	{"manufacturer", [][]string{{"manufacturer", "manufacturer0", "make"}}},
	{"model", [][]string{{"model", "model0"}}},
	{"serial", [][]string{{"serial", "serialnumber", "serialnumber0", "biosserialnumber"}}},
	// A caption ("Microsoft Windows 10 Enterprise") over v_R_System's
	// coarser Operating_System_Name_and0 ("Microsoft Windows NT Workstation 10.0").
	{"os_caption", [][]string{
		{"oscaption", "os", "operatingsystem", "osname", "caption0"},
		{"operatingsystemname", "operatingsystemnameand0"},
	}},
	{"os_edition", [][]string{{"osedition", "edition", "operatingsystemedition"}}},
	// A column that says build (10.0.19045) over one that says version,
	// which some exports fill with a release name; a bare build number
	// (BuildNumber0: 19045) last.
	{"os_build", [][]string{
		{"osbuild", "build", "build01", "operatingsystembuild"},
		{"osversion", "version", "version0", "operatingsystemversion"},
		{"buildnumber", "buildnumber0"},
	}},
	{"ubr", [][]string{{"ubr", "updatebuildrevision"}}},
	{"kbs", [][]string{{"kbs", "installedkbs", "hotfixes", "hotfixids", "installedupdates"}}},
	{"disk_free_gb", [][]string{{"diskfreegb", "diskfree", "freespacegb", "freediskspacegb", "systemdrivefreegb"}}},
	{colDiskFreeMB, [][]string{{"diskfreemb", "freespacemb", "freespace0"}}},
	{"ram_gb", [][]string{{"ramgb", "ram", "memorygb", "totalmemorygb"}}},
	{colRAMMB, [][]string{{"rammb", "memorymb", "totalphysicalmemorymb"}}},
	// When the device last reported (Configuration Manager's activity,
	// Intune's check-in, Defender's last seen) over a user's last logon.
	{"last_seen", [][]string{
		{"lastseen", "lastactivetime", "lastactivity", "lastcontact", "lastonline", "lastcheckin"},
		{"lastlogontimestamp", "lastlogontimestamp0"},
	}},
	{colObservedAt, [][]string{{"observedat", "lasthardwarescan", "lasthwscan"}}},
	{colOrgName, [][]string{{"orgname", "organisationname", "organizationname"}}},
	{colOrgTimeZone, [][]string{{"orgtimezone", "timezone"}}},
}

// alias is where a folded header leads: its canonical column and its
// tier of preference there (0 the most preferred).
type alias struct {
	canon string
	tier  int
}

// columnAliases maps a folded header to its column and tier.
var columnAliases = func() map[string]alias {
	m := map[string]alias{}
	for _, f := range fieldAliases {
		for tier, names := range f.tiers {
			for _, n := range names {
				if _, dup := m[n]; dup {
					panic("format: header alias " + n + " given twice")
				}
				m[n] = alias{f.canon, tier}
			}
		}
	}
	return m
}()

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
	a, ok := columnAliases[foldHeader(header)]
	return a.canon, ok
}

// headerTier is the tier of preference of a header among those naming
// its column (0 the most preferred; see fieldAliases).
func headerTier(header string) int { return columnAliases[foldHeader(header)].tier }

// factColumns maps canonical fact columns to facts.
var factColumns = map[string]inventory.Fact{
	"manufacturer": inventory.FactManufacturer, "model": inventory.FactModel, "serial": inventory.FactSerial,
	"os_caption": inventory.FactOSCaption, "os_edition": inventory.FactOSEdition, "os_build": inventory.FactOSBuild,
	"ubr": inventory.FactUBR, "kbs": inventory.FactKBs, "disk_free_gb": inventory.FactDiskFreeGB,
	"ram_gb": inventory.FactRAMGB,
}
