package credentials_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/credential"
	"github.com/ringmaster-fleet/ringmaster/credentials"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

func open(t *testing.T) (*sqlite.Credentials, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "r.db"), sqlite.Options{Now: func() time.Time { return time.Unix(1e9, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.Credentials(), dir
}

func add(t *testing.T, s *sqlite.Credentials, key, name string) (bool, error) {
	t.Helper()
	ctx := context.Background()
	k, created, err := credentials.Sealing(ctx, s, key)
	if err != nil {
		return created, err
	}
	return created, credentials.Add(ctx, s, k, key, credential.Credential{Name: name, Username: "u", Secret: "p"})
}

func TestSealingPolicy(t *testing.T) {
	tests := []struct {
		name    string
		second  func(dir, key string) string // the key file the second add uses
		created bool
		err     func(error) bool
	}{
		{"the same key again", func(_, key string) string { return key }, false, func(err error) bool { return err == nil }},
		{"no key file once credentials are stored", func(dir, _ string) string { return filepath.Join(dir, "none.key") }, false,
			func(err error) bool {
				var kc *credentials.KeyCountError
				return errors.As(err, &kc) && kc.Credentials == 1 && errors.Is(err, fs.ErrNotExist)
			}},
		{"another key", func(dir, _ string) string {
			other := filepath.Join(dir, "other.key")
			if _, err := credential.CreateKey(other); err != nil {
				panic(err)
			}
			return other
		}, false, func(err error) bool {
			var km *credential.KeyMismatchError
			return errors.As(err, &km)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := open(t)
			key := filepath.Join(dir, "r.db.key")
			created, err := add(t, s, key, "first")
			if err != nil || !created {
				t.Fatalf("first add: created %v, %v", created, err)
			}
			if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("key file: %v, %v", st, err)
			}
			created, err = add(t, s, tt.second(dir, key), "second")
			if created != tt.created || !tt.err(err) {
				t.Fatalf("second add: created %v, err %v", created, err)
			}
		})
	}
}

func TestReadSecret(t *testing.T) {
	tests := []struct{ in, want string }{
		{"pw\n", "pw"},
		{"pw\r\n", "pw"},
		{"pw", "pw"},
		{"pw\n\n", "pw\n"},
		{strings.Repeat("x", 5000), strings.Repeat("x", 4096)},
	}
	for _, tt := range tests {
		got, err := credentials.ReadSecret(strings.NewReader(tt.in))
		if err != nil || got != tt.want {
			t.Errorf("ReadSecret(%.10q) = %.10q, %v", tt.in, got, err)
		}
	}
}
