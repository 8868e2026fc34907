package credential

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ringmaster.key")
	k, created, err := LoadOrCreateKey(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	sealed := k.Seal("estate-admin", "S3cret!")
	if strings.Contains(string(sealed), "S3cret!") {
		t.Fatal("sealed bytes contain the secret")
	}
	k2, created, err := LoadOrCreateKey(path)
	if err != nil || created {
		t.Fatalf("reload: %v %v", created, err)
	}
	if got, err := k2.Open("estate-admin", sealed); err != nil || got != "S3cret!" {
		t.Fatalf("open: %q %v", got, err)
	}
	// Bound to its name, and to the key.
	if _, err := k2.Open("other", sealed); !errors.Is(err, ErrSealed) {
		t.Fatalf("open under another name: %v", err)
	}
	other, _, _ := LoadOrCreateKey(filepath.Join(t.TempDir(), "other.key"))
	if _, err := other.Open("estate-admin", sealed); !errors.Is(err, ErrSealed) {
		t.Fatalf("open with another key: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := k2.Open("estate-admin", sealed); !errors.Is(err, ErrSealed) {
		t.Fatalf("open altered bytes: %v", err)
	}
}

func TestBadKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	_ = os.WriteFile(path, []byte("not hex"), 0o600)
	if _, _, err := LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "64 hexadecimal") {
		t.Fatalf("bad key file: %v", err)
	}
}

func TestNeverPrintsTheSecret(t *testing.T) {
	c := Credential{Name: "n", Username: "u", Secret: "hunter2"}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("formatted credential shows the secret: %s", s)
		}
	}
}
