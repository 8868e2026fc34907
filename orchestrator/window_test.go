package orchestrator

import (
	"errors"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/yamlfile"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func spec(t *testing.T, src string) *Spec {
	t.Helper()
	s, err := ParseSpec("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCalendar checks maintenance windows in several time zones, across
// the spring and autumn DST changes, and on blackout dates.
func TestCalendar(t *testing.T) {
	s := spec(t, `
name: c
playbook: discover
windows:
  default: {cron: "0 19 * * *", duration: 10h}
  orgs:
    NYC: {cron: "0 22 * * 1-5", duration: 4h, timezone: America/New_York}
    EARLY: {cron: "30 1 * * *", duration: 2h}
    NEVER: {cron: "0 0 30 2 *", duration: 8h}
    MINUTE: {cron: "* * * * *", duration: 1m, timezone: UTC}
    SCL: {cron: "* * * * *", duration: 1m, timezone: America/Santiago}
blackout: [2026-09-05, 2026-12-25]
waves: [{name: all}]
`)
	london, _ := s.Calendar("RXX", "Europe/London")
	kolkata, _ := s.Calendar("KOL", "Asia/Kolkata")
	nyc, _ := s.Calendar("NYC", "Europe/London") // the window's own zone wins
	early, _ := s.Calendar("EARLY", "Europe/London")
	never, _ := s.Calendar("NEVER", "Europe/London")
	minute, _ := s.Calendar("MINUTE", "Europe/London")
	santiago, _ := s.Calendar("SCL", "Europe/London")
	none, _ := (&Spec{}).Calendar("X", "")
	tests := []struct {
		name     string
		cal      Calendar
		at       string
		open     bool
		closes   string // when open
		nextOpen string // when closed; "" when it never opens again
	}{
		{"london winter evening", london, "2027-01-12T19:30:00Z", true, "2027-01-13T05:00:00Z", ""},
		{"london winter afternoon", london, "2027-01-12T18:59:00Z", false, "", "2027-01-12T19:00:00Z"},
		{"london past midnight", london, "2027-01-13T04:59:00Z", true, "2027-01-13T05:00:00Z", ""},
		{"london morning closed", london, "2027-01-13T05:00:00Z", false, "", "2027-01-13T19:00:00Z"},
		// After the clocks go forward (28 March 2027) 19:00 in London is 18:00 UTC.
		{"london summer opens an hour earlier in UTC", london, "2027-03-29T18:00:00Z", true, "2027-03-30T04:00:00Z", ""},
		{"london summer before", london, "2027-03-29T17:59:00Z", false, "", "2027-03-29T18:00:00Z"},
		// The clocks go back on 31 October 2027: 19:00 GMT is 19:00 UTC again.
		{"london autumn back to UTC", london, "2027-10-31T18:30:00Z", false, "", "2027-10-31T19:00:00Z"},
		// 01:30 does not exist in London on 28 March 2027: no window that night.
		{"skipped local time does not open", early, "2027-03-28T01:45:00Z", false, "", "2027-03-29T00:30:00Z"},
		{"early window on a normal night", early, "2027-03-27T02:00:00Z", true, "2027-03-27T03:30:00Z", ""},
		{"kolkata is UTC+5:30", kolkata, "2027-01-12T13:30:00Z", true, "2027-01-12T23:30:00Z", ""},
		{"kolkata before", kolkata, "2027-01-12T13:29:00Z", false, "", "2027-01-12T13:30:00Z"},
		{"new york weekday", nyc, "2027-01-13T03:30:00Z", true, "2027-01-13T07:00:00Z", ""},
		{"new york saturday night to monday", nyc, "2027-01-17T03:30:00Z", false, "", "2027-01-19T03:00:00Z"},
		// 25 December is a blackout date: the window that would open that
		// evening does not; the one that opened on the 24th runs on.
		{"blackout evening", london, "2026-12-25T20:00:00Z", false, "", "2026-12-26T19:00:00Z"},
		{"window from the day before runs on", london, "2026-12-25T02:00:00Z", true, "2026-12-25T05:00:00Z", ""},
		{"no windows: always open", none, "2027-01-12T12:00:00Z", true, "0001-01-01T00:00:00Z", ""},
		// 30 February: cron finds nothing and says so with the zero time,
		// which is a window that never opens, not one always open.
		{"a window that never fires is closed", never, "2027-01-12T12:00:00Z", false, "", ""},
		{"a window that never fires is closed at the zero time", never, "0001-01-01T00:00:00Z", false, "", ""},
		// A blackout day is skipped whole, however often the window opens.
		{"every minute: blackout day", minute, "2026-12-25T00:00:30Z", false, "", "2026-12-26T00:00:00Z"},
		{"every minute: blackout afternoon", minute, "2026-12-25T15:00:00Z", false, "", "2026-12-26T00:00:00Z"},
		{"every minute: the day before", minute, "2026-12-24T23:59:30Z", true, "2026-12-25T00:00:00Z", ""},
		// Santiago's clocks skip from midnight to 01:00 on 6 September 2026:
		// the day after the blackout begins at 01:00 (04:00 UTC).
		{"every minute: blackout before a skipped midnight", santiago, "2026-09-05T16:00:00Z", false, "", "2026-09-06T04:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := utc(tt.at)
			open, closes := tt.cal.Open(at)
			if open != tt.open {
				t.Fatalf("open at %s = %v, want %v", tt.at, open, tt.open)
			}
			if open && !closes.Equal(utc(tt.closes)) {
				t.Errorf("closes %s, want %s", closes.UTC().Format(time.RFC3339), tt.closes)
			}
			next, ok := tt.cal.NextOpen(at)
			if !tt.open && tt.nextOpen == "" {
				if ok {
					t.Errorf("next open %s, want never", next.UTC().Format(time.RFC3339))
				}
				return
			}
			want := at
			if !open {
				want = utc(tt.nextOpen)
			}
			if !ok || !next.Equal(want) {
				t.Errorf("next open %s (%v), want %s", next.UTC().Format(time.RFC3339), ok, want.Format(time.RFC3339))
			}
		})
	}
}

// TestCheckWindows: a window that does not open within two years of now,
// blackout dates considered, is refused with its file, line and name.
func TestCheckWindows(t *testing.T) {
	const head = "name: c\nplaybook: discover\nwaves: [{name: all}]\n"
	tests := []struct {
		name  string
		src   string
		now   string
		zones map[string]string
		want  string // "" for accepted; else the whole error
	}{
		{"daily windows open", `
windows:
  default: {cron: "0 19 * * *", duration: 10h}
  orgs:
    RXX: {cron: "0 22 * * 1-5", duration: 4h, timezone: Europe/London}
`, "2026-11-02T10:00:00Z", map[string]string{"RXX": "Europe/London", "KOL": "Asia/Kolkata"}, ""},
		{"30 February never comes", `
windows:
  default: {cron: "0 0 30 2 *", duration: 8h}
`, "2026-11-02T10:00:00Z", nil, `invalid campaign:
  c.yaml:6: windows.default: cron "0 0 30 2 *" never opens from 2026-11-02 to 2028-11-02 (read in UTC): its devices would wait forever`},
		{"an organisation's window, in its zone", `
windows:
  default: {cron: "0 19 * * *", duration: 10h}
  orgs:
    RXX: {cron: "0 0 31 4 *", duration: 8h}
`, "2026-11-02T10:00:00Z", map[string]string{"RXX": "Europe/London", "KOL": "Asia/Kolkata"}, `invalid campaign:
  c.yaml:8: windows.orgs.RXX: cron "0 0 31 4 *" never opens from 2026-11-02 to 2028-11-02 (read in organisation RXX's zone, Europe/London): its devices would wait forever`},
		{"a window no target organisation uses is checked too", `
windows:
  default: {cron: "0 19 * * *", duration: 10h}
  orgs:
    RYY: {cron: "0 0 31 4 *", duration: 8h}
`, "2026-11-02T10:00:00Z", map[string]string{"RXX": "Europe/London"}, `invalid campaign:
  c.yaml:8: windows.orgs.RYY: cron "0 0 31 4 *" never opens from 2026-11-02 to 2028-11-02 (read in UTC): its devices would wait forever`},
		{"only on blackout dates", `
windows:
  default: {cron: "0 22 25 12 *", duration: 2h, timezone: Europe/London}
blackout: [2026-12-25, 2027-12-25]
`, "2026-11-02T10:00:00Z", map[string]string{"RXX": ""}, `invalid campaign:
  c.yaml:6: windows.default: cron "0 22 25 12 *" opens only on blackout dates from 2026-11-02 to 2028-11-02 (read in Europe/London): its devices would wait forever`},
		{"a blackout day leaves the next year's", `
windows:
  default: {cron: "0 22 25 12 *", duration: 2h}
blackout: [2026-12-25]
`, "2026-11-02T10:00:00Z", nil, ""},
		{"29 February within two years", `
windows:
  default: {cron: "0 0 29 2 *", duration: 8h}
`, "2027-06-01T00:00:00Z", nil, ""},
		{"29 February beyond two years", `
windows:
  default: {cron: "0 0 29 2 *", duration: 8h}
`, "2028-03-01T00:00:00Z", nil, `invalid campaign:
  c.yaml:6: windows.default: cron "0 0 29 2 *" never opens from 2028-03-01 to 2030-03-01 (read in UTC): its devices would wait forever`},
		{"an organisation's unknown zone", `
windows:
  default: {cron: "0 19 * * *", duration: 10h}
`, "2026-11-02T10:00:00Z", map[string]string{"RXX": "Mars/Olympus"}, `invalid campaign:
  c.yaml:6: windows.default: organisation RXX: time zone "Mars/Olympus": unknown time zone Mars/Olympus`},
		{"no windows", "", "2026-11-02T10:00:00Z", map[string]string{"RXX": "Europe/London"}, ""},
		{"problems in line order", `
windows:
  default: {cron: "0 0 30 2 *", duration: 8h}
  orgs:
    AAA: {cron: "0 0 31 4 *", duration: 8h}
`, "2026-11-02T10:00:00Z", map[string]string{"AAA": "UTC", "ZZZ": "UTC"}, `invalid campaign:
  c.yaml:6: windows.default: cron "0 0 30 2 *" never opens from 2026-11-02 to 2028-11-02 (read in organisation ZZZ's zone, UTC): its devices would wait forever
  c.yaml:8: windows.orgs.AAA: cron "0 0 31 4 *" never opens from 2026-11-02 to 2028-11-02 (read in organisation AAA's zone, UTC): its devices would wait forever`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSpec("c.yaml", []byte(head+tt.src))
			if err != nil {
				t.Fatal(err) // stored campaigns re-read by ParseSpec must still parse
			}
			err = s.CheckWindows(utc(tt.now), tt.zones)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want == "":
			case err == nil:
				t.Fatalf("accepted, want\n%s", tt.want)
			case err.Error() != tt.want:
				t.Errorf("got\n%s\nwant\n%s", err, tt.want)
			}
			var ye *yamlfile.Error
			if err != nil && !errors.As(err, &ye) {
				t.Errorf("err is %T, want *yamlfile.Error", err)
			}
		})
	}
}
