package inventory

import (
	"slices"
	"time"
)

// A Cohort is a number of devices that look alike to reports: the same
// organisation and site, the same observed build, the same watched updates
// (those reports look for), last seen on the same day and observed (their
// oldest fact) on the same day. Reports over a national estate add up a
// few thousand cohorts instead of a million devices.
type Cohort struct {
	Org  string
	Site string
	// Build is the observed build (the zero Version when never observed).
	Build Version
	// KBsKnown says whether the installed updates were ever observed; KBs
	// are those installed that are watched (or all of them for a cohort of
	// one device).
	KBsKnown bool
	KBs      []string
	// SeenDay and ObservedDay are UTC midnights: the day the devices were
	// last seen alive and the day of their oldest observed fact (zero:
	// never).
	SeenDay     time.Time
	ObservedDay time.Time
	Devices     int
}

// Day returns the UTC midnight of t's day (zero for zero).
func Day(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(24 * time.Hour)
}

// CohortOf returns the cohort of one device, with every installed update.
func CohortOf(d *Device) Cohort {
	c := Cohort{Org: d.Org, Site: d.Site, KBsKnown: d.Facts.Known(FactKBs), SeenDay: Day(d.LastSeen),
		ObservedDay: Day(d.Facts.Oldest()), Devices: 1}
	if d.Facts.Known(FactOSBuild) {
		c.Build = d.Facts.OSBuild
	}
	if c.KBsKnown {
		c.KBs = slices.Clone(d.Facts.KBs)
	}
	return c
}

// Device returns a device with the cohort's organisation, site, build and
// updates, for checks written against devices (selectors, alerts).
func (c *Cohort) Device() *Device {
	d := &Device{Org: c.Org, Site: c.Site, LastSeen: c.SeenDay}
	if !c.Build.IsZero() {
		d.Facts.OSBuild = c.Build
		d.Facts.ObservedAt[FactOSBuild] = c.ObservedDay
	}
	if c.KBsKnown {
		d.Facts.KBs = c.KBs
		d.Facts.ObservedAt[FactKBs] = c.ObservedDay
	}
	return d
}

// CohortKeys are the selector keys a cohort answers exactly: a selector
// naming only these can be applied to cohorts.
var cohortKeys = map[string]bool{"org": true, "site": true, "build": true, "release": true}

// ForCohorts says whether the selector names only what cohorts keep
// (organisation, site, build, release), so that it can select cohorts.
func (s Selector) ForCohorts() bool {
	for _, r := range s.reqs {
		if !cohortKeys[r.Key] {
			return false
		}
	}
	return true
}
