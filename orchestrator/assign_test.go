package orchestrator

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// referenceAssign is the split as it was first written, holding every
// device and re-sorting what is left after each wave: the Assignment must
// split exactly as it does.
func referenceAssign(s *Spec, targets []*inventory.Device) []Member {
	type ranked struct {
		d    *inventory.Device
		rank uint64
	}
	rest := make([]ranked, len(targets))
	for i, d := range targets {
		h := fnv.New64a()
		h.Write([]byte(s.Name + "\x00" + d.Hostname))
		rest[i] = ranked{d, h.Sum64()}
	}
	byRank := func(a, b ranked) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), strings.Compare(a.d.Hostname, b.d.Hostname))
	}
	slices.SortFunc(rest, byRank)
	out := make([]Member, 0, len(targets))
	add := func(r ranked, wave int) {
		out = append(out, Member{Hostname: r.d.Hostname, Org: r.d.Org, Site: r.d.Site, Wave: wave, Order: len(out), State: DevicePending})
	}
	for wi := range s.Waves {
		w := &s.Waves[wi]
		var match, keep []ranked
		for _, r := range rest {
			if w.selector.Matches(r.d) {
				match = append(match, r)
			} else {
				keep = append(keep, r)
			}
		}
		n := len(match)
		switch {
		case w.Count > 0:
			n = min(n, w.Count)
		case w.Percent > 0:
			n = min(n, int(math.Ceil(float64(len(match))*w.Percent/100)))
		}
		for _, r := range match[:n] {
			add(r, wi)
		}
		rest = append(keep, match[n:]...)
		slices.SortFunc(rest, byRank)
	}
	for _, r := range rest {
		add(r, -1)
	}
	return out
}

// TestAssignmentSplitsAsTheReference splits many random estates into
// random waves (selectors, counts, percents) both ways.
func TestAssignmentSplitsAsTheReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 15))
	orgs := []string{"RXX", "RYY", "RZZ", "RAA"}
	for run := range 300 {
		var ds []*inventory.Device
		for i := range rng.IntN(400) + 1 {
			org := orgs[rng.IntN(len(orgs))]
			ds = append(ds, &inventory.Device{Hostname: fmt.Sprintf("pc%05d.%s.nhs.uk", i, strings.ToLower(org)), Org: org,
				Site: fmt.Sprintf("s%d", rng.IntN(4)), Labels: map[string]string{"ring": fmt.Sprint(rng.IntN(3))}})
		}
		rng.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
		var waves strings.Builder
		for w := range rng.IntN(5) + 1 {
			fmt.Fprintf(&waves, "  - name: w%d\n", w)
			switch rng.IntN(4) {
			case 0:
				fmt.Fprintf(&waves, "    count: %d\n", rng.IntN(50)+1)
			case 1:
				fmt.Fprintf(&waves, "    percent: %d\n", rng.IntN(100)+1)
			}
			switch rng.IntN(3) {
			case 0:
				fmt.Fprintf(&waves, "    selector: 'org in (%s,%s)'\n", orgs[rng.IntN(4)], orgs[rng.IntN(4)])
			case 1:
				fmt.Fprintf(&waves, "    selector: 'label.ring=%d'\n", rng.IntN(3))
			}
		}
		src := fmt.Sprintf("name: c%d\nplaybook: p\ntarget: 'org!=NONE'\nwaves:\n%s", run, waves.String())
		s, err := ParseSpec("c.yaml", []byte(src))
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, src)
		}
		want := referenceAssign(s, ds)
		got := Assign(s, ds)
		if !slices.Equal(got, want) {
			t.Fatalf("run %d: Assignment splits differently from the reference\nspec:\n%s", run, src)
		}
		a := NewAssignment(s)
		for _, d := range ds {
			a.Add(d)
		}
		sizes, unwaved := a.WaveSizes()
		wantSizes := make([]int, len(s.Waves))
		wantUnwaved := 0
		for _, m := range want {
			if m.Wave < 0 {
				wantUnwaved++
			} else {
				wantSizes[m.Wave]++
			}
		}
		if !slices.Equal(sizes, wantSizes) || unwaved != wantUnwaved {
			t.Fatalf("run %d: sizes %v unwaved %d, want %v %d", run, sizes, unwaved, wantSizes, wantUnwaved)
		}
	}
}
