package estate_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/estate"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

var testNow = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

const estateCSV = `hostname,org,org_name,site,os_build
pc1.rxx.nhs.uk,RXX,Example Trust,Leeds,10.0.19045
pc2.rxx.nhs.uk,RXX,Example Trust,York,6.1.7601
pc3.ryy.nhs.uk,RYY,Other Trust,Hull,10.0.18363
`

// open returns a real SQLite store in a temporary directory.
func open(t *testing.T) *sqlite.Inventory {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ringmaster.db"), sqlite.Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.Inventory()
}

// load imports text as the named file.
func load(t *testing.T, s *sqlite.Inventory, name, text string, o estate.ImportOptions) (estate.ImportReport, error) {
	t.Helper()
	o.Name, o.Now = name, testNow
	if name != estate.Stdin {
		o.Name = filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(o.Name, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src, err := estate.Open(o, strings.NewReader(text))
	if err != nil {
		return estate.ImportReport{}, err
	}
	defer src.Close()
	return estate.Import(context.Background(), s, src, o)
}

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name string
		o    estate.ImportOptions
		want any
	}{
		{"stdin without a format", estate.ImportOptions{Name: estate.Stdin}, new(*estate.FormatError)},
		{"an extension that says nothing", estate.ImportOptions{Name: "devices.xlsx"}, new(*estate.FormatError)},
		{"a bad zone for created organisations", estate.ImportOptions{Name: estate.Stdin, Format: format.CSV,
			ImportOptions: inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "Mars/Olympus"}}, new(*estate.TimeZoneError)},
		{"a missing file", estate.ImportOptions{Name: filepath.Join(t.TempDir(), "none.csv")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := estate.Open(tt.o, strings.NewReader(""))
			if err == nil {
				t.Fatal("opened")
			}
			if tt.want == nil {
				if !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("err = %v, want not exist", err)
				}
				return
			}
			if !errors.As(err, tt.want) {
				t.Fatalf("err = %T %v, want %T", err, err, tt.want)
			}
		})
	}
}

func TestImport(t *testing.T) {
	tests := []struct {
		name      string
		o         estate.ImportOptions
		wantNew   int
		changes   int
		more      int
		stored    int
		createdOr []string
	}{
		{"writes", estate.ImportOptions{ImportOptions: inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"}}, 3, 0, 0, 3, []string{"RXX", "RYY"}},
		{"dry run lists up to Show changes", estate.ImportOptions{Show: 2, ImportOptions: inventory.ImportOptions{DryRun: true, CreateOrgs: true, DefaultTimeZone: "UTC"}}, 3, 2, 1, 0, []string{"RXX", "RYY"}},
		{"dry run lists all when Show is larger", estate.ImportOptions{Show: 20, ImportOptions: inventory.ImportOptions{DryRun: true, CreateOrgs: true, DefaultTimeZone: "UTC"}}, 3, 3, 0, 0, []string{"RXX", "RYY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			rep, err := load(t, s, estate.Stdin, estateCSV+"", withFormat(tt.o))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Name != "stdin" || rep.New != tt.wantNew || len(rep.Changes) != tt.changes || rep.More != tt.more {
				t.Fatalf("report = %+v", rep)
			}
			if strings.Join(rep.CreatedOrgs, ",") != strings.Join(tt.createdOr, ",") {
				t.Fatalf("created %v, want %v", rep.CreatedOrgs, tt.createdOr)
			}
			all, err := estate.Collect(context.Background(), s, inventory.Everything())
			if err != nil || len(all) != tt.stored {
				t.Fatalf("stored %d (%v), want %d", len(all), err, tt.stored)
			}
		})
	}
}

func withFormat(o estate.ImportOptions) estate.ImportOptions {
	o.Format = format.CSV
	return o
}

func TestImportReportsIgnoredColumnsAndBadRows(t *testing.T) {
	s := open(t)
	rep, err := load(t, s, "x.csv", "hostname,org,colour\npc1.rxx.nhs.uk,NOPE,blue\n", estate.ImportOptions{ImportOptions: inventory.ImportOptions{DryRun: true}})
	var ie *inventory.ImportError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want an import error", err)
	}
	if strings.Join(rep.Ignored, ",") != "colour" || rep.Rejected != 1 {
		t.Fatalf("report = %+v", rep)
	}
}

