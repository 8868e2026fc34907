package orchestrator

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/ringmaster-fleet/ringmaster/internal/yamlfile"
)

// WindowHorizonYears is how far ahead a maintenance window must open: a
// campaign whose window does not open within this many years of its
// creation is refused, since it would hold its devices forever.
const WindowHorizonYears = 2

// schedule compiles the window's cron expression in loc, unless the
// expression names its own zone with CRON_TZ= (or TZ=). "@every" is
// refused: it counts from whenever it is asked, so it has no times at
// which a window opens.
func (w *Window) schedule(loc *time.Location) (cron.Schedule, error) {
	expr := strings.TrimSpace(w.Cron)
	if strings.HasPrefix(expr, "CRON_TZ=") || strings.HasPrefix(expr, "TZ=") {
		// cron panics on a zone prefix with no space after it.
		if !strings.Contains(expr, " ") {
			return nil, errors.New("a CRON_TZ= zone must be followed by a space and a schedule")
		}
	} else {
		expr = "CRON_TZ=" + loc.String() + " " + expr
	}
	sched, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, err
	}
	if _, ok := sched.(cron.ConstantDelaySchedule); ok {
		return nil, errors.New("@every has no fixed opening times: give minutes, hours and days (e.g. \"0 */2 * * *\")")
	}
	return sched, nil
}

// Calendar says when a campaign may start work on one organisation's
// devices: inside its maintenance window, never on a blackout date. The
// zero Calendar is always open (a campaign without windows); a window
// that never opens is always closed.
type Calendar struct {
	sched    cron.Schedule
	duration time.Duration
	loc      *time.Location
	blackout func(date string) bool
	// memo is the last answer and the span of times it holds for: the
	// controller asks about each organisation at every pass, its times
	// only ever later, and cron has to search for each answer.
	memo *atomic.Pointer[calSpan]
}

// calSpan is an answer of Open that holds for every time from from until
// to (zero: for ever).
type calSpan struct {
	from, to time.Time
	open     bool
	close    time.Time // open: when the window closes
	next     time.Time // closed: when it next opens (zero: never)
}

// Fresh returns the calendar with a memory of its own: one for each of
// several callers asking at unrelated times (a forecast's replays), which
// would otherwise overwrite each other's answers.
func (c Calendar) Fresh() Calendar {
	if c.memo != nil {
		c.memo = new(atomic.Pointer[calSpan])
	}
	return c
}

// cached is the remembered answer for t, if there is one.
func (c Calendar) cached(t time.Time) *calSpan {
	if c.memo == nil {
		return nil
	}
	sp := c.memo.Load()
	if sp == nil || t.Before(sp.from) || (!sp.to.IsZero() && !t.Before(sp.to)) {
		return nil
	}
	return sp
}

// maxBlackoutSkips bounds the search for an opening that is not on a
// blackout date: each step skips one blackout day, and a campaign has at
// most MaxBlackouts of them.
const maxBlackoutSkips = MaxBlackouts + 1

// window is the window an organisation works in: its own, else the
// default; nil when the campaign has none.
func (s *Spec) window(org string) *Window {
	if w := s.Windows.Orgs[org]; w != nil {
		return w
	}
	return s.Windows.Default
}

// Calendar returns the calendar for an organisation: its own window if the
// campaign gives one, else the default, read in the window's time zone,
// else orgTZ (the organisation's IANA zone), else UTC.
func (s *Spec) Calendar(org, orgTZ string) (Calendar, error) {
	w := s.window(org)
	if w == nil {
		return Calendar{}, nil
	}
	cal, err := s.calendar(w, orgTZ)
	if err != nil {
		return Calendar{}, fmt.Errorf("organisation %s: %w", org, err)
	}
	return cal, nil
}

// calendar compiles w read in its own time zone, else zone, else UTC.
func (s *Spec) calendar(w *Window, zone string) (Calendar, error) {
	if w.TimeZone != "" {
		zone = w.TimeZone
	}
	loc := time.UTC
	if zone != "" {
		var err error
		if loc, err = time.LoadLocation(zone); err != nil {
			return Calendar{}, fmt.Errorf("time zone %q: %w", zone, err)
		}
	}
	sched, err := w.schedule(loc)
	if err != nil {
		return Calendar{}, fmt.Errorf("window %q: %w", w.Cron, err)
	}
	return Calendar{sched: sched, duration: w.Duration.Duration, loc: loc, blackout: s.IsBlackout, memo: new(atomic.Pointer[calSpan])}, nil
}

// Always reports a calendar without windows.
func (c Calendar) Always() bool { return c.sched == nil }

// blocked reports an opening on a blackout date (in the window's zone).
func (c Calendar) blocked(start time.Time) bool {
	return c.blackout != nil && c.blackout(start.In(c.loc).Format(time.DateOnly))
}

// next is the first opening after t that is not on a blackout date, or the
// zero time when there is none: cron gives up (and returns the zero time)
// when nothing fires within five years, as "0 0 30 2 *" never does.
func (c Calendar) next(t time.Time) time.Time {
	s := c.sched.Next(t)
	for n := 0; !s.IsZero() && c.blocked(s); n++ {
		if n == maxBlackoutSkips {
			return time.Time{}
		}
		// Skip the rest of the blackout day at once, not opening by opening
		// (a window may open every minute).
		s = c.sched.Next(dayAfter(s, c.loc).Add(-time.Nanosecond))
	}
	return s
}

