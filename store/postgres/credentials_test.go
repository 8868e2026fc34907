package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/pgtest"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// TestCredentialRemovedWhileTakenIntoUse races removing credentials with
// organisations taking them as their default from another node: each
// credential ends either removed and used by none, or kept and used.
func TestCredentialRemovedWhileTakenIntoUse(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a, b := open(t, url, clock), open(t, url, clock)
	const n = 40
	for i := range n {
		if err := a.Inventory().CreateOrganisation(ctx, &inventory.Organisation{Code: fmt.Sprintf("R%02d", i), Name: "Trust", TimeZone: "UTC"}); err != nil {
			t.Fatal(err)
		}
		if err := a.Credentials().AddCredential(ctx, fmt.Sprintf("c%02d", i), "svc", []byte("sealed"), []byte("check")); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			err := a.Credentials().RemoveCredential(ctx, fmt.Sprintf("c%02d", i))
			if err != nil && !errors.Is(err, errkind.InUse) {
				t.Errorf("remove c%02d: %v", i, err)
			}
		}
	})
	wg.Go(func() {
		for i := range n {
			err := b.Credentials().SetOrganisationCredential(ctx, fmt.Sprintf("R%02d", i), fmt.Sprintf("c%02d", i))
			if err != nil && !errors.Is(err, errkind.NotFound) {
				t.Errorf("set R%02d's credential: %v", i, err)
			}
		}
	})
	wg.Wait()
	orgs, err := a.Inventory().Organisations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range orgs {
		if o.Credential == "" {
			continue
		}
		if _, err := a.Credentials().Credential(ctx, o.Credential); err != nil {
			t.Errorf("organisation %s uses credential %s: %v", o.Code, o.Credential, err)
		}
	}
}
