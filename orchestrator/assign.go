package orchestrator

import (
	"bytes"
	"cmp"
	"hash/fnv"
	"iter"
	"math"
	"slices"

	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// An Assignment splits a campaign's targets into its waves, in order: each
// wave takes, from the targets no earlier wave took, those its selector
// matches, then its count or percent of them (all without either). The
// order within and across organisations is a hash of campaign and
// hostname: stable for a campaign, and spread over organisations so a
// wave's share is not one organisation's devices. Targets no wave takes
// get Wave -1.
//
// Targets are added one at a time as the inventory streams them, and only
// what the split needs is kept of each: its rank, the waves whose
// selectors it matches, its hostname in one shared buffer and its
// organisation and site as small numbers. A national campaign of 1.2
// million devices holds about 50 MB, none of it pointers for the garbage
// collector to scan, where the devices themselves would take gigabytes.
type Assignment struct {
	spec    *Spec
	names   []byte // every hostname, back to back
	targets []target
	places  []string       // organisation and site names by number
	placeID map[string]int // and their numbers
	done    bool
}

// target is what an Assignment keeps of one device.
type target struct {
	rank      uint64
	matches   waveSet // the waves whose selectors it matches
	name      uint32  // offset of its hostname in names
	nameLen   uint16
	wave      int16 // assigned wave, -1 for none
	org, site uint32
}

// waveSet is a set of wave indexes (MaxWaves at most).
type waveSet [(MaxWaves + 63) / 64]uint64

func (s *waveSet) add(i int)                     { s[i/64] |= 1 << (i % 64) }
func (s *waveSet) has(i int) bool                { return s[i/64]&(1<<(i%64)) != 0 }
func (a *Assignment) hostBytes(t *target) []byte { return a.names[t.name : t.name+uint32(t.nameLen)] }
func (a *Assignment) host(t *target) string      { return string(a.hostBytes(t)) }

// NewAssignment starts splitting targets into the waves of s.
func NewAssignment(s *Spec) *Assignment {
	return &Assignment{spec: s, placeID: map[string]int{}}
}

// Rank is a device's place in a campaign's dispatch order within its
// wave: a hash of the campaign's name and the hostname (ties, which a
// 64-bit hash makes rare, go by hostname).
func Rank(campaign, hostname string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(campaign))
	h.Write([]byte{0})
	h.Write([]byte(hostname))
	return h.Sum64()
}

func (a *Assignment) place(name string) uint32 {
	id, ok := a.placeID[name]
	if !ok {
		id = len(a.places)
		a.places = append(a.places, name)
		a.placeID[name] = id
	}
	return uint32(id)
}

// Add adds a target. It keeps nothing of d beyond what the split needs, so
// the caller may reuse d. Adding after Members is a programming error.
func (a *Assignment) Add(d *inventory.Device) {
	if a.done {
		panic("orchestrator: Assignment.Add after Members")
	}
	t := target{rank: Rank(a.spec.Name, d.Hostname), name: uint32(len(a.names)), nameLen: uint16(len(d.Hostname)),
		wave: -1, org: a.place(d.Org), site: a.place(d.Site)}
	for i := range a.spec.Waves {
		if a.spec.Waves[i].selector.Matches(d) {
			t.matches.add(i)
		}
	}
	a.names = append(a.names, d.Hostname...)
	a.targets = append(a.targets, t)
}

// Len is how many targets were added.
func (a *Assignment) Len() int { return len(a.targets) }

// split assigns every target its wave and puts them in dispatch order:
// wave by wave, each in rank order, then the targets no wave took.
func (a *Assignment) split() {
	if a.done {
		return
	}
	a.done = true
	slices.SortFunc(a.targets, func(x, y target) int {
		if c := cmp.Compare(x.rank, y.rank); c != 0 {
			return c
		}
		return bytes.Compare(a.hostBytes(&x), a.hostBytes(&y))
	})
	// Every wave takes the lowest-ranked of the targets still free that
	// its selector matches: one pass in rank order per wave.
	for wi := range a.spec.Waves {
		w := &a.spec.Waves[wi]
		match := 0
		for i := range a.targets {
			if t := &a.targets[i]; t.wave < 0 && t.matches.has(wi) {
				match++
			}
		}
		n := match
		switch {
		case w.Count > 0:
			n = min(n, w.Count)
		case w.Percent > 0:
			n = min(n, int(math.Ceil(float64(match)*w.Percent/100)))
		}
		for i := range a.targets {
			if n == 0 {
				break
			}
			if t := &a.targets[i]; t.wave < 0 && t.matches.has(wi) {
				t.wave = int16(wi)
				n--
			}
		}
	}
	slot := func(t *target) int {
		if t.wave < 0 {
			return len(a.spec.Waves)
		}
		return int(t.wave)
	}
	slices.SortStableFunc(a.targets, func(x, y target) int { return cmp.Compare(slot(&x), slot(&y)) })
}

// WaveSizes counts the targets of each wave, in the spec's order, and those
// no wave took.
func (a *Assignment) WaveSizes() (sizes []int, unwaved int) {
	a.split()
	sizes = make([]int, len(a.spec.Waves))
	for i := range a.targets {
		if w := a.targets[i].wave; w >= 0 {
			sizes[w]++
		} else {
			unwaved++
		}
	}
	return sizes, unwaved
}

// Members yields the campaign's members in dispatch order (Order counting
// from 0), all pending, built one at a time.
func (a *Assignment) Members() iter.Seq[Member] {
	a.split()
	return func(yield func(Member) bool) {
		for i := range a.targets {
			t := &a.targets[i]
			m := Member{Hostname: a.host(t), Org: a.places[t.org], Site: a.places[t.site], Wave: int(t.wave), Order: i, State: DevicePending}
			if !yield(m) {
				return
			}
		}
	}
}
