package storetest

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// inventoryModel is what the inventory must hold, kept by the domain's
// own rules alone (inventory.MergeDevice, Facts.Merge, Alert.KBs).
type inventoryModel struct {
	devices map[string]*inventory.Device
	orgs    map[string]bool
	watched map[string]bool     // upper case
	alerts  map[string][]string // id -> the updates it names
}

func (m *inventoryModel) list() []*inventory.Device {
	out := slices.Collect(maps.Values(m.devices))
	slices.SortFunc(out, func(a, b *inventory.Device) int { return strings.Compare(a.Org+" "+a.Hostname, b.Org+" "+b.Hostname) })
	return out
}

// deviceText renders what the model keeps of a device, times in UTC
// microseconds.
func deviceText(d *inventory.Device) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s org=%s site=%q seen=%d", d.Hostname, d.Org, d.Site, d.LastSeen.UnixMicro())
	for _, f := range inventory.AllFacts() {
		if d.Facts.Known(f) {
			fmt.Fprintf(&b, " %s=%q@%d", f, d.Facts.Value(f), d.Facts.ObservedAt[f].UnixMicro())
		}
	}
	return b.String()
}

// inventoryRollupModel runs random sequences of writes (imports, some
// with a bad row; observations, some naming an unknown device; removals of
// devices and of organisations; updates watched, alerts added and
// removed) against the stores and a model kept by the domain's rules, and
// after every one compares the devices, organisations, watched updates
// and build counts with the model, and the rollup's cohorts with counting
// the devices one by one.
func inventoryRollupModel(t *testing.T, open Open) {
	const seeds, steps = 6, 60
	orgs := []string{"RAA", "RAB", "RAC"}
	sites := []string{"", "Leeds", "York"}
	builds := []string{"10.0.17763", "10.0.19045", "10.0.22631"}
	var kbPool []string
	for i := range 8 {
		kbPool = append(kbPool, fmt.Sprintf("KB500000%d", i))
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			clock := NewClock(start)
			st := open(t, clock.Now)
			s := st.Inventory
			r := rand.New(rand.NewPCG(seed, 13))
			m := &inventoryModel{devices: map[string]*inventory.Device{}, orgs: map[string]bool{}, watched: map[string]bool{}, alerts: map[string][]string{}}
			var log []string
			fail := func(format string, args ...any) {
				t.Helper()
				t.Fatalf("seed %d after %d writes, the last %v: %s", seed, len(log), log[max(0, len(log)-8):], fmt.Sprintf(format, args...))
			}
			// A moment within a few days of the start, in whole
			// microseconds.
			moment := func() time.Time {
				return start.Add(-time.Duration(r.IntN(4*24*3600)) * time.Second).Add(time.Duration(r.IntN(1e6)) * time.Microsecond)
			}
			someKBs := func() string {
				var kbs []string
				for _, kb := range kbPool {
					if r.IntN(3) == 0 {
						kbs = append(kbs, kb)
					}
				}
				return strings.Join(kbs, ",")
			}
			facts := func() inventory.Facts {
				var f inventory.Facts
				if r.IntN(3) > 0 {
					_ = f.Set(inventory.FactOSBuild, builds[r.IntN(len(builds))], moment())
				}
				if r.IntN(3) > 0 {
					_ = f.Set(inventory.FactKBs, someKBs(), moment())
				}
				if r.IntN(4) == 0 {
					_ = f.Set(inventory.FactDiskFreeGB, fmt.Sprint(r.IntN(100)), moment())
				}
				return f
			}
			host := func() string { return fmt.Sprintf("pc%02d.nhs.uk", r.IntN(24)) }
			alertN := 0
			for step := 0; step < steps; step++ {
				clock.Advance(time.Minute)
				switch op := r.IntN(8); op {
				case 0, 1: // import
					// Into an empty store (a first load, which engines may
					// count apart), every host, half of them alike.
					first := len(m.devices) == 0
					n := 1 + r.IntN(10)
					if first {
						n = 24
					}
					seen := map[string]bool{}
					var recs []inventory.Record
					for i := range n {
						h := host()
						if first {
							h = fmt.Sprintf("pc%02d.nhs.uk", i)
						}
						if seen[h] {
							continue
						}
						seen[h] = true
						rec := inventory.Record{Device: inventory.Device{Hostname: h, Org: orgs[r.IntN(len(orgs))]}}
						if !first || i%2 == 0 {
							rec.Device.Facts = facts()
						}
						rec.Present.Add(inventory.FieldHostname)
						rec.Present.Add(inventory.FieldOrg)
						if r.IntN(2) == 0 {
							rec.Device.Site = sites[r.IntN(len(sites))]
							rec.Present.Add(inventory.FieldSite)
						}
						if r.IntN(2) == 0 && (!first || i%2 == 0) {
							rec.Device.LastSeen = moment()
						}
						recs = append(recs, rec)
					}
					bad := r.IntN(6) == 0
					if bad {
						recs = append(recs, inventory.Record{Device: inventory.Device{Hostname: "not a hostname!", Org: "RAA"}})
					}
					log = append(log, fmt.Sprintf("import %d bad=%v", len(recs), bad))
					_, err := s.Import(ctx, &records{recs: recs}, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC", Now: clock.Now()})
					if bad {
						if !errors.Is(err, errkind.Invalid) {
							fail("an import with a bad row: %v, want errkind.Invalid", err)
						}
						break
					}
					if err != nil {
						fail("import: %v", err)
					}
					for _, rec := range recs {
						m.orgs[rec.Device.Org] = true
						if cur, ok := m.devices[rec.Device.Hostname]; ok {
							inventory.MergeDevice(cur, &rec.Device, rec.Present)
						} else {
							d := rec.Device
							m.devices[d.Hostname] = &d
						}
					}
				case 2: // observations
					var obs []inventory.Observation
					for range 1 + r.IntN(4) {
						obs = append(obs, inventory.Observation{Hostname: host(), Facts: facts(), Seen: moment()})
					}
					unknown := false
					for _, o := range obs {
						if m.devices[o.Hostname] == nil {
							unknown = true
						}
					}
					log = append(log, fmt.Sprintf("observe %d unknown=%v", len(obs), unknown))
					err := s.RecordObservations(ctx, obs)
					if unknown {
						if !errors.Is(err, errkind.NotFound) {
							fail("observations of an unknown device: %v, want errkind.NotFound", err)
						}
						break
					}
					if err != nil {
						fail("observe: %v", err)
					}
					for _, o := range obs {
						d := m.devices[o.Hostname]
						d.Facts.Merge(&o.Facts)
						if o.Seen.After(d.LastSeen) {
							d.LastSeen = o.Seen
						}
					}
				case 3: // remove devices
					src := []string{"org=" + orgs[r.IntN(len(orgs))], "site=" + sites[1+r.IntN(2)], "build<10.0.19045",
						"hostname in (" + host() + "," + host() + ")"}[r.IntN(4)]
					log = append(log, "remove "+src)
					sel := inventory.MustParseSelector(src)
					removed, err := s.RemoveDevices(ctx, sel)
					if err != nil {
						fail("remove %s: %v", src, err)
					}
					var want []string
					for _, d := range m.list() {
						if sel.Matches(d) {
							want = append(want, d.Hostname)
							delete(m.devices, d.Hostname)
						}
					}
					if !slices.Equal(removed, want) {
						fail("removed %v, want %v", removed, want)
					}
				case 4: // remove an organisation
					code := orgs[r.IntN(len(orgs))]
					log = append(log, "remove org "+code)
					err := s.RemoveOrganisation(ctx, code)
					used := slices.ContainsFunc(m.list(), func(d *inventory.Device) bool { return d.Org == code })
					switch {
					case !m.orgs[code]:
						if !errors.Is(err, errkind.NotFound) {
							fail("remove unknown organisation %s: %v, want errkind.NotFound", code, err)
						}
					case used:
						if !errors.Is(err, errkind.InUse) {
							fail("remove organisation %s with devices: %v, want errkind.InUse", code, err)
						}
					case err != nil:
						fail("remove organisation %s: %v", code, err)
					default:
						delete(m.orgs, code)
					}
				case 5: // watch updates
					kbs := strings.Split(strings.ToLower(someKBs()), ",")
					if r.IntN(4) == 0 { // past what a few terms of a query find
						for range 40 {
							kbs = append(kbs, fmt.Sprintf("KB6%06d", r.IntN(1000)))
						}
					}
					kbs = slices.DeleteFunc(kbs, func(kb string) bool { return kb == "" })
					log = append(log, fmt.Sprintf("watch %d", len(kbs)))
					n, err := s.WatchKBs(ctx, kbs)
					fresh := 0
					for _, kb := range kbs {
						if kb = strings.ToUpper(kb); !m.watched[kb] {
							m.watched[kb] = true
							fresh++
						}
					}
					if err != nil || n != fresh {
						fail("watch: %d new, %v; want %d", n, err, fresh)
					}
				case 6: // add an alert
					alertN++
					id := fmt.Sprintf("HSA-%d", alertN)
					kbs := someKBs()
					if kbs == "" {
						kbs = kbPool[r.IntN(len(kbPool))]
					}
					a, data := parseAlert(t, id+".yaml", fmt.Sprintf("id: %s\ntitle: t\nissued: 2020-01-%02d\ndeadline: 2020-02-01\nremediation:\n  %q: [%s]\n",
						id, 1+r.IntN(28), builds[r.IntN(len(builds))], strings.ReplaceAll(kbs, ",", ", ")))
					log = append(log, "add alert "+id)
					if err := st.Alerts.Add(ctx, a, data); err != nil {
						fail("add alert: %v", err)
					}
					m.alerts[id] = a.KBs()
					for _, kb := range a.KBs() {
						m.watched[strings.ToUpper(kb)] = true
					}
				case 7: // remove an alert
					ids := slices.Sorted(maps.Keys(m.alerts))
					id := "HSA-NONE"
					if len(ids) > 0 && r.IntN(5) > 0 {
						id = ids[r.IntN(len(ids))]
					}
					log = append(log, "remove alert "+id)
					err := st.Alerts.Remove(ctx, id)
					if _, ok := m.alerts[id]; !ok {
						if !errors.Is(err, errkind.NotFound) {
							fail("remove an unknown alert: %v, want errkind.NotFound", err)
						}
						break
					}
					if err != nil {
						fail("remove alert: %v", err)
					}
					delete(m.alerts, id)
					clear(m.watched)
					for _, kbs := range m.alerts {
						for _, kb := range kbs {
							m.watched[strings.ToUpper(kb)] = true
						}
					}
				}
				checkInventoryModel(t, s, m, kbPool, orgs, fail)
			}
		})
	}
}

