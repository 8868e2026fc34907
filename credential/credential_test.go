package credential

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ringmaster.key")
	k, err := CreateKey(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := CreateKey(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("create over an existing key: %v", err)
	}
	sealed := k.Seal("estate-admin", "S3cret!")
	if strings.Contains(string(sealed), "S3cret!") {
		t.Fatal("sealed bytes contain the secret")
	}
	k2, err := LoadKey(path)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got, err := k2.Open("estate-admin", sealed); err != nil || got != "S3cret!" {
		t.Fatalf("open: %q %v", got, err)
	}
	// Bound to its name, and to the key.
	if _, err := k2.Open("other", sealed); !errors.Is(err, ErrSealed) {
		t.Fatalf("open under another name: %v", err)
	}
	other, err := CreateKey(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Open("estate-admin", sealed); !errors.Is(err, ErrSealed) {
		t.Fatalf("open with another key: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := k2.Open("estate-admin", sealed); !errors.Is(err, ErrSealed) {
		t.Fatalf("open altered bytes: %v", err)
	}
}

// TestLoadKey checks that loading a key never creates one, and refuses a
// key file others may read or write, naming its mode and the fix.
func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "typo.key")
	if _, err := LoadKey(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("load a missing key: %v", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("loading a missing key created it")
	}
	tests := []struct {
		mode fs.FileMode
		ok   bool
	}{
		{0o600, true}, {0o400, true}, {0o640, false}, {0o620, false}, {0o604, false}, {0o602, false}, {0o644, false}, {0o666, false},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, fmt.Sprintf("k%04o.key", tt.mode))
		if _, err := CreateKey(path); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tt.mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKey(path)
		if tt.ok != (err == nil) {
			t.Errorf("mode %04o: %v", tt.mode, err)
			continue
		}
		var pe *PermissionError
		if !tt.ok && (!errors.As(err, &pe) || !strings.Contains(err.Error(), path) ||
			!strings.Contains(err.Error(), fmt.Sprintf("mode %04o", tt.mode)) || !strings.Contains(err.Error(), "chmod 600 "+path)) {
			t.Errorf("mode %04o: %v, want a *PermissionError naming the path, mode and chmod 600", tt.mode, err)
		}
	}
	if _, err := LoadKey(dir); err == nil {
		t.Error("a directory was taken as a key file")
	}
}

// TestKeyCheck checks that the check value tells one key from another and
// does not show the key.
func TestKeyCheck(t *testing.T) {
	dir := t.TempDir()
	k, err := CreateKey(filepath.Join(dir, "a.key"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadKey(filepath.Join(dir, "a.key"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := CreateKey(filepath.Join(dir, "b.key"))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Matches(k.Check()) || !k.Matches(again.Check()) {
		t.Error("the same key does not match its own check value")
	}
	if other.Matches(k.Check()) || k.Matches(other.Check()) || k.Matches(nil) {
		t.Error("another key matches the check value")
	}
	hexKey, err := os.ReadFile(filepath.Join(dir, "a.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := hex.DecodeString(strings.TrimSpace(string(hexKey)))
	if check := k.Check(); bytes.Contains(check, key[:8]) || strings.Contains(hex.EncodeToString(check), string(hexKey[:16])) {
		t.Error("the check value shows the key")
	}
}

func TestBadKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	_ = os.WriteFile(path, []byte("not hex"), 0o600)
	if _, err := LoadKey(path); err == nil || !strings.Contains(err.Error(), "64 hexadecimal") {
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
