package fleetsim

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Fault kinds a simulated estate can be seeded with (--faults).
const (
	FaultUnreachable = "unreachable" // never listens: connections are refused
	FaultBadCreds    = "badcreds"    // accepts a different password: every request gets 401
	FaultSlow        = "slow"        // every response is delayed (slow=5%:800ms)
	FaultDrop        = "drop"        // the connection drops during the first Receive of each command
	FaultHTTP500     = "http500"     // every third request answers HTTP 500 with no SOAP body
	FaultMalformed   = "malformed"   // every third response is cut short (malformed XML)
	FaultCompat      = "compat"      // setup's compatibility scan blocks (0xC1900208)
	FaultRollback    = "rollback"    // the upgrade rolls back (0xC1900101)
	FaultHang        = "hang"        // a reboot never comes back
	FaultLowDisk     = "lowdisk"     // less free disk than an upgrade needs
)

var faultKinds = []string{FaultUnreachable, FaultBadCreds, FaultSlow, FaultDrop, FaultHTTP500, FaultMalformed,
	FaultCompat, FaultRollback, FaultHang, FaultLowDisk}

// FaultSpec is the share of devices given each fault.
type FaultSpec struct {
	Share   map[string]float64 // kind -> fraction of devices (0..1)
	Latency time.Duration      // for FaultSlow (default 500ms)
}

// ParseFaults reads "unreachable=2%,slow=5%:800ms,compat=10%". Each kind
// at most once; shares are percentages (or fractions without %).
func ParseFaults(s string) (FaultSpec, error) {
	spec := FaultSpec{Share: map[string]float64{}, Latency: 500 * time.Millisecond}
	if strings.TrimSpace(s) == "" {
		return spec, nil
	}
	for i, part := range strings.Split(s, ",") {
		kind, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		kind = strings.ToLower(strings.TrimSpace(kind))
		if !ok || kind == "" {
			return spec, fmt.Errorf("--faults item %d %q: want kind=share, e.g. unreachable=2%%", i+1, part)
		}
		known := false
		for _, k := range faultKinds {
			known = known || k == kind
		}
		if !known {
			return spec, fmt.Errorf("--faults item %d: unknown fault %q (known: %s)", i+1, kind, strings.Join(faultKinds, ", "))
		}
		if _, dup := spec.Share[kind]; dup {
			return spec, fmt.Errorf("--faults item %d: %s given twice", i+1, kind)
		}
		share, extra, _ := strings.Cut(val, ":")
		if extra != "" {
			if kind != FaultSlow {
				return spec, fmt.Errorf("--faults item %d: only slow takes a duration (slow=5%%:800ms)", i+1)
			}
			d, err := time.ParseDuration(extra)
			if err != nil || d <= 0 {
				return spec, fmt.Errorf("--faults item %d: %q is not a duration such as 800ms", i+1, extra)
			}
			spec.Latency = d
		}
		pct := strings.HasSuffix(share, "%")
		f, err := strconv.ParseFloat(strings.TrimSuffix(share, "%"), 64)
		if pct {
			f /= 100
		}
		if err != nil || f < 0 || f > 1 {
			return spec, fmt.Errorf("--faults item %d: share %q is not between 0%% and 100%%", i+1, share)
		}
		spec.Share[kind] = f
	}
	return spec, nil
}

// assign picks, deterministically for a seed, which devices get which
// faults: for each kind, exactly round(share*n) devices, chosen at random.
func (spec FaultSpec) assign(n int, seed uint64) []map[string]bool {
	out := make([]map[string]bool, n)
	for i := range out {
		out[i] = map[string]bool{}
	}
	kinds := make([]string, 0, len(spec.Share))
	for k := range spec.Share {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for ki, k := range kinds {
		rng := rand.New(rand.NewPCG(seed, uint64(ki+1)*0x9e3779b97f4a7c15))
		count := int(spec.Share[k]*float64(n) + 0.5)
		for _, i := range rng.Perm(n)[:count] {
			out[i][k] = true
		}
	}
	return out
}

// String renders the spec as ParseFaults reads it.
func (spec FaultSpec) String() string {
	var parts []string
	for _, k := range faultKinds {
		if f, ok := spec.Share[k]; ok {
			p := strconv.FormatFloat(f*100, 'f', -1, 64) + "%"
			if k == FaultSlow {
				p += ":" + spec.Latency.String()
			}
			parts = append(parts, k+"="+p)
		}
	}
	return strings.Join(parts, ",")
}
