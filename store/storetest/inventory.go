package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/ctxtest"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
)

// Inventory runs the inventory store's conformance suite: organisations,
// devices, imports, observations, and the rollup of cohorts reports read.
func Inventory(t *testing.T, open Open) {
	t.Run("Organisations", func(t *testing.T) { inventoryOrganisations(t, open) })
	t.Run("RemoveDevices", func(t *testing.T) { inventoryRemoveDevices(t, open) })
	t.Run("Labels", func(t *testing.T) { inventoryLabels(t, open) })
	t.Run("Times", func(t *testing.T) { inventoryTimes(t, open) })
	t.Run("ImportUpsert", func(t *testing.T) { inventoryImportUpsert(t, open) })
	t.Run("ImportInScope", func(t *testing.T) { inventoryImportInScope(t, open) })
	t.Run("ImportCreateOrgs", func(t *testing.T) { inventoryImportCreateOrgs(t, open) })
	t.Run("ImportRejectsBadFiles", func(t *testing.T) { inventoryImportRejectsBadFiles(t, open) })
	t.Run("ImportGoodFiles", func(t *testing.T) { inventoryImportGoodFiles(t, open) })
	t.Run("DryRunWritesNothing", func(t *testing.T) { inventoryDryRunWritesNothing(t, open) })
	t.Run("ImportCancelled", func(t *testing.T) { inventoryImportCancelled(t, open) })
	t.Run("ExportRoundTrip", func(t *testing.T) { inventoryExportRoundTrip(t, open) })
	t.Run("SelectorPushdown", func(t *testing.T) { inventorySelectorPushdown(t, open) })
	t.Run("Observations", func(t *testing.T) { inventoryObservations(t, open) })
	t.Run("LastSeenAndTimeZones", func(t *testing.T) { inventoryLastSeenAndTimeZones(t, open) })
	t.Run("CountByOrgAndBuild", func(t *testing.T) { inventoryCountByOrgAndBuild(t, open) })
	t.Run("WatchedKBs", func(t *testing.T) { inventoryWatchedKBs(t, open) })
	t.Run("WatchKBsCancelled", func(t *testing.T) { inventoryWatchKBsCancelled(t, open) })
	t.Run("RollupAtScale", func(t *testing.T) { inventoryRollupAtScale(t, open) })
	t.Run("RollupModel", func(t *testing.T) { inventoryRollupModel(t, open) })
	t.Run("Connections", func(t *testing.T) { inventoryConnections(t, open) })
}

func addOrg(t *testing.T, s InventoryStore, code string) {
	t.Helper()
	if err := s.CreateOrganisation(ctx, &inventory.Organisation{Code: code, Name: code + " Trust", TimeZone: "Europe/London"}); err != nil {
		t.Fatal(err)
	}
}

// allDevices reads the devices sel matches, in the store's order.
func allDevices(t *testing.T, s InventoryStore, sel inventory.Selector) []*inventory.Device {
	t.Helper()
	var out []*inventory.Device
	for d, err := range s.Devices(ctx, sel) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func hostnames(ds []*inventory.Device) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Hostname)
	}
	return out
}

