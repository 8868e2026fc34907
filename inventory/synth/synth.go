// Package synth generates realistic synthetic estates: organisations of very
// different sizes (a few large hospital trusts, many small practices and care
// providers), sites, a mix of Windows 7 SP1 and Windows 10 1607 to 22H2 with
// real build and UBR numbers, common hardware models, disk and memory sizes,
// and the gaps real exports have (missing builds, serials, disk figures).
//
// Output is deterministic for a given seed and reference time, and is
// written as a CSV that `ringmaster inventory import` reads. Tests,
// benchmarks, the simulator and the demo all use it.
package synth

import (
	"fmt"
	"io"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/safecsv"
)

// Options say what to generate.
type Options struct {
	Devices int
	Orgs    int
	Seed    uint64
	// Now is the reference time: last-seen times fall before it.
	Now time.Time
}

// Org is one generated organisation.
type Org struct {
	Code, Name, TimeZone string
	Sites                []string
	Devices              int
}

// Header is the CSV header Generate writes.
var Header = []string{
	"hostname", "org", "org_name", "org_timezone", "site", "labels",
	"manufacturer", "model", "serial", "os_caption", "os_edition", "os_build", "ubr",
	"kbs", "disk_free_gb", "ram_gb", "last_seen",
}

// os describes one Windows release with sample UBRs and KBs for it.
type osRelease struct {
	build   string
	caption string
	ubrs    []int
	kbs     []string
	weight  int
}

// Builds from Microsoft's release information; UBRs and KBs are samples of
// cumulative updates for each release (see shared/reference/windows-facts.md).
var releases = []osRelease{
	{"6.1.7601", "Microsoft Windows 7 Professional", []int{24544, 24545, 24548}, []string{"KB4499175", "KB4512506", "KB4490628", "KB4474419"}, 24},
	{"10.0.14393", "Microsoft Windows 10 Enterprise LTSB", []int{3085, 3930, 5125}, []string{"KB4512517", "KB4509091"}, 6},
	{"10.0.15063", "Microsoft Windows 10 Enterprise", []int{1988, 2045}, []string{"KB4512507"}, 3},
	{"10.0.16299", "Microsoft Windows 10 Enterprise", []int{1296, 1331}, []string{"KB4512516"}, 5},
	{"10.0.17134", "Microsoft Windows 10 Enterprise", []int{950, 1006}, []string{"KB4512501"}, 8},
	{"10.0.17763", "Microsoft Windows 10 Enterprise", []int{678, 1935, 3770}, []string{"KB4511553", "KB4512578"}, 12},
	{"10.0.18362", "Microsoft Windows 10 Enterprise", []int{295, 1256}, []string{"KB4512508"}, 8},
	{"10.0.18363", "Microsoft Windows 10 Enterprise", []int{1556, 2212}, []string{"KB4592449"}, 8},
	{"10.0.19041", "Microsoft Windows 10 Enterprise", []int{1415, 2965}, []string{"KB5005565"}, 4},
	{"10.0.19042", "Microsoft Windows 10 Enterprise", []int{1526, 2965}, []string{"KB5005565"}, 5},
	{"10.0.19043", "Microsoft Windows 10 Enterprise", []int{2364, 2965}, []string{"KB5026361"}, 4},
	{"10.0.19044", "Microsoft Windows 10 Enterprise", []int{3086, 4291}, []string{"KB5031356"}, 6},
	{"10.0.19045", "Microsoft Windows 10 Enterprise", []int{3803, 4894, 5371}, []string{"KB5034441", "KB5036892"}, 7},
}

var models = []struct{ make, model string }{
	{"Dell Inc.", "OptiPlex 7050"}, {"Dell Inc.", "OptiPlex 7070"}, {"Dell Inc.", "OptiPlex 7090"},
	{"Dell Inc.", "Latitude 5490"}, {"Dell Inc.", "Latitude 5520"}, {"HP", "HP EliteDesk 800 G4 SFF"},
	{"HP", "HP ProDesk 600 G5 SFF"}, {"HP", "HP EliteBook 840 G6"}, {"LENOVO", "ThinkCentre M920q"},
	{"LENOVO", "ThinkPad T480"}, {"Microsoft Corporation", "Surface Pro 7"},
}

var towns = []string{
	"Leeds", "Bradford", "York", "Hull", "Sheffield", "Manchester", "Salford", "Bolton", "Wigan", "Preston",
	"Lancaster", "Carlisle", "Newcastle", "Sunderland", "Durham", "Middlesbrough", "Liverpool", "Chester",
	"Stoke", "Derby", "Nottingham", "Leicester", "Lincoln", "Norwich", "Ipswich", "Cambridge", "Oxford",
	"Reading", "Bristol", "Bath", "Exeter", "Plymouth", "Truro", "Southampton", "Portsmouth", "Brighton",
	"Canterbury", "Maidstone", "Luton", "Bedford", "Northampton", "Coventry", "Worcester", "Hereford",
	"Gloucester", "Swindon", "Taunton", "Dorchester", "Kendal", "Harrogate",
}

