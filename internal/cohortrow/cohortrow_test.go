package cohortrow

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// rows is a result set in memory.
type rows struct {
	data [][]any
	i    int
	err  error
}

func (r *rows) Next() bool { r.i++; return r.i <= len(r.data) }
func (r *rows) Err() error { return r.err }
func (r *rows) Scan(dest ...any) error {
	row := r.data[r.i-1]
	if len(row) != len(dest) {
		return errors.New("columns")
	}
	for i, v := range row {
		switch d := dest[i].(type) {
		case *string:
			*d = v.(string)
		case *int64:
			*d = v.(int64)
		case *int:
			*d = v.(int)
		}
	}
	return nil
}

func TestEach(t *testing.T) {
	sel, err := inventory.ParseSelector("org=RA")
	if err != nil {
		t.Fatal(err)
	}
	r := &rows{data: [][]any{
		{"RA", "s1", int64(10_000_000_019_045), "KB1,KB2", int64(20_000), int64(-1), 7},
		{"RA", "", int64(0), "?", int64(-1), int64(20_001), 2},
		{"RB", "s1", int64(6_000_001_007_601), "", int64(1), int64(1), 3}, // not selected
	}, err: errors.New("boom")}
	var got []inventory.Cohort
	var errs []error
	Each(r, sel, func(c inventory.Cohort, err error) bool {
		if err != nil {
			errs = append(errs, err)
		} else {
			got = append(got, c)
		}
		return true
	})
	day := func(d int64) time.Time { return time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(d)) }
	want := []inventory.Cohort{
		{Org: "RA", Site: "s1", Build: inventory.Version{Major: 10, Build: 19045}, KBsKnown: true, KBs: []string{"KB1", "KB2"}, SeenDay: day(20_000), Devices: 7},
		{Org: "RA", ObservedDay: day(20_001), Devices: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cohorts\n got %+v\nwant %+v", got, want)
	}
	if len(errs) != 1 || !errors.Is(errs[0], r.err) {
		t.Errorf("errors %v, want the rows' error once", errs)
	}
	if v := VersionFromKey(6_000_001_007_601); v != (inventory.Version{Major: 6, Minor: 1, Build: 7601}) {
		t.Errorf("VersionFromKey = %+v", v)
	}
}
