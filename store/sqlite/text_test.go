package sqlite_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// TestCreatedOrgsAreChecked imports organisation names an operator could
// not type into org add: a terminal escape and 500 KB of text. Both are
// refused, naming the org_name column, with the value cut short, and no
// organisation is created. (A 5 MB name is refused sooner, as a record
// over format.MaxRecordBytes.)
func TestCreatedOrgsAreChecked(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, "")
	huge := strings.Repeat("N", 500<<10)
	text := "hostname,org,org_name\npc1.raa.nhs.uk,RAA,\"Trust\x1b]0;pwned\x07\"\npc2.rab.nhs.uk,RAB," + huge + "\n"
	_, err := importText(t, s, "o.csv", text, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"})
	want := []string{
		`o.csv:2: column "org_name": "Trust\x1b]0;pwned\a" holds U+001B at byte 5`,
		`o.csv:3: column "org_name": "` + strings.Repeat("N", 64) + `"… (512000 bytes) is longer than the limit of 200 bytes`,
	}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %.500v\nwant it to contain %s", err, w)
		}
	}
	if err != nil && len(err.Error()) > 1000 {
		t.Errorf("error is %d bytes long", len(err.Error()))
	}
	for _, code := range []string{"RAA", "RAB"} {
		if _, err := s.Organisation(ctx, code); !errors.Is(err, errkind.NotFound) {
			t.Errorf("%s: %v, want not found", code, err)
		}
	}
	if err := s.CreateOrganisation(ctx, &inventory.Organisation{Code: "RAC", Name: "\x1b[2JTrust", TimeZone: "UTC"}); !errors.Is(err, errkind.Invalid) {
		t.Errorf("CreateOrganisation with an escape in the name: %v", err)
	}
}
