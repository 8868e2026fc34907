package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

var update = flag.Bool("update", false, "rewrite golden files")

var testNow = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

// testStore is a database and its inventory, as the inventory's tests
// use them.
type testStore struct {
	*sqlite.DB
	*sqlite.Inventory
}

func openStore(t *testing.T, path string) testStore {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "ringmaster.db")
	}
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return testStore{s, s.Inventory()}
}

func addOrg(t *testing.T, s testStore, code string) {
	t.Helper()
	if err := s.CreateOrganisation(context.Background(), &inventory.Organisation{Code: code, Name: code + " Trust", TimeZone: "Europe/London"}); err != nil {
		t.Fatal(err)
	}
}

// importPath imports a file, picking the format from its name.
func importPath(t *testing.T, s testStore, path string, opts inventory.ImportOptions) (inventory.ImportResult, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	name := filepath.Base(path)
	r, err := format.NewReader(format.KindFromName(name), f, name, testNow)
	if err != nil {
		return inventory.ImportResult{}, err
	}
	if opts.Now.IsZero() {
		opts.Now = testNow
	}
	return s.Import(context.Background(), r, opts)
}

func importText(t *testing.T, s testStore, name, text string, opts inventory.ImportOptions) (inventory.ImportResult, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return importPath(t, s, path, opts)
}

// dump renders every row of every table, for comparing database content.
func dump(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b strings.Builder
	rows, err := db.Query(`SELECT type, name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var typ, name, ddl string
		if err := rows.Scan(&typ, &name, &ddl); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s %s\n", typ, name, ddl)
		if typ == "table" {
			tables = append(tables, name)
		}
	}
	rows.Close()
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM "` + table + `" ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %v\n", table, vals)
		}
		rows.Close()
	}
	return b.String()
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	ms, err := sqlite.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t, path)
	if got := s.SchemaVersion(); got != len(ms) {
		t.Fatalf("schema version %d, want %d", got, len(ms))
	}
	addOrg(t, s, "RXX")
	s.Close()

	// Reopening applies nothing and keeps the data.
	before := dump(t, path)
	s = openStore(t, path)
	s.Close()
	if after := dump(t, path); after != before {
		t.Fatalf("reopening changed the database:\n%s\nvs\n%s", before, after)
	}

	// A database from a newer ringmaster is refused, untouched.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future', 'x')`, len(ms)+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before = dump(t, path)
	_, err = sqlite.Open(context.Background(), path, sqlite.Options{})
	if !errors.Is(err, sqlite.ErrSchemaTooNew) {
		t.Fatalf("opening a newer schema: err = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("schema version %d", len(ms)+1)) {
		t.Errorf("error does not name the version: %v", err)
	}
	if after := dump(t, path); after != before {
		t.Fatal("refusing a newer schema changed the database")
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	_, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "no", "such", "r.db"), sqlite.Options{})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("err = %v, want a missing-directory error", err)
	}
}

// TestImportRejectsBadFiles imports every file in testdata/bad into an empty
// store (the bulk path) and into one that holds devices (the upsert path).
// Each must fail with the error in its .golden file and leave the database
// content exactly as it was.
func TestImportRejectsBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, ".golden") {
			continue
		}
		for _, seeded := range []bool{false, true} {
			name := filepath.Base(file)
			if seeded {
				name += "/seeded"
			}
			t.Run(name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "r.db")
				s := openStore(t, path)
				addOrg(t, s, "RXX")
				if seeded {
					if _, err := importText(t, s, "seed.csv", "hostname,org,site\npc1.rxx.nhs.uk,RXX,Leeds\npc9.rxx.nhs.uk,RXX,York\n", inventory.ImportOptions{}); err != nil {
						t.Fatal(err)
					}
				}
				before := dump(t, path)
				for _, dry := range []bool{true, false} {
					_, err := importPath(t, s, file, inventory.ImportOptions{DryRun: dry})
					if err == nil {
						t.Fatalf("import succeeded (dry run %v)", dry)
					}
					if !errors.Is(err, errkind.Invalid) {
						t.Errorf("error does not wrap errkind.Invalid: %v", err)
					}
					if !seeded && !dry {
						golden(t, file+".golden", err.Error()+"\n")
					}
				}
				if after := dump(t, path); after != before {
					t.Fatalf("a rejected import changed the database:\n--- before ---\n%s\n--- after ---\n%s", before, after)
				}
			})
		}
	}
}

func TestImportGoodFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			s := openStore(t, "")
			addOrg(t, s, "RXX")
			if _, err := importPath(t, s, file, inventory.ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			w, _ := format.NewWriter(format.NDJSON, &b)
			for d, err := range s.Devices(context.Background(), inventory.Everything()) {
				if err != nil {
					t.Fatal(err)
				}
				_ = w.Write(d)
			}
			_ = w.Close()
			golden(t, file+".golden", b.String())
		})
	}
}

func TestImportUpsert(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, "")
	addOrg(t, s, "RXX")
	addOrg(t, s, "RYY")
	first := "hostname,org,site,labels,address,os_build,disk_free_gb,last_seen\n" +
		"pc1.rxx.nhs.uk,RXX,Leeds,ring=pilot,10.0.0.1,10.0.17763,40,2026-11-01T09:00:00Z\n" +
		"pc2.rxx.nhs.uk,RXX,York,,,10.0.19045,30,2026-11-01T09:00:00Z\n"
	res, err := importText(t, s, "a.csv", first, inventory.ImportOptions{})
	if err != nil || res.New != 2 {
		t.Fatalf("first import: %+v, %v", res, err)
	}
	// Same file again: nothing changes.
	res, err = importText(t, s, "a.csv", first, inventory.ImportOptions{})
	if err != nil || res.Unchanged != 2 || res.New+res.Updated != 0 {
		t.Fatalf("re-import: %+v, %v", res, err)
	}
	// A second source: no address column (kept), empty labels (cleared),
	// an older observation of the build (ignored), a newer disk (taken),
	// a move to another organisation, and a new device.
	second := "Name,Org,Site,Labels,Build,Disk Free GB,Last Seen\n" +
		"PC1.RXX.NHS.UK,RYY,Leeds,,10.0.19045,12.5,2026-11-02T09:00:00Z\n" +
		"pc2.rxx.nhs.uk,RXX,York,,10.0.17763,,2026-10-01T09:00:00Z\n" +
		"pc3.rxx.nhs.uk,RXX,York,,,,\n"
	res, err = importText(t, s, "b.csv", second, inventory.ImportOptions{})
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

func TestImportCreateOrgs(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, "")
	text := "hostname,org,org_name,org_timezone\npc1.rab.nhs.uk,RAB,Example Trust,Europe/London\npc2.rac.nhs.uk,rac,,\n"
	res, err := importText(t, s, "o.csv", text, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.CreatedOrgs, []string{"RAB", "RAC"}) {
		t.Fatalf("created %v", res.CreatedOrgs)
	}
	o, err := s.Organisation(ctx, "rab")
	if err != nil || o.Name != "Example Trust" || o.TimeZone != "Europe/London" {
		t.Fatalf("RAB = %+v, %v", o, err)
	}
	o, err = s.Organisation(ctx, "RAC")
	if err != nil || o.Name != "RAC" || o.TimeZone != "UTC" {
		t.Fatalf("RAC = %+v, %v", o, err)
	}
	_, err = importText(t, s, "tz.csv", "hostname,org,org_timezone\npc1.rzz.nhs.uk,RZZ,Mars/Olympus\n", inventory.ImportOptions{CreateOrgs: true})
	if err == nil || !strings.Contains(err.Error(), `tz.csv:2: column "org_timezone": "Mars/Olympus" is not an IANA time zone`) {
		t.Fatalf("bad zone: %v", err)
	}
	if _, err := s.Organisation(ctx, "RZZ"); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("a rejected import created an organisation: %v", err)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	s := openStore(t, path)
	addOrg(t, s, "RXX")
	before := dump(t, path)
	var changes []string
	res, err := importText(t, s, "d.csv", "hostname,org\npc1.rxx.nhs.uk,RXX\npc2.rxx.nhs.uk,RXX\n", inventory.ImportOptions{
		DryRun:   true,
		OnChange: func(k inventory.ChangeKind, d *inventory.Device) { changes = append(changes, string(k)+" "+d.Hostname) },
	})
	if err != nil || res.New != 2 {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	if !slices.Equal(changes, []string{"new pc1.rxx.nhs.uk", "new pc2.rxx.nhs.uk"}) {
		t.Errorf("changes %v", changes)
	}
	if dump(t, path) != before {
		t.Fatal("a dry run changed the database")
	}
}

func TestImportCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	s := openStore(t, path)
	addOrg(t, s, "RXX")
	before := dump(t, path)
	var buf strings.Builder
	if _, err := synth.Generate(&buf, synth.Options{Devices: 5000, Orgs: 1, Seed: 1, Now: testNow}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := format.NewCSVReader(strings.NewReader(buf.String()), "e.csv", testNow)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Import(ctx, r, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if dump(t, path) != before {
		t.Fatal("a cancelled import changed the database")
	}
}

// TestExportRoundTrip exports a generated estate and imports it into a new
// store: JSON and NDJSON must reproduce it exactly, CSV too (its facts of a
// device share one observation time, as generated).
func TestExportRoundTrip(t *testing.T) {
	var buf strings.Builder
	if _, err := synth.Generate(&buf, synth.Options{Devices: 800, Orgs: 7, Seed: 3, Now: testNow}); err != nil {
		t.Fatal(err)
	}
	src := openStore(t, "")
	if _, err := importText(t, src, "estate.csv", buf.String(), inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	export := func(s testStore, kind format.Kind) string {
		var b strings.Builder
		w, err := format.NewWriter(kind, &b)
		if err != nil {
			t.Fatal(err)
		}
		for d, err := range s.Devices(context.Background(), inventory.Everything()) {
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(d); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for _, kind := range []format.Kind{format.CSV, format.JSON, format.NDJSON} {
		t.Run(string(kind), func(t *testing.T) {
			first := export(src, kind)
			dst := openStore(t, "")
			res, err := importText(t, dst, "export."+string(kind), first, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"})
			if err != nil {
				t.Fatal(err)
			}
			if res.New != 800 {
				t.Fatalf("re-imported %d devices, want 800", res.New)
			}
			if second := export(dst, kind); second != first {
				t.Fatalf("round trip through %s changed the export", kind)
			}
			if kind != format.CSV && export(dst, format.CSV) != export(src, format.CSV) {
				t.Fatal("round trip changed the devices")
			}
		})
	}
}

// TestSelectorPushdown checks that narrowing queries in SQL never changes
// which devices a selector returns.
func TestSelectorPushdown(t *testing.T) {
	var buf strings.Builder
	if _, err := synth.Generate(&buf, synth.Options{Devices: 1500, Orgs: 9, Seed: 5, Now: testNow}); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, "")
	if _, err := importText(t, s, "estate.csv", buf.String(), inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	var all []*inventory.Device
	for d, err := range s.Devices(context.Background(), inventory.Everything()) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, d)
	}
	orgs, err := s.Organisations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	o1, o2 := orgs[0].Code, orgs[3].Code
	site := all[len(all)/2].Site
	// alert remediate targets the exposed devices by name: in a national
	// estate, more names than SQLite takes parameters in one statement.
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
		var want, got []string
		for _, d := range all {
			if sel.Matches(d) {
				want = append(want, d.Hostname)
			}
		}
		for d, err := range s.Devices(context.Background(), sel) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, d.Hostname)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: store returned %d devices, Matches selects %d", src, len(got), len(want))
		}
		if len(want) == 0 && src != "!build" {
			// A selector that matches nothing proves nothing about push-down.
			t.Errorf("%s selects nothing in the sample estate: the case tests nothing", src)
		}
	}
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, "")
	addOrg(t, s, "RXX")
	addOrg(t, s, "RYY")
	if err := s.CreateOrganisation(ctx, &inventory.Organisation{Code: "rxx", Name: "Again", TimeZone: "UTC"}); !errors.Is(err, errkind.Exists) {
		t.Fatalf("duplicate organisation: %v", err)
	}
	if _, err := importText(t, s, "d.csv", "hostname,org\npc1.rxx.nhs.uk,RXX\npc2.rxx.nhs.uk,RXX\n", inventory.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveOrganisation(ctx, "RXX"); !errors.Is(err, errkind.InUse) {
		t.Fatalf("removing an organisation with devices: %v", err)
	}
	if _, err := s.RemoveDevices(ctx, inventory.Everything()); !errors.Is(err, errkind.Invalid) {
		t.Fatalf("empty selector: %v", err)
	}
	removed, err := s.RemoveDevices(ctx, inventory.MustParseSelector("org=RXX"))
	if err != nil || !slices.Equal(removed, []string{"pc1.rxx.nhs.uk", "pc2.rxx.nhs.uk"}) {
		t.Fatalf("removed %v, %v", removed, err)
	}
	if err := s.RemoveOrganisation(ctx, "rxx"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveOrganisation(ctx, "RXX"); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("removing a missing organisation: %v", err)
	}
}