// synthEstate generates a sample estate's CSV.
func synthEstate(t *testing.T, devices, orgs int, seed uint64) string {
	t.Helper()
	var b strings.Builder
	if _, err := synth.Generate(&b, synth.Options{Devices: devices, Orgs: orgs, Seed: seed, Now: fileNow}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// loadEstate imports a sample estate, creating its organisations.
func loadEstate(t *testing.T, s InventoryStore, csv string) {
	t.Helper()
	if _, err := importText(t, s, "estate.csv", csv, fileNow, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"}); err != nil {
		t.Fatal(err)
	}
}

// exportAll writes every device in a file format.
func exportAll(t *testing.T, s InventoryStore, kind format.Kind) string {
	t.Helper()
	var b strings.Builder
	w, err := format.NewWriter(kind, &b)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range allDevices(t, s, inventory.Everything()) {
		if err := w.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// inventoryState renders everything the inventory's reads show: to tell
// whether a write that failed left the store as it was.
func inventoryState(t *testing.T, s InventoryStore) string {
	t.Helper()
	var b strings.Builder
	orgs, err := s.Organisations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range orgs {
		fmt.Fprintf(&b, "org %+v\n", o)
	}
	for _, d := range allDevices(t, s, inventory.Everything()) {
		fmt.Fprintf(&b, "device %+v\n", *d)
	}
	counts, err := s.CountByOrgAndBuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "counts %+v\n", counts)
	b.WriteString(cohortsText(t, s))
	return b.String()
}

// cohortsText renders every cohort of the rollup, a line each, sorted.
func cohortsText(t *testing.T, s InventoryStore) string {
	t.Helper()
	var cohorts []string
	for c, err := range s.Cohorts(ctx, inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		cohorts = append(cohorts, fmt.Sprintf("cohort %+v\n", c))
	}
	slices.Sort(cohorts)
	return strings.Join(cohorts, "")
}

// inventoryOrganisations: organisations by code whatever the case given,
// a code stored once, validation, time zones, and removal refused while
// devices remain.
func inventoryOrganisations(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Inventory
	for _, code := range []string{"RYY", "rxx", "R0A"} {
		addOrg(t, s, code)
	}
	orgs, err := s.Organisations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, o := range orgs {
		codes = append(codes, o.Code)
	}
	if !slices.Equal(codes, []string{"R0A", "RXX", "RYY"}) {
		t.Errorf("organisations %v, want upper-cased, by code", codes)
	}
	if o, err := s.Organisation(ctx, "rYy"); err != nil || o.Code != "RYY" || o.Name != "RYY Trust" || o.TimeZone != "Europe/London" {
		t.Errorf("organisation ryy = %+v %v", o, err)
	}
	if err := s.CreateOrganisation(ctx, &inventory.Organisation{Code: "Rxx", Name: "Again", TimeZone: "UTC"}); !errors.Is(err, errkind.Exists) {
		t.Errorf("an organisation again: %v, want errkind.Exists", err)
	}
	for _, o := range []inventory.Organisation{
		{Code: "RAC", Name: "\x1b[2JTrust", TimeZone: "UTC"},
		{Code: "RAD", Name: "D", TimeZone: "Mars/Olympus"},
		{Code: "not a code", Name: "E", TimeZone: "UTC"},
	} {
		if err := s.CreateOrganisation(ctx, &o); !errors.Is(err, errkind.Invalid) {
			t.Errorf("create %+v: %v, want errkind.Invalid", o, err)
		}
	}
	if zones, err := s.TimeZones(ctx); err != nil || len(zones) != 3 || zones["RXX"] != "Europe/London" {
		t.Errorf("time zones %v %v", zones, err)
	}
	if _, err := s.Organisation(ctx, "RZZ"); !errors.Is(err, errkind.NotFound) {
		t.Errorf("an unknown organisation: %v, want errkind.NotFound", err)
	}
	if _, err := importText(t, s, "d.csv", "hostname,org\npc1.rxx.nhs.uk,RXX\n", start, inventory.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveOrganisation(ctx, "RXX"); !errors.Is(err, errkind.InUse) {
		t.Errorf("remove an organisation with devices: %v, want errkind.InUse", err)
	}
	if _, err := s.Organisation(ctx, "RXX"); err != nil {
		t.Errorf("a refused removal removed it: %v", err)
	}
	if err := s.RemoveOrganisation(ctx, "ryy"); err != nil {
		t.Errorf("remove an empty organisation: %v", err)
	}
	if err := s.RemoveOrganisation(ctx, "RYY"); !errors.Is(err, errkind.NotFound) {
		t.Errorf("remove it again: %v, want errkind.NotFound", err)
	}
}

// inventoryRemoveDevices: removal by selector returns what it removed; an
// empty selector is refused.
func inventoryRemoveDevices(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Inventory
	addOrg(t, s, "RXX")
	addOrg(t, s, "RYY")
	if _, err := importText(t, s, "d.csv", "hostname,org\npc2.rxx.nhs.uk,RXX\npc1.rxx.nhs.uk,RXX\npc3.ryy.nhs.uk,RYY\n", start, inventory.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveDevices(ctx, inventory.Everything()); !errors.Is(err, errkind.Invalid) {
		t.Fatalf("remove with an empty selector: %v, want errkind.Invalid", err)
	}
	removed, err := s.RemoveDevices(ctx, inventory.MustParseSelector("org=rxx"))
	if err != nil || !slices.Equal(removed, []string{"pc1.rxx.nhs.uk", "pc2.rxx.nhs.uk"}) {
		t.Fatalf("removed %v, %v", removed, err)
	}
	if _, err := s.Device(ctx, "pc1.rxx.nhs.uk"); !errors.Is(err, errkind.NotFound) {
		t.Errorf("a removed device: %v, want errkind.NotFound", err)
	}
	if removed, err := s.RemoveDevices(ctx, inventory.MustParseSelector("org=RXX")); err != nil || len(removed) != 0 {
		t.Errorf("remove what is gone: %v %v", removed, err)
	}
	if got := hostnames(allDevices(t, s, inventory.Everything())); !slices.Equal(got, []string{"pc3.ryy.nhs.uk"}) {
		t.Errorf("left %v", got)
	}
}

// inventoryTimes: every time the inventory keeps (an organisation's
// creation, a device's import times, last seen, each fact's observation)
// reads back to the microsecond, in UTC, whatever zone it was given in.
func inventoryTimes(t *testing.T, open Open) {
	clock := NewClock(zoned)
	s := open(t, clock.Now).Inventory
	given := zoned.Add(-48 * time.Hour)
	if err := s.CreateOrganisation(ctx, &inventory.Organisation{Code: "RXX", Name: "X", TimeZone: "UTC", CreatedAt: given}); err != nil {
		t.Fatal(err)
	}
	addOrg(t, s, "RYY") // created now
	seen, observed := zoned.Add(-time.Hour+7*time.Microsecond), zoned.Add(-2*time.Hour+9*time.Microsecond)
	var f inventory.Facts
	if err := errors.Join(f.Set(inventory.FactOSBuild, "10.0.19045", observed), f.Set(inventory.FactKBs, "KB5000001", observed.Add(time.Microsecond))); err != nil {
		t.Fatal(err)
	}
	rec := inventory.Record{Device: inventory.Device{Hostname: "pc1.rxx.nhs.uk", Org: "RXX", Facts: f, LastSeen: seen}}
	if _, err := s.Import(ctx, &records{recs: []inventory.Record{rec}}, inventory.ImportOptions{Now: zoned}); err != nil {
		t.Fatal(err)
	}
	o, err := s.Organisation(ctx, "RXX")
	if err != nil || !sameUTC(o.CreatedAt, given) {
		t.Errorf("organisation created at %v %v, want %v in UTC", o.CreatedAt, err, given)
	}
	if o, err := s.Organisation(ctx, "RYY"); err != nil || !sameUTC(o.CreatedAt, zoned) {
		t.Errorf("organisation created at %v %v, want the store's time %v in UTC", o.CreatedAt, err, zoned)
	}
	check := func(step string, wantSeen, wantUpdated time.Time) {
		t.Helper()
		d, err := s.Device(ctx, "pc1.rxx.nhs.uk")
		if err != nil {
			t.Fatal(err)
		}
		if !sameUTC(d.LastSeen, wantSeen) || !sameUTC(d.CreatedAt, zoned) || !sameUTC(d.UpdatedAt, wantUpdated) ||
			!sameUTC(d.Facts.ObservedAt[inventory.FactOSBuild], observed) || !sameUTC(d.Facts.ObservedAt[inventory.FactKBs], observed.Add(time.Microsecond)) {
			t.Errorf("%s: last seen %v, created %v, updated %v, observed %v; want %v, %v, %v, %v (in UTC)", step, d.LastSeen, d.CreatedAt, d.UpdatedAt,
				d.Facts.ObservedAt, wantSeen, zoned, wantUpdated, observed)
		}
		if at, err := s.LastSeen(ctx, []string{"pc1.rxx.nhs.uk"}); err != nil || !sameUTC(at["pc1.rxx.nhs.uk"], wantSeen) {
			t.Errorf("%s: LastSeen = %v %v, want %v in UTC", step, at, err, wantSeen)
		}
	}
	check("imported", seen, zoned)
	clock.Advance(time.Minute + time.Microsecond)
	later := zoned.Add(3 * time.Microsecond)
	if err := s.RecordObservation(ctx, "pc1.rxx.nhs.uk", inventory.Facts{}, later); err != nil {
		t.Fatal(err)
	}
	check("observed", later, clock.Now())
}

// records is a RecordSource over records built in code.
type records struct {
	recs []inventory.Record
	i    int
}

func (r *records) Next() (inventory.Record, error) {
	if r.i == len(r.recs) {
		return inventory.Record{}, io.EOF
	}
	r.i++
	return r.recs[r.i-1], nil
}

// inventoryImportUpsert: a second import merges into the stored devices:
// the same file changes nothing; a missing column keeps the stored
// value, an empty one clears it; an older observation is ignored, a newer
// one taken; a device may move organisation.
func inventoryImportUpsert(t *testing.T, open Open) {
	s := open(t, NewClock(fileNow).Now).Inventory
	addOrg(t, s, "RXX")
	addOrg(t, s, "RYY")
	first := "hostname,org,site,labels,address,os_build,disk_free_gb,last_seen\n" +
		"pc1.rxx.nhs.uk,RXX,Leeds,ring=pilot,10.0.0.1,10.0.17763,40,2026-11-01T09:00:00Z\n" +
		"pc2.rxx.nhs.uk,RXX,York,,,10.0.19045,30,2026-11-01T09:00:00Z\n"
	res, err := importText(t, s, "a.csv", first, fileNow, inventory.ImportOptions{})
	if err != nil || res.New != 2 {
		t.Fatalf("first import: %+v, %v", res, err)
	}
	res, err = importText(t, s, "a.csv", first, fileNow, inventory.ImportOptions{})
	if err != nil || res.Unchanged != 2 || res.New+res.Updated != 0 {
		t.Fatalf("re-import: %+v, %v", res, err)
	}
	second := "Name,Org,Site,Labels,Build,Disk Free GB,Last Seen\n" +
		"PC1.RXX.NHS.UK,RYY,Leeds,,10.0.19045,12.5,2026-11-02T09:00:00Z\n" +
		"pc2.rxx.nhs.uk,RXX,York,,10.0.17763,,2026-10-01T09:00:00Z\n" +
		"pc3.rxx.nhs.uk,RXX,York,,,,\n"
	res, err = importText(t, s, "b.csv", second, fileNow, inventory.ImportOptions{})
	if err != nil || res.New != 1 || res.Updated != 1 || res.Unchanged != 1 {
		t.Fatalf("second import: %+v, %v", res, err)
	}
	d, err := s.Device(ctx, "pc1.rxx.nhs.uk")
	if err != nil {
		t.Fatal(err)
	}
	if d.Address != "10.0.0.1" || d.Labels != nil || d.Org != "RYY" {
		t.Errorf("declared fields after merge: address %q labels %v org %s", d.Address, d.Labels, d.Org)
	}
	if d.Facts.OSBuild.String() != "10.0.19045" || d.Facts.DiskFreeGB != 12.5 {
		t.Errorf("facts after merge: build %s disk %v", d.Facts.OSBuild, d.Facts.DiskFreeGB)
	}
	if want := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC); !d.Facts.ObservedAt[inventory.FactOSBuild].Equal(want) || !d.LastSeen.Equal(want) {
		t.Errorf("observed at %v, last seen %v, want %v", d.Facts.ObservedAt[inventory.FactOSBuild], d.LastSeen, want)
	}
	d2, err := s.Device(ctx, "PC2.rxx.nhs.uk")
	if err != nil {
		t.Fatal(err)
	}
	if d2.Facts.OSBuild.String() != "10.0.19045" {
		t.Errorf("an older observation replaced a newer one: build %s", d2.Facts.OSBuild)
	}
	if _, err := s.Device(ctx, "pc404.rxx.nhs.uk"); !errors.Is(err, errkind.NotFound) {
		t.Errorf("missing device: err = %v, want errkind.NotFound", err)
	}
}

// inventoryImportInScope: an import bounded to some organisations rejects
// a row naming another (known or not, without saying which) and a row
// whose hostname is another's device, so it cannot move that device into
// its scope; it writes nothing then, and imports its own as any import.
func inventoryImportInScope(t *testing.T, open Open) {
	s := open(t, NewClock(fileNow).Now).Inventory
	addOrg(t, s, "RXX")
	addOrg(t, s, "RYY")
	if _, err := importText(t, s, "theirs.csv", "hostname,org\npc1.ryy.nhs.uk,RYY\n", fileNow, inventory.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	rxx := inventory.ImportOptions{InScope: func(org string) bool { return org == "RXX" }}
	_, err := importText(t, s, "mine.csv", "hostname,org\npc1.rxx.nhs.uk,RXX\npc2.rxx.nhs.uk,RYY\npc3.rxx.nhs.uk,RZZ\nPC1.RYY.NHS.UK,RXX\n", fileNow, rxx)
	var ie *inventory.ImportError
	if !errors.As(err, &ie) || ie.Rejected != 3 {
		t.Fatalf("import out of scope: %v, want 3 rows rejected", err)
	}
	for _, w := range []string{
		`mine.csv:3: column "org": organisation "RYY" is outside your scope`,
		`mine.csv:4: column "org": organisation "RZZ" is outside your scope`,
		`mine.csv:5: column "hostname": hostname "pc1.ryy.nhs.uk" is a device outside your scope`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %v\nwant it to contain %s", err, w)
		}
	}
	if strings.Contains(err.Error(), "unknown organisation") {
		t.Errorf("a scoped import is told which organisations exist: %v", err)
	}
	if d, err := s.Device(ctx, "pc1.ryy.nhs.uk"); err != nil || d.Org != "RYY" {
		t.Errorf("another's device after a rejected import: %+v, %v", d, err)
	}
	if _, err := s.Device(ctx, "pc1.rxx.nhs.uk"); !errors.Is(err, errkind.NotFound) {
		t.Errorf("a rejected import wrote its good row: %v", err)
	}
	res, err := importText(t, s, "mine.csv", "hostname,org,site\npc1.rxx.nhs.uk,RXX,Leeds\n", fileNow, rxx)
	if err != nil || res.New != 1 {
		t.Fatalf("import in scope: %+v, %v", res, err)
	}
	res, err = importText(t, s, "mine.csv", "hostname,org,site\npc1.rxx.nhs.uk,RXX,York\n", fileNow, rxx)
	if err != nil || res.Updated != 1 {
		t.Fatalf("re-import in scope: %+v, %v", res, err)
	}
	// Credentials and addresses are the estate's to give: a scoped import
	// keeps those it finds and sets none.
	if _, err := importText(t, s, "estate.csv", "hostname,org,address,credential\npc2.rxx.nhs.uk,RXX,10.0.0.2,rxx-login\n", fileNow, inventory.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err = importText(t, s, "mine.csv", "hostname,org,address,credential,site\npc2.rxx.nhs.uk,RXX,10.0.0.2,rxx-login,Leeds\n", fileNow, rxx)
	if err != nil || res.Updated != 1 {
		t.Fatalf("a scoped re-import keeping the address and credential: %+v, %v", res, err)
	}
	_, err = importText(t, s, "mine.csv", "hostname,org,address,credential\npc2.rxx.nhs.uk,RXX,10.0.0.2,national-login\npc3.rxx.nhs.uk,RXX,,other\npc4.rxx.nhs.uk,RXX,203.0.113.9,\n", fileNow, rxx)
	for _, w := range []string{
		`mine.csv:2: column "credential": only a caller of the whole estate assigns credentials`,
		`mine.csv:3: column "credential": only a caller of the whole estate assigns credentials`,
		`mine.csv:4: column "address": only a caller of the whole estate sets addresses`,
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v\nwant it to contain %s", err, w)
		}
	}
	if d, err := s.Device(ctx, "pc2.rxx.nhs.uk"); err != nil || d.Credential != "rxx-login" || d.Address != "10.0.0.2" {
		t.Errorf("pc2 after a refused import: %+v, %v", d, err)
	}
}

// inventoryImportCreateOrgs: an import creates the organisations it names
// when asked, with their names and zones; a bad zone, a terminal escape
// or 500 KB of text in a name rejects it, creating none.
func inventoryImportCreateOrgs(t *testing.T, open Open) {
	s := open(t, NewClock(fileNow).Now).Inventory
	opts := inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"}
	text := "hostname,org,org_name,org_timezone\npc1.rab.nhs.uk,RAB,Example Trust,Europe/London\npc2.rac.nhs.uk,rac,,\n"
	res, err := importText(t, s, "o.csv", text, fileNow, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.CreatedOrgs, []string{"RAB", "RAC"}) {
		t.Fatalf("created %v", res.CreatedOrgs)
	}
	if o, err := s.Organisation(ctx, "rab"); err != nil || o.Name != "Example Trust" || o.TimeZone != "Europe/London" {
		t.Fatalf("RAB = %+v, %v", o, err)
	}
	if o, err := s.Organisation(ctx, "RAC"); err != nil || o.Name != "RAC" || o.TimeZone != "UTC" {
		t.Fatalf("RAC = %+v, %v", o, err)
	}
	_, err = importText(t, s, "tz.csv", "hostname,org,org_timezone\npc1.rzz.nhs.uk,RZZ,Mars/Olympus\n", fileNow, inventory.ImportOptions{CreateOrgs: true})
	if err == nil || !strings.Contains(err.Error(), `tz.csv:2: column "org_timezone": "Mars/Olympus" is not an IANA time zone`) {
		t.Fatalf("bad zone: %v", err)
	}
	huge := strings.Repeat("N", 500<<10)
	text = "hostname,org,org_name\npc1.raa.nhs.uk,RAA,\"Trust\x1b]0;pwned\x07\"\npc2.rad.nhs.uk,RAD," + huge + "\n"
	_, err = importText(t, s, "o.csv", text, fileNow, opts)
	for _, w := range []string{
		`o.csv:2: column "org_name": "Trust\x1b]0;pwned\a" holds U+001B at byte 5`,
		`o.csv:3: column "org_name": "` + strings.Repeat("N", 64) + `"… (512000 bytes) is longer than the limit of 200 bytes`,
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %.500v\nwant it to contain %s", err, w)
		}
	}
	if err != nil && len(err.Error()) > 1000 {
		t.Errorf("error is %d bytes long", len(err.Error()))
	}
	for _, code := range []string{"RZZ", "RAA", "RAD"} {
		if _, err := s.Organisation(ctx, code); !errors.Is(err, errkind.NotFound) {
			t.Errorf("a rejected import created organisation %s: %v", code, err)
		}
	}
}

// inventoryImportRejectsBadFiles imports every bad file into an empty
// store and into one that holds devices, as a dry run and not: each fails
// with the error in its .golden file, wrapping errkind.Invalid, and leaves
// the store as it was.
func inventoryImportRejectsBadFiles(t *testing.T, open Open) {
	files, err := fs.Glob(testdata, "testdata/bad/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, ".golden") {
			continue
		}
		data, _ := testdata.ReadFile(file)
		want, _ := testdata.ReadFile(file + ".golden")
		for _, seeded := range []bool{false, true} {
			name := path.Base(file)
			if seeded {
				name += "/seeded"
			}
			t.Run(name, func(t *testing.T) {
				s := open(t, NewClock(fileNow).Now).Inventory
				addOrg(t, s, "RXX")
				if seeded {
					if _, err := importText(t, s, "seed.csv", "hostname,org,site\npc1.rxx.nhs.uk,RXX,Leeds\npc9.rxx.nhs.uk,RXX,York\n", fileNow, inventory.ImportOptions{}); err != nil {
						t.Fatal(err)
					}
				}
				before := inventoryState(t, s)
				for _, dry := range []bool{true, false} {
					_, err := importText(t, s, path.Base(file), string(data), fileNow, inventory.ImportOptions{DryRun: dry})
					if err == nil {
						t.Fatalf("import succeeded (dry run %v)", dry)
					}
					if !errors.Is(err, errkind.Invalid) {
						t.Errorf("error does not wrap errkind.Invalid: %v", err)
					}
					if !seeded && !dry {
						golden(t, file+".golden", err.Error()+"\n", want)
					}
				}
				if after := inventoryState(t, s); after != before {
					t.Fatalf("a rejected import changed the store:\n--- before ---\n%s\n--- after ---\n%s", before, after)
				}
			})
		}
	}
}

// inventoryImportGoodFiles imports each good file and exports the
// devices as in its .golden file: every field and fact kept.
func inventoryImportGoodFiles(t *testing.T, open Open) {
	files, err := fs.Glob(testdata, "testdata/good/*.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		t.Run(path.Base(file), func(t *testing.T) {
			s := open(t, NewClock(fileNow).Now).Inventory
			addOrg(t, s, "RXX")
			data, _ := testdata.ReadFile(file)
			if _, err := importText(t, s, path.Base(file), string(data), fileNow, inventory.ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			want, _ := testdata.ReadFile(file + ".golden")
			golden(t, file+".golden", exportAll(t, s, format.NDJSON), want)
		})
	}
}

// inventoryDryRunWritesNothing: a dry run counts and lists what it would
// do, creating organisations and devices, and keeps none of it.
func inventoryDryRunWritesNothing(t *testing.T, open Open) {
	s := open(t, NewClock(fileNow).Now).Inventory
	addOrg(t, s, "RXX")
	for i, text := range []string{
		"hostname,org\npc1.rxx.nhs.uk,RXX\npc2.rxx.nhs.uk,RXX\n", // into an empty store
		"hostname,org,site\npc1.rxx.nhs.uk,RXX,Leeds\npc2.rxx.nhs.uk,RXX,\npc3.rnew.nhs.uk,RNEW,\n",
	} {
		if i == 1 {
			if _, err := importText(t, s, "seed.csv", "hostname,org\npc1.rxx.nhs.uk,RXX\n", fileNow, inventory.ImportOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		before := inventoryState(t, s)
		var changes []string
		res, err := importText(t, s, "d.csv", text, fileNow, inventory.ImportOptions{
			DryRun: true, CreateOrgs: true, DefaultTimeZone: "UTC",
			OnChange: func(k inventory.ChangeKind, d *inventory.Device) { changes = append(changes, string(k)+" "+d.Hostname) },
		})
		want := []string{"new pc1.rxx.nhs.uk", "new pc2.rxx.nhs.uk"}
		if i == 1 {
			want = []string{"updated pc1.rxx.nhs.uk", "new pc2.rxx.nhs.uk", "new pc3.rnew.nhs.uk"}
		}
		if err != nil || res.New+res.Updated != len(want) || !slices.Equal(changes, want) {
			t.Fatalf("dry run %d: %+v %v, changes %v; want %v", i, res, err, changes, want)
		}
		if after := inventoryState(t, s); after != before {
			t.Fatalf("dry run %d changed the store:\n--- before ---\n%s\n--- after ---\n%s", i, before, after)
		}
	}
}

// inventoryImportCancelled cancels imports into an empty store and into
// one that holds devices at points spread over the import: each time
// the store is left as it was.
func inventoryImportCancelled(t *testing.T, open Open) {
	estate := synthEstate(t, 3000, 2, 1)
	for _, seeded := range []bool{false, true} {
		t.Run(map[bool]string{false: "empty", true: "seeded"}[seeded], func(t *testing.T) {
			s := open(t, NewClock(fileNow).Now).Inventory
			if seeded {
				loadEstate(t, s, synthEstate(t, 200, 2, 2))
			}
			before := inventoryState(t, s)
			for n := 1; ; n *= 3 {
				c := ctxtest.NewCountdown(ctx, n)
				_, err := importTextContext(c, t, s, "estate.csv", estate, fileNow, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"})
				if err == nil {
					if n < 9 {
						t.Fatalf("imported after %d looks at its context: the test proves nothing", n)
					}
					break
				}
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("cancelled at look %d: %v, want context.Canceled", n, err)
				}
				if after := inventoryState(t, s); after != before {
					t.Fatalf("an import cancelled at look %d changed the store", n)
				}
			}
		})
	}
}

// inventoryExportRoundTrip exports a sample estate and imports it into a
// fresh store: JSON and NDJSON reproduce it exactly, CSV too (its facts of
// a device share one observation time, as generated).
func inventoryExportRoundTrip(t *testing.T, open Open) {
	src := open(t, NewClock(fileNow).Now).Inventory
	loadEstate(t, src, synthEstate(t, 800, 7, 3))
	for _, kind := range []format.Kind{format.CSV, format.JSON, format.NDJSON} {
		t.Run(string(kind), func(t *testing.T) {
			first := exportAll(t, src, kind)
			dst := open(t, NewClock(fileNow).Now).Inventory
			res, err := importText(t, dst, "export."+string(kind), first, fileNow, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"})
			if err != nil {
				t.Fatal(err)
			}
			if res.New != 800 {
				t.Fatalf("re-imported %d devices, want 800", res.New)
			}
			if second := exportAll(t, dst, kind); second != first {
				t.Fatalf("round trip through %s changed the export", kind)
			}
			if kind != format.CSV && exportAll(t, dst, format.CSV) != exportAll(t, src, format.CSV) {
				t.Fatal("round trip changed the devices")
			}
		})
	}
}

// inventorySelectorPushdown: whatever an engine answers of a selector
// itself, Devices returns exactly what Selector.Matches selects, in the
// store's order (by organisation, then hostname).
func inventorySelectorPushdown(t *testing.T, open Open) {
	s := open(t, NewClock(fileNow).Now).Inventory
	loadEstate(t, s, synthEstate(t, 1500, 9, 5))
	all := allDevices(t, s, inventory.Everything())
	if !slices.IsSortedFunc(all, func(a, b *inventory.Device) int {
		return strings.Compare(a.Org+" "+a.Hostname, b.Org+" "+b.Hostname)
	}) {
		t.Error("devices are not ordered by organisation, then hostname")
	}
	orgs, err := s.Organisations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o1, o2 := orgs[0].Code, orgs[3].Code
	site := all[len(all)/2].Site
	// alert remediate targets the exposed devices by name: in a national
	// estate, more names than an engine takes parameters in one statement.
	var hosts []string
	for i, d := range all {
		if i%3 == 0 {
			hosts = append(hosts, d.Hostname)
		}
	}
	for i := range 40000 {
		hosts = append(hosts, fmt.Sprintf("gone%05d.rzz.nhs.uk", i))
	}
	for _, src := range []string{
		"hostname in (" + strings.Join(hosts, ",") + ")", "org in (" + strings.Join(append(hosts, o1), ",") + ")",
		"org=" + o1, "org in (" + o1 + "," + strings.ToLower(o2) + ")", "org!=" + o1, "org notin (" + o1 + "," + o2 + ")",
		"hostname=" + strings.ToUpper(all[7].Hostname), `site="` + strings.ToUpper(site) + `"`,
		"build<10.0.19045", "build>=10.0.17763", "!build", "build<=6.1.7601,org=" + o2,
		"label.ring=pilot", "!label.excluded,release=22H2", "disk<15,ram>=16", "kb=KB4499175",
	} {
		sel := inventory.MustParseSelector(src)
		var want []string
		for _, d := range all {
			if sel.Matches(d) {
				want = append(want, d.Hostname)
			}
		}
		got := hostnames(allDevices(t, s, sel))
		if !slices.Equal(got, want) {
			t.Errorf("%.80s: store returned %d devices, Matches selects %d", src, len(got), len(want))
		}
		if len(want) == 0 && src != "!build" {
			t.Errorf("%.80s selects nothing in the sample estate: the case tests nothing", src)
		}
	}
}

// inventoryObservations: an observation merges facts by their times (a
// newer one taken, an older one ignored) and marks the device seen, never
// earlier than it was; observations of an unknown device are refused,
// and a batch naming one records none.
func inventoryObservations(t *testing.T, open Open) {
	clock := NewClock(fileNow)
	s := open(t, clock.Now).Inventory
	addOrg(t, s, "RXX")
	if _, err := importText(t, s, "d.csv", "hostname,org,os_build,kbs,last_seen\npc1.rxx.nhs.uk,RXX,10.0.17763,KB1000001,2026-11-01T09:00:00Z\npc2.rxx.nhs.uk,RXX,,,\n",
		fileNow, inventory.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	facts := func(build, kbs string, at time.Time) inventory.Facts {
		var f inventory.Facts
		if err := errors.Join(f.Set(inventory.FactOSBuild, build, at), f.Set(inventory.FactKBs, kbs, at)); err != nil {
			t.Fatal(err)
		}
		return f
	}
	day := func(d int) time.Time { return time.Date(2026, 11, d, 9, 0, 0, 0, time.UTC) }
	if err := s.RecordObservation(ctx, "nope.rxx.nhs.uk", facts("10.0.19045", "KB1000001", day(2)), day(2)); !errors.Is(err, errkind.NotFound) {
		t.Errorf("observe an unknown device: %v, want errkind.NotFound", err)
	}
	before := inventoryState(t, s)
	err := s.RecordObservations(ctx, []inventory.Observation{
		{Hostname: "pc1.rxx.nhs.uk", Facts: facts("10.0.19045", "KB2000002", day(3)), Seen: day(3)},
		{Hostname: "nope.rxx.nhs.uk", Seen: day(3)},
	})
	if !errors.Is(err, errkind.NotFound) {
		t.Errorf("a batch naming an unknown device: %v, want errkind.NotFound", err)
	}
	if after := inventoryState(t, s); after != before {
		t.Fatalf("a refused batch recorded part of itself:\n--- before ---\n%s\n--- after ---\n%s", before, after)
	}
	if err := s.RecordObservations(ctx, []inventory.Observation{
		{Hostname: "PC1.rxx.nhs.uk", Facts: facts("10.0.19045", "KB2000002", day(3)), Seen: day(3)},
		{Hostname: "pc2.rxx.nhs.uk", Facts: facts("10.0.19044", "", day(2)), Seen: day(2)},
	}); err != nil {
		t.Fatal(err)
	}
	// An older observation (a stale export replayed) changes nothing, but
	// another fact observed for the first time is taken.
	var older inventory.Facts
	if err := errors.Join(older.Set(inventory.FactOSBuild, "10.0.17763", day(1)), older.Set(inventory.FactDiskFreeGB, "12", day(1))); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordObservation(ctx, "pc1.rxx.nhs.uk", older, day(1)); err != nil {
		t.Fatal(err)
	}
	d, err := s.Device(ctx, "pc1.rxx.nhs.uk")
	if err != nil {
		t.Fatal(err)
	}
	if d.Facts.OSBuild.String() != "10.0.19045" || !slices.Equal(d.Facts.KBs, []string{"KB2000002"}) || d.Facts.DiskFreeGB != 12 || !d.LastSeen.Equal(day(3)) {
		t.Errorf("pc1 = build %s kbs %v disk %v last seen %v; want 10.0.19045 [KB2000002] 12 %v", d.Facts.OSBuild, d.Facts.KBs, d.Facts.DiskFreeGB, d.LastSeen, day(3))
	}
	if d, _ := s.Device(ctx, "pc2.rxx.nhs.uk"); d.Facts.OSBuild.String() != "10.0.19044" || !d.Facts.Known(inventory.FactKBs) || len(d.Facts.KBs) != 0 {
		t.Errorf("pc2 = build %s kbs %v known %v; want 10.0.19044, none installed but known", d.Facts.OSBuild, d.Facts.KBs, d.Facts.Known(inventory.FactKBs))
	}
}

// inventoryLastSeenAndTimeZones: what the controller reads of the
// inventory, by the hostnames as given (any case), over more hosts than
// one query takes, leaving out hosts the inventory does not hold.
func inventoryLastSeenAndTimeZones(t *testing.T, open Open) {
	s := open(t, NewClock(fileNow).Now).Inventory
	if _, err := importText(t, s, "estate.csv", synthEstate(t, 1200, 3, 7), fileNow,
		inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "Europe/London"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{}
	var hosts []string
	for i, d := range allDevices(t, s, inventory.Everything()) {
		h := d.Hostname
		if i%2 == 1 {
			h = strings.ToUpper(h) // asked for in another case
		}
		want[h] = d.LastSeen
		hosts = append(hosts, h)
	}
	got, err := s.LastSeen(ctx, append(hosts, "gone.rzz.nhs.uk"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d hosts answered, want %d (the unknown one left out)", len(got), len(want))
	}
	for h, at := range want {
		if g, ok := got[h]; !ok || !g.Equal(at) {
			t.Errorf("%s: last seen %v (%v), want %v", h, g, ok, at)
		}
	}
	zones, err := s.TimeZones(ctx)
	if err != nil {
		t.Fatal(err)
	}
	orgs, err := s.Organisations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(zones) != len(orgs) || len(orgs) == 0 {
		t.Fatalf("zones %v for %d organisations", zones, len(orgs))
	}
	for _, o := range orgs {
		if zones[o.Code] != "Europe/London" {
			t.Errorf("%s: zone %q, want Europe/London", o.Code, zones[o.Code])
		}
	}
}

// inventoryCountByOrgAndBuild: devices counted per organisation and
// observed build, by organisation then build, an organisation without
// devices included.
func inventoryCountByOrgAndBuild(t *testing.T, open Open) {
	s := open(t, NewClock(fileNow).Now).Inventory
	for _, code := range []string{"RYY", "RXX", "REMPTY"} {
		addOrg(t, s, code)
	}
	if _, err := importText(t, s, "d.csv", "hostname,org,os_build\n"+
		"a.ryy.nhs.uk,RYY,10.0.19045\nb.ryy.nhs.uk,RYY,10.0.17763\nc.ryy.nhs.uk,RYY,10.0.19045\n"+
		"d.rxx.nhs.uk,RXX,\ne.rxx.nhs.uk,RXX,10.0.22631\n", fileNow, inventory.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	counts, err := s.CountByOrgAndBuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range counts {
		got = append(got, fmt.Sprintf("%s %s %d", c.Org, c.Build, c.Devices))
	}
	zero := inventory.Version{}.String()
	want := []string{"REMPTY " + zero + " 0", "RXX " + zero + " 1", "RXX 10.0.22631 1", "RYY 10.0.17763 1", "RYY 10.0.19045 2"}
	if !slices.Equal(got, want) {
		t.Errorf("counts %q, want %q", got, want)
	}
}
