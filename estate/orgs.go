package estate

import (
	"context"
	"slices"
	"time"

	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Counts is the stable JSON form of an inventory.OrgSummary: an
// organisation's devices by Windows version and release.
type Counts struct {
	Org       string         `json:"org"`
	Name      string         `json:"name,omitempty"`
	Devices   int            `json:"devices"`
	Windows10 int            `json:"windows10"`
	Windows7  int            `json:"windows7"`
	Other     int            `json:"other"`
	Unknown   int            `json:"unknown"`
	Releases  map[string]int `json:"releases"`
}

// ToCounts is s in its JSON form (without a name).
func ToCounts(s inventory.OrgSummary) Counts {
	return Counts{Org: s.Org, Devices: s.Devices, Windows10: s.Windows10, Windows7: s.Windows7, Other: s.Other, Unknown: s.Unknown, Releases: s.Releases}
}

// SortedReleases are the releases counted, in order.
func (c Counts) SortedReleases() []string {
	keys := make([]string, 0, len(c.Releases))
	for k := range c.Releases {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Summary is the estate per organisation and in all.
type Summary struct {
	Orgs  []Counts `json:"orgs"`
	Total Counts   `json:"total"`
}

// Summarise counts the estate per organisation, named, and in all.
func Summarise(ctx context.Context, s Organisations) (Summary, error) {
	counts, err := s.CountByOrgAndBuild(ctx)
	if err != nil {
		return Summary{}, err
	}
	orgs, total := inventory.Summarise(counts)
	all, err := s.Organisations(ctx)
	if err != nil {
		return Summary{}, err
	}
	names := map[string]string{}
	for _, o := range all {
		names[o.Code] = o.Name
	}
	out := Summary{Orgs: []Counts{}, Total: ToCounts(total)}
	for _, o := range orgs {
		c := ToCounts(o)
		c.Name = names[o.Org]
		out.Orgs = append(out.Orgs, c)
	}
	return out, nil
}

// Org is the stable JSON form of an organisation with its device count.
type Org struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	TimeZone  string    `json:"time_zone"`
	Tags      []string  `json:"tags"`
	Devices   int       `json:"devices"`
	CreatedAt time.Time `json:"created_at"`
}

func toOrg(o inventory.Organisation, devices int) Org {
	tags := o.Tags
	if tags == nil {
		tags = []string{}
	}
	return Org{Code: o.Code, Name: o.Name, TimeZone: o.TimeZone, Tags: tags, Devices: devices, CreatedAt: o.CreatedAt.UTC()}
}

// ListOrganisations lists the organisations with their device counts.
func ListOrganisations(ctx context.Context, s Organisations) ([]Org, error) {
	orgs, err := s.Organisations(ctx)
	if err != nil {
		return nil, err
	}
	counts, err := s.CountByOrgAndBuild(ctx)
	if err != nil {
		return nil, err
	}
	devices := map[string]int{}
	for _, c := range counts {
		devices[c.Org] += c.Devices
	}
	out := make([]Org, len(orgs))
	for i, o := range orgs {
		out[i] = toOrg(o, devices[o.Code])
	}
	return out, nil
}

// OrgDetail is one organisation and where its estate stands.
type OrgDetail struct {
	Org
	Summary Counts `json:"summary"`
}

// ShowOrganisation returns the organisation code names with its summary,
// or an error wrapping errkind.NotFound.
func ShowOrganisation(ctx context.Context, s Organisations, code string) (OrgDetail, error) {
	o, err := s.Organisation(ctx, code)
	if err != nil {
		return OrgDetail{}, err
	}
	counts, err := s.CountByOrgAndBuild(ctx)
	if err != nil {
		return OrgDetail{}, err
	}
	var mine []inventory.BuildCount
	for _, c := range counts {
		if c.Org == o.Code {
			mine = append(mine, c)
		}
	}
	_, sum := inventory.Summarise(mine)
	return OrgDetail{Org: toOrg(o, sum.Devices), Summary: ToCounts(sum)}, nil
}

// CheckOrganisation normalises o and checks it can be stored; the error
// wraps errkind.Invalid.
func CheckOrganisation(o *inventory.Organisation) error {
	o.Normalise()
	return o.Validate()
}

// AddOrganisation checks o and stores it.
func AddOrganisation(ctx context.Context, s Store, o *inventory.Organisation) error {
	if err := CheckOrganisation(o); err != nil {
		return err
	}
	return s.CreateOrganisation(ctx, o)
}