// dayAfter is the first moment of the day after t's in loc. A day whose
// midnight a DST change skips begins at 01:00.
func dayAfter(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	start := time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	if start.In(loc).Day() == d { // Go normalised the missing midnight to 23:00
		start = time.Date(y, m, d+1, 1, 0, 0, 0, loc)
	}
	return start
}

// Open reports whether work may start at t and, if so, when the window
// closes. robfig/cron has no "previous", so the window that contains t is
// the first opening after t minus the window's length; when there is no
// opening at all (the zero time), the window is closed, never open.
func (c Calendar) Open(t time.Time) (bool, time.Time) {
	if c.Always() {
		return true, time.Time{}
	}
	if sp := c.cached(t); sp != nil {
		return sp.open, sp.close
	}
	// s is the first opening after t-duration, so none falls between:
	// the answer holds until s's window closes (open), or until s (closed).
	s := c.next(t.Add(-c.duration))
	sp := &calSpan{from: t, to: s, next: s}
	if !s.IsZero() && !s.After(t) {
		sp = &calSpan{from: t, to: s.Add(c.duration), open: true, close: s.Add(c.duration)}
	}
	if c.memo != nil {
		c.memo.Store(sp)
	}
	return sp.open, sp.close
}

// NextOpen is the first time at or after t when work may start; ok is false
// when the window never opens again (as far as cron searches, five years).
func (c Calendar) NextOpen(t time.Time) (time.Time, bool) {
	if open, _ := c.Open(t); open {
		return t, true
	}
	if sp := c.cached(t); sp != nil && !sp.open {
		return sp.next, !sp.next.IsZero() // the first opening after t-duration, and after t
	}
	s := c.next(t)
	return s, !s.IsZero()
}

// OpensBy reports whether work may start at some time from t to until.
func (c Calendar) OpensBy(t, until time.Time) bool {
	next, ok := c.NextOpen(t)
	return ok && !next.After(until)
}

// CheckWindows refuses maintenance windows that do not open within
// WindowHorizonYears of now, blackout dates considered: such a window
// would hold its devices forever. Each window is checked in the zone it is
// read in for each organisation in orgZones (code to IANA zone: the
// campaign's organisations) that works in it, and a window no organisation
// given works in, in its own zone or UTC. Problems name the file, the line
// and the window, in one *yamlfile.Error. It is called when a campaign is
// created, not by ParseSpec, which re-reads stored campaigns whose windows
// may since have closed for good.
func (s *Spec) CheckWindows(now time.Time, orgZones map[string]string) error {
	until := now.AddDate(WindowHorizonYears, 0, 0)
	v := &specChecker{file: s.File}
	type use struct {
		w    *Window
		zone string
	}
	refused, checked := map[*Window]bool{}, map[use]bool{}
	check := func(where string, w *Window, org, zone string) {
		if w.TimeZone != "" {
			zone = w.TimeZone
		}
		if refused[w] || checked[use{w, zone}] {
			return // one problem per window; organisations share zones
		}
		checked[use{w, zone}] = true
		cal, err := s.calendar(w, zone)
		if err != nil {
			// ParseSpec reported the window's own problems; this is an
			// organisation's zone.
			v.addf(w.line, "%s: organisation %s: %v", where, org, err)
			refused[w] = true
			return
		}
		if cal.OpensBy(now, until) {
			return
		}
		refused[w] = true
		in := cal.loc.String()
		if org != "" && w.TimeZone == "" {
			in = "organisation " + org + "'s zone, " + in
		}
		why := "never opens"
		if free := (Calendar{sched: cal.sched, duration: cal.duration, loc: cal.loc}); free.OpensBy(now, until) {
			why = "opens only on blackout dates"
		}
		v.addf(w.line, "%s: cron %q %s from %s to %s (read in %s): its devices would wait forever",
			where, w.Cron, why, now.Format(time.DateOnly), until.Format(time.DateOnly), in)
	}
	used := map[*Window]bool{}
	for _, org := range slices.Sorted(maps.Keys(orgZones)) {
		if w := s.window(org); w != nil {
			used[w] = true
			check(s.windowName(org), w, org, orgZones[org])
		}
	}
	if w := s.Windows.Default; w != nil && !used[w] {
		check("windows.default", w, "", "")
	}
	for _, code := range slices.Sorted(maps.Keys(s.Windows.Orgs)) {
		if w := s.Windows.Orgs[code]; w != nil && !used[w] {
			check("windows.orgs."+code, w, "", "")
		}
	}
	if len(v.problems) > 0 {
		slices.SortStableFunc(v.problems, func(a, b yamlfile.Problem) int { return a.Line - b.Line })
		return &yamlfile.Error{What: "campaign", Problems: v.problems}
	}
	return nil
}

// windowName is how the file names the window org works in.
func (s *Spec) windowName(org string) string {
	if s.Windows.Orgs[org] != nil {
		return "windows.orgs." + org
	}
	return "windows.default"
}
