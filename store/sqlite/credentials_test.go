package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// TestCredentialKeyCheckOfAnOldDatabase: a database from before key check
// values (its credential_key row absent) refuses a new credential until
// the first key that opens one of its credentials is recorded. The
// conformance suite walks the rest of the key check's life.
func TestCredentialKeyCheckOfAnOldDatabase(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, "")
	c := s.Credentials()
	key := []byte("check value of key B............")
	if err := c.AddCredential(ctx, "three", "u", []byte("sealed"), key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SQL().ExecContext(ctx, `DELETE FROM credential_key`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		step      string
		do        func() error
		wantErr   error
		wantCheck []byte
		wantCreds int
	}{
		{"a database from before check values", func() error { return nil }, nil, nil, 1},
		{"adding before a key opened one", func() error { return c.AddCredential(ctx, "four", "u", []byte("sealed"), key) }, errkind.Conflict, nil, 1},
		{"a key opened one", func() error { return c.RecordKeyCheck(ctx, key) }, nil, key, 1},
		{"then adding", func() error { return c.AddCredential(ctx, "four", "u", []byte("sealed"), key) }, nil, key, 2},
	}
	for _, tt := range tests {
		err := tt.do()
		if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
			t.Fatalf("%s: %v, want %v", tt.step, err, tt.wantErr)
		}
		check, n, err := c.KeyCheck(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(check, tt.wantCheck) || n != tt.wantCreds {
			t.Fatalf("%s: check %q with %d credentials, want %q with %d", tt.step, check, n, tt.wantCheck, tt.wantCreds)
		}
	}
}