// seeded is a store holding estateCSV.
func seeded(t *testing.T) *sqlite.Inventory {
	t.Helper()
	s := open(t)
	if _, err := load(t, s, "estate.csv", estateCSV, estate.ImportOptions{ImportOptions: inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"}}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSummaryAndOrganisations(t *testing.T) {
	ctx := context.Background()
	s := seeded(t)
	sum, err := estate.Summarise(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Orgs) != 2 || sum.Orgs[0].Name != "Example Trust" || sum.Total.Devices != 3 || sum.Total.Windows7 != 1 {
		t.Fatalf("summary = %+v", sum)
	}
	orgs, err := estate.ListOrganisations(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(orgs) != 2 || orgs[0].Devices != 2 || orgs[1].Devices != 1 || orgs[0].Tags == nil {
		t.Fatalf("orgs = %+v", orgs)
	}
	tests := []struct {
		code    string
		devices int
		err     error
	}{
		{"rxx", 2, nil},
		{"RYY", 1, nil},
		{"RZZ", 0, errkind.NotFound},
	}
	for _, tt := range tests {
		d, err := estate.ShowOrganisation(ctx, s, tt.code)
		if !errors.Is(err, tt.err) || d.Devices != tt.devices || d.Summary.Devices != tt.devices {
			t.Errorf("ShowOrganisation(%s) = %+v, %v", tt.code, d, err)
		}
	}
	if got := strings.Join(sum.Total.SortedReleases(), ","); got == "" {
		t.Error("no releases")
	}
}

func TestAddOrganisation(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		o    inventory.Organisation
		err  error
	}{
		{"valid, normalised", inventory.Organisation{Code: "rzz", Name: "Z", TimeZone: "Europe/London"}, nil},
		{"no zone", inventory.Organisation{Code: "RQQ", Name: "Q"}, errkind.Invalid},
		{"exists", inventory.Organisation{Code: "RXX", Name: "X", TimeZone: "UTC"}, errkind.Exists},
	}
	s := seeded(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := estate.AddOrganisation(ctx, s, &tt.o)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
	if _, err := s.Organisation(ctx, "RZZ"); err != nil {
		t.Fatal(err)
	}
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		hosts   []string
		sel     string
		removed int
		missing []string
	}{
		{"by hostname, any case", []string{"PC1.RXX.NHS.UK"}, "", 1, nil},
		{"a host not held", []string{"pc1.rxx.nhs.uk", "nope.rxx.nhs.uk"}, "", 1, []string{"nope.rxx.nhs.uk"}},
		{"by selector", nil, "org=RXX", 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := seeded(t)
			n, err := estate.Remove(ctx, s, pick(t, tt.hosts, tt.sel), tt.hosts)
			var me *estate.MissingError
			switch {
			case tt.missing == nil && err != nil:
				t.Fatal(err)
			case tt.missing != nil && (!errors.As(err, &me) || !errors.Is(err, errkind.NotFound) || strings.Join(me.Hosts, ",") != strings.Join(tt.missing, ",")):
				t.Fatalf("err = %v, want missing %v", err, tt.missing)
			}
			if n != tt.removed {
				t.Fatalf("removed %d, want %d", n, tt.removed)
			}
		})
	}
}

// pick is the selector of the hosts named, or sel's when none are.
func pick(t *testing.T, hosts []string, sel string) inventory.Selector {
	t.Helper()
	if sel == "" {
		sel = estate.HostSelector(hosts)
	}
	s, err := inventory.ParseSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestExportRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := seeded(t)
	for _, k := range []format.Kind{format.CSV, format.JSON, format.NDJSON} {
		t.Run(string(k), func(t *testing.T) {
			var b strings.Builder
			if err := estate.Export(ctx, s, inventory.Everything(), &b, k); err != nil {
				t.Fatal(err)
			}
			other := open(t)
			rep, err := load(t, other, "estate."+string(k), b.String(), estate.ImportOptions{ImportOptions: inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"}})
			if err != nil || rep.New != 3 {
				t.Fatalf("re-import: %+v, %v", rep, err)
			}
			d, err := other.Device(ctx, "pc1.rxx.nhs.uk")
			if err != nil || estate.Build(&d) != "10.0.19045" {
				t.Fatalf("device = %+v, %v", d, err)
			}
		})
	}
}