var siteKinds = []string{"General Hospital", "Royal Infirmary", "Community Hospital", "Health Centre", "Clinic", "Headquarters"}

// CheckSize refuses an estate that Plan cannot make: fewer than one
// organisation, or fewer devices than organisations (each gets one at
// least).
func CheckSize(devices, orgs int) error {
	if orgs < 1 || devices < orgs {
		return fmt.Errorf("synth: want at least one organisation and at least one device per organisation (got %d devices, %d orgs)", devices, orgs)
	}
	return nil
}

// Plan chooses the organisations and how many devices each gets, without
// generating devices. Sizes follow a Zipf-like law: a few large trusts,
// a long tail of small practices.
func Plan(o Options) ([]Org, error) {
	if err := CheckSize(o.Devices, o.Orgs); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	// A fifth of the organisations are hospital trusts holding most devices
	// (85%); the rest are practices and care providers sharing the rest.
	// Within each tier sizes fall off as a power law, so the largest trust
	// is a few percent of a national estate and the smallest practice a few
	// dozen devices.
	trusts := max(1, o.Orgs/5)
	weights := make([]float64, o.Orgs)
	sum := 0.0
	tierSum := [2]float64{}
	for i := range weights {
		tier, rank := 0, i
		if i >= trusts {
			tier, rank = 1, i-trusts
		}
		weights[i] = 1 / math.Pow(float64(rank+1), 0.45)
		tierSum[tier] += weights[i]
	}
	share := [2]float64{0.85, 0.15}
	if trusts == o.Orgs {
		share[0] = 1
	}
	for i := range weights {
		tier := 0
		if i >= trusts {
			tier = 1
		}
		weights[i] = weights[i] / tierSum[tier] * share[tier]
		sum += weights[i]
	}
	orgs := make([]Org, o.Orgs)
	left := o.Devices - o.Orgs // everyone gets one, the rest by weight
	given := 0
	used := map[string]bool{}
	for i := range orgs {
		n := int(float64(left) * weights[i] / sum)
		given += n
		orgs[i].Devices = 1 + n
		town := towns[rng.IntN(len(towns))]
		trust := i < trusts
		for {
			if trust {
				orgs[i].Code = "R" + string(rune('A'+rng.IntN(26))) + string(rune('A'+rng.IntN(26)))
				orgs[i].Name = town + " Teaching Hospitals NHS Foundation Trust"
			} else {
				orgs[i].Code = string(rune('A'+rng.IntN(26))) + strconv.Itoa(80000+rng.IntN(20000))
				orgs[i].Name = town + []string{" Medical Practice", " Surgery", " Care Group", " Health Partnership"}[rng.IntN(4)]
			}
			if !used[orgs[i].Code] {
				used[orgs[i].Code] = true
				break
			}
		}
		orgs[i].TimeZone = "Europe/London"
		nsites := 1 + rng.IntN(2)
		if trust {
			nsites = 2 + rng.IntN(5)
		}
		for s := range nsites {
			orgs[i].Sites = append(orgs[i].Sites, fmt.Sprintf("%s %s", towns[(slices.Index(towns, town)+s)%len(towns)], siteKinds[(i+s)%len(siteKinds)]))
		}
	}
	for i := 0; given < left; i = (i + 1) % len(orgs) { // rounding remainder
		orgs[i].Devices++
		given++
	}
	return orgs, nil
}

// Device is one generated device: what it really is, and which of its
// facts the generated export leaves out (as real exports do).
type Device struct {
	Hostname, Org, OrgName, OrgTimeZone, Site string
	Labels                                    string // "k=v;k2=v2"
	Manufacturer, Model, Serial               string
	OSCaption, OSEdition, OSBuild             string
	UBR                                       int
	KBs                                       []string
	DiskFreeGB, RAMGB                         float64
	LastSeen                                  time.Time

	// What the export omits.
	HideSerial, HideOS, HideDisk bool
}

