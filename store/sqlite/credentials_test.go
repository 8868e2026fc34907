package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// TestCredentialKeyCheck walks the key check value through a database's
// life: recorded with the first credential, a credential under another key
// refused while any is stored, a new key taken once none is, and a
// database from before check values recording the first key that opens
// one of its credentials.
func TestCredentialKeyCheck(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, "")
	a, b := []byte("check value of key A............"), []byte("check value of key B............")
	exec := func(q string) func() error {
		return func() error { _, err := s.SQL().ExecContext(ctx, q); return err }
	}
	tests := []struct {
		step      string
		do        func() error
		wantErr   error
		wantCheck []byte
		wantCreds int
	}{
		{"a new database", func() error { return nil }, nil, nil, 0},
		{"first credential", func() error { return s.Credentials().AddCredential(ctx, "one", "u", []byte("sealed"), a) }, nil, a, 1},
		{"under another key", func() error { return s.Credentials().AddCredential(ctx, "two", "u", []byte("sealed"), b) }, errkind.Conflict, a, 1},
		{"without a key", func() error { return s.Credentials().AddCredential(ctx, "two", "u", []byte("sealed"), nil) }, errkind.Invalid, a, 1},
		{"under the same key", func() error { return s.Credentials().AddCredential(ctx, "two", "u", []byte("sealed"), a) }, nil, a, 2},
		{"same name", func() error { return s.Credentials().AddCredential(ctx, "two", "u", []byte("sealed"), a) }, errkind.Exists, a, 2},
		{"record another", func() error { return s.Credentials().RecordKeyCheck(ctx, b) }, errkind.Conflict, a, 2},
		{"record the same", func() error { return s.Credentials().RecordKeyCheck(ctx, a) }, nil, a, 2},
		{"remove them", func() error {
			return errors.Join(s.Credentials().RemoveCredential(ctx, "one"), s.Credentials().RemoveCredential(ctx, "two"))
		}, nil, a, 0},
		{"a new key once none is stored", func() error { return s.Credentials().AddCredential(ctx, "three", "u", []byte("sealed"), b) }, nil, b, 1},
		{"a database from before check values", exec(`DELETE FROM credential_key`), nil, nil, 1},
		{"adding before a key opened one", func() error { return s.Credentials().AddCredential(ctx, "four", "u", []byte("sealed"), b) }, errkind.Conflict, nil, 1},
		{"a key opened one", func() error { return s.Credentials().RecordKeyCheck(ctx, b) }, nil, b, 1},
		{"then adding", func() error { return s.Credentials().AddCredential(ctx, "four", "u", []byte("sealed"), b) }, nil, b, 2},
	}
	for _, tt := range tests {
		err := tt.do()
		if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
			t.Fatalf("%s: %v, want %v", tt.step, err, tt.wantErr)
		}
		check, n, err := s.Credentials().KeyCheck(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(check, tt.wantCheck) || n != tt.wantCreds {
			t.Fatalf("%s: check %q with %d credentials, want %q with %d", tt.step, check, n, tt.wantCheck, tt.wantCreds)
		}
	}
}
