package format

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// DateFormat is how an export writes its dates and times, for files whose
// dates are not ISO 8601 (a UK console export's 28/11/2026 09:14). The
// zero DateFormat reads what inventory.ParseTime reads.
type DateFormat struct {
	name    string   // as given: "dmy", or a Go layout
	layouts []string // tried in order
}

// Date order shorthands and their layouts: day, month and year separated
// by '/', '-' or '.', each with one or two digits (year four), optionally
// followed by a time of hours and minutes, perhaps seconds, perhaps on a
// 12-hour clock with AM or PM.
var dateOrders = map[string][3]string{
	"dmy": {"2", "1", "2006"},
	"mdy": {"1", "2", "2006"},
	"ymd": {"2006", "1", "2"},
}

var timeSuffixes = []string{"", " 15:04", " 15:04:05", " 3:04 PM", " 3:04:05 PM"}

// ParseDateFormat reads a date format: "dmy", "mdy" or "ymd" (those orders
// with an optional time, as dateOrders says), or a Go time layout such as
// "02/01/2006 15:04" that names a day, a month and a year. Times without
// a zone are read as UTC. A file's dates are read in the format given,
// else as ISO 8601 (which no order makes ambiguous).
func ParseDateFormat(s string) (DateFormat, error) {
	s = strings.TrimSpace(s)
	if order, ok := dateOrders[strings.ToLower(s)]; ok {
		f := DateFormat{name: strings.ToLower(s)}
		for _, sep := range []string{"/", "-", "."} {
			date := order[0] + sep + order[1] + sep + order[2]
			for _, t := range timeSuffixes {
				f.layouts = append(f.layouts, date+t)
			}
		}
		return f, nil
	}
	// A layout must carry a whole date: a reference time formatted with it
	// must read back as the same day.
	ref := time.Date(2026, 11, 28, 9, 14, 5, 0, time.UTC)
	back, err := time.Parse(s, ref.Format(s))
	if s == "" || err != nil || back.Year() != ref.Year() || back.Month() != ref.Month() || back.Day() != ref.Day() {
		return DateFormat{}, &inventory.FieldError{Field: "date format", Value: s,
			Msg:  "names no day, month and year",
			Hint: "give dmy, mdy or ymd, or a Go layout such as 02/01/2006 15:04 for 28/11/2026 09:14"}
	}
	return DateFormat{name: s, layouts: []string{s}}, nil
}

// String is the format as given ("" for the default).
func (f DateFormat) String() string { return f.name }

// Parse reads a date and time in the format, else as inventory.ParseTime
// does; the error names the format tried.
func (f DateFormat) Parse(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range f.layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	t, err := inventory.ParseTime(s)
	if err == nil {
		return t, nil
	}
	if f.name == "" {
		return time.Time{}, fmt.Errorf("%w (for dates such as 28/11/2026 09:14, use --date-format dmy, mdy, ymd or a Go layout)", err)
	}
	if _, ok := dateOrders[f.name]; ok {
		return time.Time{}, fmt.Errorf("%s is not a time in the date format %s (%s, optionally with a time such as 09:14)",
			inventory.QuoteValue(s), f.name, example(f.layouts[0]))
	}
	return time.Time{}, errors.New(inventory.QuoteValue(s) + " is not a time in the date format " + inventory.QuoteValue(f.name) +
		" (" + example(f.name) + ") nor RFC 3339")
}

// example renders the reference time in a layout.
func example(layout string) string {
	return "as " + time.Date(2026, 11, 28, 9, 14, 5, 0, time.UTC).Format(layout)
}
