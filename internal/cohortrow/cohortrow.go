// Package cohortrow reads the device rollup as both storage engines
// (store/sqlite, store/postgres) keep it into inventory cohorts: one
// encoding of a cohort's key, so that reports read the same from either.
// A row is (organisation code, site, OS build key, watched KBs, day last
// seen, day last observed, devices): the build as BuildKey's number (0
// unknown), the watched KBs installed as comma-joined text ("?" when the
// device's KBs are unknown), days since the Unix epoch in UTC (-1 when
// never).
package cohortrow

import (
	"fmt"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Rows is what both engines' query results offer (database/sql's *Rows,
// pgx.Rows).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// Each yields the cohorts of rows that sel selects (every one when sel is
// empty), stopping at the first error (yielded) or when yield returns
// false. It leaves closing rows to the caller.
func Each(rows Rows, sel inventory.Selector, yield func(inventory.Cohort, error) bool) {
	for rows.Next() {
		var c inventory.Cohort
		var build, seen, observed int64
		var kbs string
		if err := rows.Scan(&c.Org, &c.Site, &build, &kbs, &seen, &observed, &c.Devices); err != nil {
			yield(inventory.Cohort{}, fmt.Errorf("read device rollup: %w", err))
			return
		}
		if build != 0 {
			c.Build = VersionFromKey(build)
		}
		if kbs != "?" {
			c.KBsKnown = true
			if kbs != "" {
				c.KBs = strings.Split(kbs, ",")
			}
		}
		c.SeenDay, c.ObservedDay = Day(seen), Day(observed)
		if !sel.Empty() && !sel.Matches(c.Device()) {
			continue
		}
		if !yield(c, nil) {
			return
		}
	}
	if err := rows.Err(); err != nil {
		yield(inventory.Cohort{}, fmt.Errorf("read device rollup: %w", err))
	}
}

// VersionFromKey is the OS version a build key stands for: major, minor
// and build as major*10^12 + minor*10^6 + build, so that keys sort as
// versions do.
func VersionFromKey(k int64) inventory.Version {
	return inventory.Version{Major: int(k / 1_000_000_000_000), Minor: int(k / 1_000_000 % 1_000_000), Build: int(k % 1_000_000)}
}

// Day is the UTC midnight of day d since the Unix epoch; the zero time
// for -1 (never).
func Day(d int64) time.Time {
	if d < 0 {
		return time.Time{}
	}
	return time.Unix(d*86400, 0).UTC()
}
