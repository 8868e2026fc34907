package orchestrator

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// schedule compiles the window's cron expression in loc, unless the
// expression names its own zone with CRON_TZ= (or TZ=).
func (w *Window) schedule(loc *time.Location) (cron.Schedule, error) {
	expr := strings.TrimSpace(w.Cron)
	if !strings.HasPrefix(expr, "CRON_TZ=") && !strings.HasPrefix(expr, "TZ=") {
		expr = "CRON_TZ=" + loc.String() + " " + expr
	}
	return cron.ParseStandard(expr)
}

// Calendar says when a campaign may start work on one organisation's
// devices: inside its maintenance window, never on a blackout date. The
// zero Calendar is always open (a campaign without windows).
type Calendar struct {
	sched    cron.Schedule
	duration time.Duration
	loc      *time.Location
	blackout func(date string) bool
}

// maxOpenings bounds the search for the next opening that is not on a
// blackout date (two years of daily windows).
const maxOpenings = 750

// Calendar returns the calendar for an organisation: its own window if the
// campaign gives one, else the default, read in the window's time zone,
// else orgTZ (the organisation's IANA zone), else UTC.
func (s *Spec) Calendar(org, orgTZ string) (Calendar, error) {
	w := s.Windows.Orgs[org]
	if w == nil {
		w = s.Windows.Default
	}
	if w == nil {
		return Calendar{}, nil
	}
	zone := w.TimeZone
	if zone == "" {
		zone = orgTZ
	}
	loc := time.UTC
	if zone != "" {
		var err error
		if loc, err = time.LoadLocation(zone); err != nil {
			return Calendar{}, fmt.Errorf("organisation %s: time zone %q: %w", org, zone, err)
		}
	}
	sched, err := w.schedule(loc)
	if err != nil {
		return Calendar{}, fmt.Errorf("organisation %s: window %q: %w", org, w.Cron, err)
	}
	return Calendar{sched: sched, duration: w.Duration.Duration, loc: loc, blackout: s.IsBlackout}, nil
}

// Always reports a calendar without windows.
func (c Calendar) Always() bool { return c.sched == nil }

// blocked reports an opening on a blackout date (in the window's zone).
func (c Calendar) blocked(start time.Time) bool {
	return c.blackout != nil && c.blackout(start.In(c.loc).Format(time.DateOnly))
}

// Open reports whether work may start at t and, if so, when the window
// closes. robfig/cron has no "previous", so the window that contains t is
// the first opening after t minus the window's length.
func (c Calendar) Open(t time.Time) (bool, time.Time) {
	if c.Always() {
		return true, time.Time{}
	}
	for s, n := c.sched.Next(t.Add(-c.duration)), 0; !s.After(t) && n < maxOpenings; s, n = c.sched.Next(s), n+1 {
		if !c.blocked(s) {
			return true, s.Add(c.duration)
		}
	}
	return false, time.Time{}
}

// NextOpen is the first time at or after t when work may start; ok is false
// when no window opens within the search horizon.
func (c Calendar) NextOpen(t time.Time) (time.Time, bool) {
	if open, _ := c.Open(t); open {
		return t, true
	}
	s := c.sched.Next(t)
	for n := 0; n < maxOpenings && !s.IsZero(); n++ {
		if !c.blocked(s) {
			return s, true
		}
		s = c.sched.Next(s)
	}
	return time.Time{}, false
}