// checkInventoryModel compares the store with the model.
func checkInventoryModel(t *testing.T, s InventoryStore, m *inventoryModel, kbPool, orgCodes []string, fail func(string, ...any)) {
	t.Helper()
	stored := allDevices(t, s, inventory.Everything())
	want := m.list()
	if len(stored) != len(want) {
		fail("%d devices, want %d: %v, want %v", len(stored), len(want), hostnames(stored), hostnames(want))
	}
	for i, d := range stored {
		if got, w := deviceText(d), deviceText(want[i]); got != w {
			fail("device %d:\n got %s\nwant %s", i, got, w)
		}
	}
	orgs, err := s.Organisations(ctx)
	if err != nil {
		fail("organisations: %v", err)
	}
	var codes []string
	for _, o := range orgs {
		codes = append(codes, o.Code)
	}
	if w := slices.Sorted(maps.Keys(m.orgs)); !slices.Equal(codes, w) {
		fail("organisations %v, want %v", codes, w)
	}
	// The rollup, read whole and by what a store may answer in SQL
	// (organisations, sites, builds), against the devices as read.
	one, other := orgCodes[len(stored)%len(orgCodes)], orgCodes[(len(stored)+1)%len(orgCodes)]
	for _, src := range []string{"", "org=" + one, "org in (" + one + "," + other + ")", "org notin (" + one + ")",
		"org=" + one + ",site in (leeds,York)", "!build", "build<10.0.19045", "build>=10.0.19045,org!=" + other} {
		sel := inventory.MustParseSelector(src)
		if d := diffCounts(cohortCounts(t, s, sel, nil), countDevices(stored, sel, m.watched)); d != "" {
			fail("cohorts of %q:%s", sel, d)
		}
	}
	unwatched, err := s.UnwatchedKBs(ctx, kbPool)
	var wantUnwatched []string
	for _, kb := range kbPool {
		if !m.watched[kb] {
			wantUnwatched = append(wantUnwatched, kb)
		}
	}
	if err != nil || !slices.Equal(unwatched, wantUnwatched) {
		fail("unwatched %v %v, want %v", unwatched, err, wantUnwatched)
	}
	counts, err := s.CountByOrgAndBuild(ctx)
	if err != nil {
		fail("count: %v", err)
	}
	got := map[string]int{}
	for _, c := range counts {
		got[c.Org+" "+c.Build.String()] += c.Devices
	}
	wantCounts := map[string]int{}
	for code := range m.orgs {
		wantCounts[code+" "+inventory.Version{}.String()] += 0
	}
	for _, d := range want {
		wantCounts[d.Org+" "+d.Facts.OSBuild.String()]++
	}
	maps.DeleteFunc(got, func(_ string, n int) bool { return n == 0 })
	maps.DeleteFunc(wantCounts, func(_ string, n int) bool { return n == 0 })
	if !maps.Equal(got, wantCounts) {
		fail("counts by organisation and build %v, want %v", got, wantCounts)
	}
}
