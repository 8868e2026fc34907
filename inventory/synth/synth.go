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
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
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

// Plan chooses the organisations and how many devices each gets, without
// generating devices. Sizes follow a Zipf-like law: a few large trusts,
// a long tail of small practices.
func Plan(o Options) ([]Org, error) {
	if o.Orgs < 1 || o.Devices < o.Orgs {
		return nil, fmt.Errorf("synth: want at least one organisation and at least one device per organisation (got %d devices, %d orgs)", o.Devices, o.Orgs)
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

// Generate writes the estate as inventory CSV and returns its organisations.
func Generate(w io.Writer, o Options) ([]Org, error) {
	orgs, err := Plan(o)
	if err != nil {
		return nil, err
	}
	if o.Now.IsZero() {
		return nil, fmt.Errorf("synth: a reference time is required")
	}
	now := o.Now.UTC().Truncate(time.Second)
	rng := rand.New(rand.NewPCG(o.Seed, 0xde71ce))
	totalWeight := 0
	for _, r := range releases {
		totalWeight += r.weight
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(Header); err != nil {
		return nil, err
	}
	row := make([]string, len(Header))
	for oi, org := range orgs {
		lc := strings.ToLower(org.Code)
		for n := range org.Devices {
			clear(row)
			kind := "pc"
			m := models[rng.IntN(len(models))]
			if strings.Contains(m.model, "Latitude") || strings.Contains(m.model, "Book") || strings.Contains(m.model, "ThinkPad") || strings.Contains(m.model, "Surface") {
				kind = "lt"
			}
			row[0] = fmt.Sprintf("%s%06d.%s.nhs.uk", kind, n+1, lc)
			row[1], row[2], row[3] = org.Code, org.Name, org.TimeZone
			row[4] = org.Sites[rng.IntN(len(org.Sites))]
			switch p := rng.IntN(1000); {
			case p < 20:
				row[5] = "ring=pilot"
			case p < 30:
				row[5] = "excluded=clinical"
			case p < 40:
				row[5] = "ring=pilot;role=kiosk"
			}
			row[6], row[7] = m.make, m.model
			if rng.IntN(100) >= 3 {
				row[8] = fmt.Sprintf("%c%c%06d", 'A'+rng.IntN(26), 'A'+rng.IntN(26), rng.IntN(1_000_000))
			}
			pick := rng.IntN(totalWeight)
			var rel osRelease
			for _, r := range releases {
				if pick < r.weight {
					rel = r
					break
				}
				pick -= r.weight
			}
			if rng.IntN(100) >= 2 { // some devices have no build in the export
				row[9] = rel.caption
				row[10] = edition(rel.caption)
				row[11] = rel.build
				row[12] = strconv.Itoa(rel.ubrs[rng.IntN(len(rel.ubrs))])
				var kbs []string
				for _, kb := range rel.kbs {
					if rng.IntN(100) < 60 {
						kbs = append(kbs, kb)
					}
				}
				row[13] = strings.Join(kbs, ";")
			}
			if rng.IntN(100) >= 4 {
				disk := 5 + rng.ExpFloat64()*40
				if rng.IntN(100) < 8 {
					disk = rng.Float64() * 15 // too little for a feature update
				}
				row[14] = strconv.FormatFloat(math.Round(disk*10)/10, 'f', -1, 64)
			}
			row[15] = []string{"4", "8", "8", "16", "16", "32"}[rng.IntN(6)]
			age := time.Duration(rng.ExpFloat64()*3*24) * time.Hour
			if rng.IntN(100) < 5 {
				age = time.Duration(30+rng.IntN(200)) * 24 * time.Hour // long offline
			}
			row[16] = now.Add(-age - time.Duration(rng.IntN(3600))*time.Second).Format(time.RFC3339)
			if err := cw.Write(row); err != nil {
				return nil, fmt.Errorf("synth: write org %d device %d: %w", oi, n, err)
			}
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
