package storetest

import (
	"bytes"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// inventoryConnections walks connection profiles through their life: the
// default and an organisation's set, read back field for field (the CA
// bundle byte for byte, the store's time), replaced whole, refused when
// they name an unknown organisation or credential or break a field's
// rule (changing nothing), cleared (an organisation's credential stays,
// the default's goes), gone with their organisation, and a credential the
// default uses kept from removal.
func inventoryConnections(t *testing.T, open Open) {
	clock := NewClock(zoned)
	st := open(t, clock.Now)
	s := st.Inventory
	addOrg(t, s, "RAA")
	addOrg(t, s, "RAB")
	for _, name := range []string{"svc", "lab"} {
		if err := st.Credentials.AddCredential(ctx, name, name+"-user", []byte("sealed"), keyA); err != nil {
			t.Fatal(err)
		}
	}
	ca := []byte("-----BEGIN CERTIFICATE-----\nMIIB\x00\xff\n-----END CERTIFICATE-----\n")
	def := inventory.Connection{HTTPS: true, CACert: ca, CAName: "estate-ca.pem", Credential: "svc"}
	raa := inventory.Connection{Org: "raa", Executor: "SSH", Port: 2222, Auth: "Basic", AllowBasicWithoutTLS: true,
		Options: map[string]string{"known_hosts": "pc1 ssh-ed25519 AAAA"}, Credential: "lab"}
	for _, c := range []*inventory.Connection{&def, &raa} {
		if err := s.SetConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
	}
	same := func(what string, got, want inventory.Connection) {
		t.Helper()
		if got.Org != want.Org || got.Executor != want.Executor || got.HTTPS != want.HTTPS || got.Port != want.Port || got.Auth != want.Auth ||
			got.AllowBasicWithoutTLS != want.AllowBasicWithoutTLS || !bytes.Equal(got.CACert, want.CACert) || got.CAName != want.CAName ||
			!maps.Equal(got.Options, want.Options) || got.Credential != want.Credential || !sameUTC(got.UpdatedAt, want.UpdatedAt) {
			t.Errorf("%s = %+v, want %+v", what, got, want)
		}
	}
	wantRAA := inventory.Connection{Org: "RAA", Executor: "ssh", Port: 2222, Auth: "basic", AllowBasicWithoutTLS: true,
		Options: raa.Options, Credential: "lab", UpdatedAt: zoned.Add(time.Second)}
	wantDef := def
	wantDef.UpdatedAt = zoned
	got, err := s.Connection(ctx, "")
	same("the default", got, wantDef)
	if err != nil {
		t.Fatal(err)
	}
	got, err = s.Connection(ctx, "Raa")
	same("RAA's", got, wantRAA)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := s.Organisation(ctx, "RAA"); o.Credential != "lab" {
		t.Errorf("RAA's profile set its credential %q, want lab", o.Credential)
	}
	if _, err := s.Connection(ctx, "RAB"); !errors.Is(err, errkind.NotFound) {
		t.Errorf("RAB, which has none: %v, want errkind.NotFound", err)
	}
	list, err := s.Connections(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("Connections = %+v, %v", list, err)
	}
	same("list[0]", list[0], wantDef)
	same("list[1]", list[1], wantRAA)

	// Refused: nothing changes.
	for what, c := range map[string]inventory.Connection{
		"an unknown organisation":  {Org: "RZZ"},
		"an unknown credential":    {Org: "RAA", Credential: "nope"},
		"a port out of range":      {Org: "RAA", Port: 70000},
		"an executor with a space": {Org: "RAA", Executor: "my exec"},
		"a CA bundle without name": {Org: "RAA", CACert: ca},
	} {
		wantErr := errkind.Invalid
		if what == "an unknown organisation" || what == "an unknown credential" {
			wantErr = errkind.NotFound
		}
		if err := s.SetConnection(ctx, &c); !errors.Is(err, wantErr) {
			t.Errorf("set %s: %v, want %v", what, err, wantErr)
		}
	}
	got, _ = s.Connection(ctx, "RAA")
	same("RAA's after refusals", got, wantRAA)

	// Replaced whole.
	clock.Advance(time.Second)
	if err := s.SetConnection(ctx, &inventory.Connection{Org: "RAA", HTTPS: true}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Connection(ctx, "RAA")
	same("RAA's replaced", got, inventory.Connection{Org: "RAA", HTTPS: true, UpdatedAt: zoned.Add(3 * time.Second)})

	// A credential the default uses is in use.
	if err := st.Credentials.RemoveCredential(ctx, "svc"); !errors.Is(err, errkind.InUse) {
		t.Errorf("remove the default's credential: %v, want errkind.InUse", err)
	}
	// Cleared: an organisation's credential stays; the default's goes.
	if err := s.SetConnection(ctx, &inventory.Connection{Org: "RAB", Credential: "lab"}); err != nil {
		t.Fatal(err)
	}
	for _, org := range []string{"RAB", ""} {
		if err := s.ClearConnection(ctx, org); err != nil {
			t.Fatalf("clear %q: %v", org, err)
		}
		if _, err := s.Connection(ctx, org); !errors.Is(err, errkind.NotFound) {
			t.Errorf("%q after clearing: %v, want errkind.NotFound", org, err)
		}
		if err := s.ClearConnection(ctx, org); !errors.Is(err, errkind.NotFound) {
			t.Errorf("clear %q twice: %v, want errkind.NotFound", org, err)
		}
	}
	if o, _ := s.Organisation(ctx, "RAB"); o.Credential != "lab" {
		t.Errorf("clearing RAB's profile cleared its credential: %q", o.Credential)
	}
	if err := st.Credentials.RemoveCredential(ctx, "svc"); err != nil {
		t.Errorf("remove svc once the default is cleared: %v", err)
	}
	// A profile goes with its organisation.
	if err := s.RemoveOrganisation(ctx, "RAA"); err != nil {
		t.Fatal(err)
	}
	if list, err := s.Connections(ctx); err != nil || len(list) != 0 {
		t.Errorf("after removing RAA: %+v, %v", list, err)
	}
}
