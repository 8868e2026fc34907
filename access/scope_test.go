package access_test

import (
	"errors"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// TestParseScope reads every kind of scope back as String wrote it, and
// refuses what is none.
func TestParseScope(t *testing.T) {
	for _, s := range []access.Scope{access.EstateScope(), access.RegionScope("north"), access.OrgScope("RXX"), access.OrgScope("ryy", "RXX", "RYY")} {
		got, err := access.ParseScope(s.String())
		if err != nil || got.String() != s.String() {
			t.Errorf("ParseScope(%q) = %v %v", s.String(), got, err)
		}
	}
	if got, err := access.ParseScope(" org: rxx , R-1 "); err != nil || got.String() != "org:R-1,RXX" {
		t.Errorf("ParseScope of lower-case, spaced codes = %v %v, want org:R-1,RXX", got, err)
	}
	for _, bad := range []string{"", "estate:x", "region:", "region:a,b", "org:", "org:RXX,", "org:-X", "org:R X", "everything"} {
		if _, err := access.ParseScope(bad); !errors.Is(err, errkind.Invalid) {
			t.Errorf("ParseScope(%q) = %v, want Invalid", bad, err)
		}
	}
}