// Devices plans the estate and returns its organisations and a sequence of
// its devices, generated as they are read.
func Devices(o Options) ([]Org, iter.Seq[Device], error) {
	orgs, err := Plan(o)
	if err != nil {
		return nil, nil, err
	}
	if o.Now.IsZero() {
		return nil, nil, fmt.Errorf("synth: a reference time is required")
	}
	now := o.Now.UTC().Truncate(time.Second)
	totalWeight := 0
	for _, r := range releases {
		totalWeight += r.weight
	}
	seq := func(yield func(Device) bool) {
		rng := rand.New(rand.NewPCG(o.Seed, 0xde71ce))
		for _, org := range orgs {
			lc := strings.ToLower(org.Code)
			for n := range org.Devices {
				var d Device
				kind := "pc"
				m := models[rng.IntN(len(models))]
				if strings.Contains(m.model, "Latitude") || strings.Contains(m.model, "Book") || strings.Contains(m.model, "ThinkPad") || strings.Contains(m.model, "Surface") {
					kind = "lt"
				}
				d.Hostname = fmt.Sprintf("%s%06d.%s.nhs.uk", kind, n+1, lc)
				d.Org, d.OrgName, d.OrgTimeZone = org.Code, org.Name, org.TimeZone
				d.Site = org.Sites[rng.IntN(len(org.Sites))]
				switch p := rng.IntN(1000); {
				case p < 20:
					d.Labels = "ring=pilot"
				case p < 30:
					d.Labels = "excluded=clinical"
				case p < 40:
					d.Labels = "ring=pilot;role=kiosk"
				}
				d.Manufacturer, d.Model = m.make, m.model
				d.Serial = fmt.Sprintf("%c%c%06d", 'A'+rng.IntN(26), 'A'+rng.IntN(26), rng.IntN(1_000_000))
				d.HideSerial = rng.IntN(100) < 3
				pick := rng.IntN(totalWeight)
				var rel osRelease
				for _, r := range releases {
					if pick < r.weight {
						rel = r
						break
					}
					pick -= r.weight
				}
				d.OSCaption, d.OSEdition, d.OSBuild = rel.caption, edition(rel.caption), rel.build
				d.UBR = rel.ubrs[rng.IntN(len(rel.ubrs))]
				for _, kb := range rel.kbs {
					if rng.IntN(100) < 60 {
						d.KBs = append(d.KBs, kb)
					}
				}
				d.HideOS = rng.IntN(100) < 2 // some exports lack the build
				disk := 5 + rng.ExpFloat64()*40
				if rng.IntN(100) < 8 {
					disk = rng.Float64() * 15 // too little for a feature update
				}
				d.DiskFreeGB = math.Round(disk*10) / 10
				d.HideDisk = rng.IntN(100) < 4
				d.RAMGB = []float64{4, 8, 8, 16, 16, 32}[rng.IntN(6)]
				age := time.Duration(rng.ExpFloat64()*3*24) * time.Hour
				if rng.IntN(100) < 5 {
					age = time.Duration(30+rng.IntN(200)) * 24 * time.Hour // long offline
				}
				d.LastSeen = now.Add(-age - time.Duration(rng.IntN(3600))*time.Second)
				if !yield(d) {
					return
				}
			}
		}
	}
	return orgs, seq, nil
}

// Row renders the device as a CSV row under Header, leaving out what the
// export hides.
func (d *Device) Row(row []string) []string {
	row = append(row[:0], d.Hostname, d.Org, d.OrgName, d.OrgTimeZone, d.Site, d.Labels, d.Manufacturer, d.Model)
	serial := d.Serial
	if d.HideSerial {
		serial = ""
	}
	row = append(row, serial)
	if d.HideOS {
		row = append(row, "", "", "", "", "")
	} else {
		row = append(row, d.OSCaption, d.OSEdition, d.OSBuild, strconv.Itoa(d.UBR), strings.Join(d.KBs, ";"))
	}
	disk := strconv.FormatFloat(d.DiskFreeGB, 'f', -1, 64)
	if d.HideDisk {
		disk = ""
	}
	return append(row, disk, strconv.FormatFloat(d.RAMGB, 'f', -1, 64), d.LastSeen.Format(time.RFC3339))
}

// Generate writes the estate as inventory CSV and returns its organisations.
func Generate(w io.Writer, o Options) ([]Org, error) {
	orgs, devices, err := Devices(o)
	if err != nil {
		return nil, err
	}
	cw := safecsv.NewWriter(w) // synthetic names never need it; every CSV writer goes through it
	if err := cw.Write(Header); err != nil {
		return nil, err
	}
	row := make([]string, 0, len(Header))
	for d := range devices {
		row = d.Row(row)
		if err := cw.Write(row); err != nil {
			return nil, fmt.Errorf("synth: write %s: %w", d.Hostname, err)
		}
	}
	cw.Flush()
	return orgs, cw.Error()
}

// edition is the EditionID Windows reports for a caption.
func edition(caption string) string {
	words := strings.Fields(caption)
	switch last := words[len(words)-1]; last {
	case "LTSB", "LTSC":
		return "EnterpriseS"
	default:
		return last
	}
}
