package inventory

import (
	"slices"
	"strings"
)

// BuildCount is how many devices of one organisation run one observed build
// (the zero Version when the build is unknown).
type BuildCount struct {
	Org     string
	Build   Version
	Devices int
}

// OrgSummary is where one organisation's estate stands.
type OrgSummary struct {
	Org       string
	Devices   int
	Windows10 int            // on any Windows 10 build
	Windows7  int            // on Windows 7
	Other     int            // a known build that is neither
	Unknown   int            // build not yet observed
	Releases  map[string]int // devices per release name ("Windows 10 22H2": 812)
}

// Summarise folds build counts into one summary per organisation, in
// organisation order, plus a total over all of them (Org "TOTAL").
func Summarise(counts []BuildCount) (orgs []OrgSummary, total OrgSummary) {
	byOrg := map[string]*OrgSummary{}
	total = OrgSummary{Org: "TOTAL", Releases: map[string]int{}}
	for _, c := range counts {
		s := byOrg[c.Org]
		if s == nil {
			s = &OrgSummary{Org: c.Org, Releases: map[string]int{}}
			byOrg[c.Org] = s
		}
		for _, x := range []*OrgSummary{s, &total} {
			x.Devices += c.Devices
			rel := c.Build.Release()
			switch {
			case c.Build.IsZero():
				x.Unknown += c.Devices
			case c.Build.IsWindows10():
				x.Windows10 += c.Devices
			case strings.HasPrefix(rel, "Windows 7"):
				x.Windows7 += c.Devices
			default:
				x.Other += c.Devices
			}
			if rel == "" && !c.Build.IsZero() {
				rel = c.Build.String()
			}
			if rel != "" && c.Devices > 0 {
				x.Releases[rel] += c.Devices
			}
		}
	}
	for _, s := range byOrg {
		orgs = append(orgs, *s)
	}
	slices.SortFunc(orgs, func(a, b OrgSummary) int { return strings.Compare(a.Org, b.Org) })
	return orgs, total
}

// Percent returns part as a percentage of whole, 0 when whole is 0.
func Percent(part, whole int) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}
