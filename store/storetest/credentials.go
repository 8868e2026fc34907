package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/credential"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Credentials runs the credential store's conformance suite.
func Credentials(t *testing.T, open Open) {
	t.Run("KeyCheck", func(t *testing.T) { credentialsKeyCheck(t, open) })
	t.Run("ReadAndList", func(t *testing.T) { credentialsReadAndList(t, open) })
	t.Run("InUse", func(t *testing.T) { credentialsInUse(t, open) })
}

var keyA, keyB = []byte("check value of key A............"), []byte("check value of key B............")

// credentialsKeyCheck walks the key check value through a database's
// life: recorded with the first credential, a credential under another key
// refused while any is stored, a new key taken once none is.
func credentialsKeyCheck(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Credentials
	add := func(name string, check []byte) func() error {
		return func() error { return s.AddCredential(ctx, name, "u", []byte("sealed"), check) }
	}
	for _, tt := range []struct {
		step      string
		do        func() error
		wantErr   error
		wantCheck []byte
		wantCreds int
	}{
		{"a new database", func() error { return nil }, nil, nil, 0},
		{"first credential", add("one", keyA), nil, keyA, 1},
		{"under another key", add("two", keyB), errkind.Conflict, keyA, 1},
		{"without a key", add("two", nil), errkind.Invalid, keyA, 1},
		{"under the same key", add("two", keyA), nil, keyA, 2},
		{"same name", add("two", keyA), errkind.Exists, keyA, 2},
		{"record another", func() error { return s.RecordKeyCheck(ctx, keyB) }, errkind.Conflict, keyA, 2},
		{"record the same", func() error { return s.RecordKeyCheck(ctx, keyA) }, nil, keyA, 2},
		{"remove them", func() error { return errors.Join(s.RemoveCredential(ctx, "one"), s.RemoveCredential(ctx, "two")) }, nil, keyA, 0},
		{"a new key once none is stored", add("three", keyB), nil, keyB, 1},
	} {
		err := tt.do()
		if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
			t.Fatalf("%s: %v, want %v", tt.step, err, tt.wantErr)
		}
		check, n, err := s.KeyCheck(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(check, tt.wantCheck) || n != tt.wantCreds {
			t.Fatalf("%s: check %q with %d credentials, want %q with %d", tt.step, check, n, tt.wantCheck, tt.wantCreds)
		}
	}
}

// credentialsReadAndList: a credential reads back with its sealed secret
// byte for byte and the store's time (microseconds, UTC); the list is by
// name, with the organisations and the number of devices using each.
func credentialsReadAndList(t *testing.T, open Open) {
	clock := NewClock(zoned)
	st := open(t, clock.Now)
	s := st.Credentials
	sealed := []byte{0, 1, 2, 0xff, 'x'}
	for _, name := range []string{"zeta", "alpha"} {
		if err := s.AddCredential(ctx, name, name+"-user", sealed, keyA); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
	}
	c, err := s.Credential(ctx, "alpha")
	if err != nil || c.Name != "alpha" || c.Username != "alpha-user" || !bytes.Equal(c.Sealed, sealed) || !sameUTC(c.CreatedAt, zoned.Add(time.Second)) {
		t.Fatalf("credential alpha = %+v %v", c, err)
	}
	if _, err := s.Credential(ctx, "nope"); !errors.Is(err, errkind.NotFound) {
		t.Errorf("an unknown credential: %v, want errkind.NotFound", err)
	}
	for _, code := range []string{"RAA", "RAB", "RAC"} {
		if err := st.Inventory.CreateOrganisation(ctx, &inventory.Organisation{Code: code, Name: code, TimeZone: "UTC"}); err != nil {
			t.Fatal(err)
		}
	}
	for org, cred := range map[string]string{"RAA": "zeta", "RAC": "zeta", "RAB": "alpha"} {
		if err := s.SetOrganisationCredential(ctx, org, cred); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := importText(t, st.Inventory, "d.csv", "hostname,org,credential\na.raa.nhs.uk,RAA,alpha\nb.raa.nhs.uk,RAA,alpha\nc.rab.nhs.uk,RAB,\n",
		start, inventory.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	list, err := s.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []credential.Stored{{Name: "alpha", Username: "alpha-user", Orgs: []string{"RAB"}, Devices: 2},
		{Name: "zeta", Username: "zeta-user", Orgs: []string{"RAA", "RAC"}, Devices: 0}}
	if len(list) != len(want) {
		t.Fatalf("credentials = %+v, want %+v", list, want)
	}
	for i, c := range list {
		w := want[i]
		if c.Name != w.Name || c.Username != w.Username || !slices.Equal(c.Orgs, w.Orgs) || c.Devices != w.Devices || c.CreatedAt.IsZero() {
			t.Errorf("credential %d = %+v, want %+v", i, c, w)
		}
	}
	if o, err := st.Inventory.Organisation(ctx, "RAB"); err != nil || o.Credential != "alpha" {
		t.Errorf("organisation RAB = %+v %v, want credential alpha", o, err)
	}
	for what, err := range map[string]error{
		"an unknown organisation's": s.SetOrganisationCredential(ctx, "RZZ", "alpha"),
		"an unknown credential":     s.SetOrganisationCredential(ctx, "RAA", "nope"),
	} {
		if !errors.Is(err, errkind.NotFound) {
			t.Errorf("set %s: %v, want errkind.NotFound", what, err)
		}
	}
	if o, _ := st.Inventory.Organisation(ctx, "RAA"); o.Credential != "zeta" {
		t.Errorf("a refused change left RAA's credential %q", o.Credential)
	}
}

// credentialsInUse: a credential an organisation or a device uses cannot
// be removed, and stays; once neither does, it can, once.
func credentialsInUse(t *testing.T, open Open) {
	st := open(t, NewClock(start).Now)
	s := st.Credentials
	if err := s.AddCredential(ctx, "svc", "u", []byte("sealed"), keyA); err != nil {
		t.Fatal(err)
	}
	if err := st.Inventory.CreateOrganisation(ctx, &inventory.Organisation{Code: "RAA", Name: "A", TimeZone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOrganisationCredential(ctx, "RAA", "svc"); err != nil {
		t.Fatal(err)
	}
	if _, err := importText(t, st.Inventory, "d.csv", "hostname,org,credential\na.raa.nhs.uk,RAA,svc\n", start, inventory.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	inUse := func(step string) {
		t.Helper()
		if err := s.RemoveCredential(ctx, "svc"); !errors.Is(err, errkind.InUse) {
			t.Fatalf("%s: remove: %v, want errkind.InUse", step, err)
		}
		if _, err := s.Credential(ctx, "svc"); err != nil {
			t.Fatalf("%s: a refused removal removed it: %v", step, err)
		}
	}
	inUse("used by an organisation and a device")
	if err := s.SetOrganisationCredential(ctx, "RAA", ""); err != nil {
		t.Fatal(err)
	}
	inUse("used by a device")
	if _, err := st.Inventory.RemoveDevices(ctx, inventory.MustParseSelector("hostname=a.raa.nhs.uk")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOrganisationCredential(ctx, "RAA", "svc"); err != nil {
		t.Fatal(err)
	}
	inUse("used by an organisation")
	if err := s.SetOrganisationCredential(ctx, "RAA", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveCredential(ctx, "svc"); err != nil {
		t.Fatalf("remove a credential nothing uses: %v", err)
	}
	if err := s.RemoveCredential(ctx, "svc"); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("remove it again: %v, want errkind.NotFound", err)
	}
}
