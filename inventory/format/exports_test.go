package format_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
)

func TestParseDateFormat(t *testing.T) {
	at := func(mo time.Month, d, h, mi, s int) time.Time { return time.Date(2026, mo, d, h, mi, s, 0, time.UTC) }
	tests := []struct {
		format, value string
		want          time.Time
		err           string // in the error, "" for none
	}{
		{"dmy", "28/11/2026 09:14", at(11, 28, 9, 14, 0), ""},
		{"dmy", "1/2/2026", at(2, 1, 0, 0, 0), ""},
		{"dmy", "28-11-2026 09:14:05", at(11, 28, 9, 14, 5), ""},
		{"DMY", "28.11.2026", at(11, 28, 0, 0, 0), ""},
		{"dmy", "2026-11-28T09:14:00Z", at(11, 28, 9, 14, 0), ""}, // ISO 8601 always reads
		{"dmy", "11/28/2026 09:14", time.Time{}, `"11/28/2026 09:14" is not a time in the date format dmy (as 28/11/2026`},
		{"mdy", "11/28/2026 9:14:05 AM", at(11, 28, 9, 14, 5), ""},
		{"mdy", "11/28/2026 2:14 PM", at(11, 28, 14, 14, 0), ""},
		{"ymd", "2026/11/28 09:14", at(11, 28, 9, 14, 0), ""},
		{"02/01/2006 15:04", "28/11/2026 09:14", at(11, 28, 9, 14, 0), ""},
		{"Jan 2, 2006 3:04:05 PM", "Nov 28, 2026 9:14:05 AM", at(11, 28, 9, 14, 5), ""},
		{"02/01/2006 15:04", "28/11/2026", time.Time{}, `in the date format "02/01/2006 15:04" (as 28/11/2026 09:14) nor RFC 3339`},
		{"", "28/11/2026", time.Time{}, "is not a time"},
	}
	for _, tt := range tests {
		t.Run(tt.format+" "+tt.value, func(t *testing.T) {
			f, err := format.ParseDateFormat(tt.format)
			if tt.format == "" {
				f, err = format.DateFormat{}, nil
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Parse(tt.value)
			switch {
			case tt.err == "" && (err != nil || !got.Equal(tt.want)):
				t.Errorf("Parse = %v, %v; want %v", got, err, tt.want)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("Parse error %v, want one containing %q", err, tt.err)
			}
		})
	}
	for _, bad := range []string{"", "15:04", "2006", "dd/mm/yyyy", "Jan 2006"} {
		if _, err := format.ParseDateFormat(bad); !errors.Is(err, errkind.Invalid) || !strings.Contains(err.Error(), "dmy, mdy or ymd") {
			t.Errorf("ParseDateFormat(%q) = %v, want an invalid format naming the choices", bad, err)
		}
	}
}

// TestCSVExportOptions: the organisation given fills rows without one (a
// row's own wins), dates are read in the format given and a bad one is
// refused with its file, line, column and the format tried, and a column
// preferred to another giving the same field is used with a note.
func TestCSVExportOptions(t *testing.T) {
	dmy, err := format.ParseDateFormat("dmy")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		src    string
		opts   []format.Option
		orgs   []string // per record
		seen   []string // per record, RFC 3339 or ""
		notes  string
		errs   []string // per record's errors, joined
		refuse string   // NewCSVReader's error, if it refuses
	}{
		{name: "no org column, --org", src: "Name0,Last Activity\nPC1,28/11/2026 09:14\n",
			opts: []format.Option{format.DefaultOrg("rxx"), format.Dates(dmy)}, orgs: []string{"RXX"}, seen: []string{"2026-11-28T09:14:00Z"}},
		{name: "no org column, no --org", src: "Name0\nPC1\n", refuse: "d.csv:1: no org column (accepted headers: "},
		{name: "the column wins, --org fills blanks", src: "Name,ODS Code\nPC1,RYY\nPC2,\n",
			opts: []format.Option{format.DefaultOrg("RXX")}, orgs: []string{"RYY", "RXX"}},
		{name: "a date not in the format", src: "Name,Org,Last Activity\nPC1,RXX,28/11/2026\nPC2,RXX,11/28/2026 09:14\n",
			opts: []format.Option{format.Dates(dmy)}, orgs: []string{"RXX", "RXX"}, seen: []string{"2026-11-28T00:00:00Z", ""},
			errs: []string{"", `d.csv:3: column "Last Activity": "11/28/2026 09:14" is not a time in the date format dmy`}},
		{name: "Name0 over Netbios_Name0", src: "Netbios_Name0,Name0,Org\nNB1,PC1,RXX\n", orgs: []string{"RXX"},
			notes: "using Name0 for hostname; ignoring Netbios_Name0"},
		{name: "a build over a version", src: "Name,Org,OS Version,OS Build\nPC1,RXX,22H2,10.0.19045\n", orgs: []string{"RXX"},
			notes: "using OS Build for os_build; ignoring OS Version"},
		{name: "two of one tier are ambiguous", src: "Name,Computer Name,Org\nPC1,PC2,RXX\n",
			refuse: `d.csv:1: columns "Name" and "Computer Name" both give hostname: keep one`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := format.NewCSVReader(strings.NewReader(tt.src), "d.csv", now.AddDate(1, 0, 0), tt.opts...)
			if tt.refuse != "" {
				if err == nil || !strings.Contains(err.Error(), tt.refuse) || !errors.Is(err, errkind.Invalid) {
					t.Fatalf("err = %v, want %q", err, tt.refuse)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(r.Notes(), "\n"); got != tt.notes {
				t.Errorf("notes %q, want %q", got, tt.notes)
			}
			recs := readAll(t, r)
			if len(recs) != len(tt.orgs) {
				t.Fatalf("%d records, want %d", len(recs), len(tt.orgs))
			}
			for i, rec := range recs {
				if rec.Device.Org != tt.orgs[i] || !rec.Present.Has(inventory.FieldOrg) {
					t.Errorf("record %d: org %q (present %v), want %q", i, rec.Device.Org, rec.Present.Has(inventory.FieldOrg), tt.orgs[i])
				}
				if rec.Device.Hostname != "pc1" && i == 0 {
					t.Errorf("record %d: hostname %q, want pc1", i, rec.Device.Hostname)
				}
				if tt.seen != nil {
					got := ""
					if !rec.Device.LastSeen.IsZero() {
						got = rec.Device.LastSeen.Format(time.RFC3339)
					}
					if got != tt.seen[i] {
						t.Errorf("record %d: last seen %q, want %q", i, got, tt.seen[i])
					}
				}
				var errs []string
				for _, e := range rec.Errs {
					errs = append(errs, e.Error())
				}
				want := ""
				if tt.errs != nil {
					want = tt.errs[i]
				}
				if got := strings.Join(errs, "; "); !strings.HasPrefix(got, want) || (want == "") != (got == "") {
					t.Errorf("record %d: errors %q, want %q", i, got, want)
				}
			}
		})
	}
}

// TestJSONDefaultOrgAndDates: the options apply to flat JSON too.
func TestJSONDefaultOrgAndDates(t *testing.T) {
	dmy, _ := format.ParseDateFormat("dmy")
	r, err := format.NewJSONReader(strings.NewReader(`{"Device Name":"pc1","Last Seen":"28/10/2026 09:14"}`), "d.ndjson", now, format.DefaultOrg("RXX"), format.Dates(dmy))
	if err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, r)
	if len(recs) != 1 || len(recs[0].Errs) != 0 || recs[0].Device.Org != "RXX" || !recs[0].Device.LastSeen.Equal(time.Date(2026, 10, 28, 9, 14, 0, 0, time.UTC)) {
		t.Fatalf("records %+v", recs)
	}
}
