package report

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func snap(d, org string, devices, onTarget int, alerts ...string) Snapshot {
	s := Snapshot{Day: day(d), Org: org, Devices: devices, OnTarget: onTarget, Supported: onTarget,
		Affected: map[string]int{}, Compliant: map[string]int{}}
	for _, a := range alerts {
		s.Affected[a], s.Compliant[a] = devices, onTarget
	}
	return s
}

// TestScopeHistory keeps the organisations in scope and recomputes the
// total over them, never keeping the estate's.
func TestScopeHistory(t *testing.T) {
	all := []Snapshot{
		snap("2026-11-01", "RA", 10, 1), snap("2026-11-01", "RB", 20, 2), snap("2026-11-01", "RC", 40, 4), snap("2026-11-01", TotalOrg, 70, 7),
		snap("2026-11-02", "RA", 10, 5, "HSA-1"), snap("2026-11-02", "RC", 40, 8, "HSA-1"), snap("2026-11-02", TotalOrg, 50, 13, "HSA-1"),
	}
	for _, tc := range []struct {
		name string
		keep []string
		want []Snapshot
	}{
		{"none", nil, nil},
		{"one", []string{"RB"}, []Snapshot{snap("2026-11-01", "RB", 20, 2), snap("2026-11-01", TotalOrg, 20, 2)}},
		{"two, one a day", []string{"RA", "RB"}, []Snapshot{
			snap("2026-11-01", "RA", 10, 1), snap("2026-11-01", "RB", 20, 2), snap("2026-11-01", TotalOrg, 30, 3),
			snap("2026-11-02", "RA", 10, 5, "HSA-1"), snap("2026-11-02", TotalOrg, 10, 5, "HSA-1"),
		}},
		{"all", []string{"RA", "RB", "RC"}, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ScopeHistory(all, func(org string) bool {
				for _, k := range tc.keep {
					if k == org {
						return true
					}
				}
				return false
			})
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestDaily(t *testing.T) {
	all := []Snapshot{
		snap("2026-10-31", "RA", 10, 0), snap("2026-11-01", "RA", 10, 1),
		snap("2026-11-02", "RA", 10, 5, "HSA-1"), snap("2026-11-03", "RA", 10, 6, "HSA-1"),
	}
	d := NewDaily(all, day("2026-11-01"), day("2026-11-02").Add(10*time.Hour))
	if d.From != "2026-11-01" || d.To != "2026-11-02" || len(d.Snapshots) != 2 || !reflect.DeepEqual(d.Alerts, []string{"HSA-1"}) {
		t.Fatalf("NewDaily: %+v", d)
	}
	var b strings.Builder
	if err := WriteDaily(&b, d, FormatCSV); err != nil {
		t.Fatal(err)
	}
	want := "day,org,devices,on_target,supported,hsa-1_affected,hsa-1_compliant\n2026-11-01,RA,10,1,1,,\n2026-11-02,RA,10,5,5,10,5\n"
	if b.String() != want {
		t.Errorf("CSV:\n%s\nwant\n%s", b.String(), want)
	}
	if open := NewDaily(all, day("0001-01-01"), day("2026-11-03")); open.From != "" || len(open.Snapshots) != 4 {
		t.Errorf("from the start: %+v", open)
	}
}
