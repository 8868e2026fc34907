package orchestrator

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/yamlfile"
)

// FuzzParseCampaign: ParseSpec never panics; it accepts a spec within the
// file's bounds or refuses it with problems that each name the file and a
// line; and what it accepts can be checked against the calendar and
// decided on without panicking.
func FuzzParseCampaign(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	more, _ := filepath.Glob("testdata/invalid/*.yaml")
	for _, name := range append(files, more...) {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("name: c\nplaybook: discover\nwindows: {default: {cron: \"0 0 30 2 *\", duration: 8h}}\nwaves: [{name: all}]\n"))
	f.Add([]byte("name: c\nplaybook: discover\nwindows: {orgs: {RXX: {cron: \"CRON_TZ=Asia/Kolkata 30 1 * * *\", duration: 1d}}}\nblackout: [2026-12-25]\nwaves: [{name: a, count: 1}, {name: b, percent: 50.5, selector: 'org=RXX'}]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return // the size is bounded before parsing; this is about content
		}
		s, err := ParseSpec("f.yaml", data)
		if err != nil {
			var ye *yamlfile.Error
			if !errors.As(err, &ye) || len(ye.Problems) == 0 {
				t.Fatalf("err %T %v: want a *yamlfile.Error with problems", err, err)
			}
			for _, p := range ye.Problems {
				if p.File != "f.yaml" || p.Line < 1 || p.Msg == "" {
					t.Fatalf("problem %+v: want the file, a line and a message", p)
				}
			}
			return
		}
		if n := len(s.Waves); n == 0 || n > MaxWaves {
			t.Fatalf("accepted %d waves", n)
		}
		if len(s.Blackout) > MaxBlackouts || len(s.Target) > MaxSelectorLen {
			t.Fatalf("accepted %d blackout dates, a target of %d bytes", len(s.Blackout), len(s.Target))
		}
		zones := map[string]string{"RXX": "Europe/London", "KOL": "Asia/Kolkata"}
		_ = s.CheckWindows(now, zones)
		v := View{Spec: s, Status: StatusRunning, Waves: make([]WaveState, len(s.Waves)), Calendars: map[string]Calendar{}}
		for org, zone := range zones {
			cal, err := s.Calendar(org, zone)
			if err != nil {
				t.Fatalf("calendar of a parsed spec: %v", err)
			}
			v.Calendars[org] = cal
			v.Members = append(v.Members, Member{Hostname: org + ".example", Org: org, Wave: len(s.Waves) - 1})
		}
		Decide(v, now)
	})
}

// fuzzZones are the zones FuzzWindow reads windows in: UTC and zones whose
// clocks change at odd hours, by odd amounts, or skip midnight.
var fuzzZones = []string{"", "UTC", "Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe",
	"America/Santiago", "America/Havana", "Asia/Beirut", "Pacific/Apia", "Asia/Tehran", "America/Sao_Paulo"}

// FuzzWindow: compiling a window and asking when it is open never panics,
// and a window ParseSpec accepts is either refused by CheckWindows as never
// opening within the horizon, or opens at a moment within it when work may
// indeed start (Open agrees with NextOpen).
func FuzzWindow(f *testing.F) {
	seeds := []struct {
		cron, duration string
		zone           uint8
		at             int64 // seconds after 2026-01-01T00:00:00Z
		blackout       int16 // days after at; negative for none
	}{
		{"0 19 * * 1-5", "10h", 2, 0, -1},
		{"0 0 30 2 *", "8h", 0, 0, -1},
		{"0 0 29 2 *", "8h", 0, 86400 * 800, -1},
		{"30 1 * * *", "2h", 2, 86400 * 86, -1}, // 28 March 2026: 01:30 is skipped in London
		{"* * * * *", "1m", 1, 86400 * 358, 0},
		{"0 22 25 12 *", "2h", 2, 0, 358},
		{"CRON_TZ=Asia/Kolkata 30 1 * * *", "90m", 3, 3600, -1},
		{"CRON_TZ=UTC", "1h", 0, 0, -1},
		{"@every 1h", "1h", 0, 0, -1},
		{"@weekly", "7d", 7, 0, 3},
		{"0 0 * * 0", "1h", 6, 86400 * 245, -1}, // Santiago's clocks skip midnight
		{"15 0 1 1 *", "1s", 9, -86400 * 365 * 30, -1},
	}
	for _, s := range seeds {
		f.Add(s.cron, s.duration, s.zone, s.at, s.blackout)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr, duration string, zone uint8, at int64, blackout int16) {
		if len(expr) > 256 {
			return
		}
		now := base.Add(time.Duration(at%(100*365*86400)) * time.Second) // within a century of 2026
		w := &Window{Cron: expr, Duration: Duration{raw: duration}, TimeZone: fuzzZones[int(zone)%len(fuzzZones)], line: 1}
		w.Duration.Duration, _ = parseDuration(duration)
		v := &specChecker{file: "f.yaml"}
		v.window("windows.default", w)
		s := &Spec{File: "f.yaml", Windows: Windows{Default: w}, blackout: map[string]bool{}}
		if blackout >= 0 {
			s.blackout[now.AddDate(0, 0, int(blackout)).Format(time.DateOnly)] = true
		}
		if len(v.problems) > 0 {
			// Refused by ParseSpec; compiling and asking must still not panic.
			if cal, err := s.Calendar("X", ""); err == nil && w.Duration.Duration > 0 {
				cal.Open(now)
				cal.NextOpen(now)
			}
			return
		}
		cal, err := s.Calendar("X", "")
		if err != nil {
			t.Fatalf("a window ParseSpec accepts does not compile: %v", err)
		}
		until := now.AddDate(WindowHorizonYears, 0, 0)
		next, ok := cal.NextOpen(now)
		if err := s.CheckWindows(now, nil); err != nil {
			if ok && !next.After(until) {
				t.Fatalf("refused (%v), yet it opens at %s", err, next)
			}
			return
		}
		if !ok || next.Before(now) || next.After(until) {
			t.Fatalf("accepted, yet its next opening is %s (%v), want from %s to %s", next, ok, now, until)
		}
		open, closes := cal.Open(next)
		if !open || !closes.After(next) {
			t.Fatalf("NextOpen says %s, but Open then says %v until %s", next, open, closes)
		}
		if open, _ := cal.Open(now); open != next.Equal(now) {
			t.Fatalf("Open(now) = %v, but NextOpen(now) = %s", open, next)
		}
	})
}
