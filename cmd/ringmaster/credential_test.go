package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCredentialKeys walks the key file through what goes wrong with it:
// a mistyped RINGMASTER_KEY_FILE, another key, a key file others can read,
// a database from before key check values. Reading credentials (as exec,
// probe and run do) never creates a key; adding one creates a key only
// while none is stored; every refusal names the key file.
func TestCredentialKeys(t *testing.T) {
	s := newScript(t)
	dir, _ := os.Getwd()
	keyFile := "test.db.key" // the default: the database path plus .key
	typo := filepath.Join(dir, "tset.db.key")
	other := filepath.Join(dir, "other.key")
	s.run("org", "add", "RXX", "--name", "Example", "--timezone", "Europe/London")
	os.WriteFile("d.csv", []byte("hostname,org,credential\npc1.rxx.nhs.uk,RXX,svc\npc2.rxx.nhs.uk,RXX,svc2\n"), 0o644)
	s.run("inventory", "import", "d.csv")

	env := func(keyFile string) func(string) string {
		return func(k string) string {
			if k == "RINGMASTER_KEY_FILE" {
				return keyFile
			}
			return s.env[k]
		}
	}
	// add is credential add NAME under the key file ("": the default).
	add := func(key, name string) func() (int, string) {
		return func() (int, string) {
			var o, e bytes.Buffer
			code := run(context.Background(), []string{"credential", "add", name, "--username", "u", "--password-stdin"},
				strings.NewReader("Key-Secret-"+name), &o, &e, env(key))
			return code, e.String()
		}
	}
	// unseal opens a device's credential as exec, probe and run do, without
	// reaching the device.
	unseal := func(key, hostname string) func() (int, string) {
		return func() (int, string) {
			a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: env(key), now: time.Now,
				log: slog.New(slog.DiscardHandler)}
			defer a.close()
			ctx := context.Background()
			r, err := a.resolver(ctx, targetFlags{})
			if err != nil {
				return 1, err.Error()
			}
			if _, _, err := r.Device(ctx, hostname); err != nil {
				return 1, err.Error()
			}
			return 0, ""
		}
	}
	do := func(f func()) func() (int, string) { return func() (int, string) { f(); return 0, "" } }
	chmod := func(path string, mode os.FileMode) func() (int, string) {
		return do(func() {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
		})
	}
	forgetCheck := do(func() { // as a database from before key check values
		db, err := sql.Open("sqlite", "test.db")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`DELETE FROM credential_key`); err != nil {
			t.Fatal(err)
		}
	})
	mismatch := func(path string) []string {
		return []string{"key file " + path + " does not match the key the stored credentials were sealed with"}
	}

	steps := []struct {
		name     string
		do       func() (int, string)
		wantCode int
		want     []string // in the error
		absent   string   // a file that must not exist afterwards
	}{
		{"read before any key", unseal("", "pc1.rxx.nhs.uk"), 1, []string{"credential svc: not found"}, keyFile},
		{"first credential creates the key", add("", "svc"), 0, []string{"note: created a new key file test.db.key (mode 0600)"}, ""},
		{"read", unseal("", "pc1.rxx.nhs.uk"), 0, nil, ""},
		{"read with a mistyped key file", unseal(typo, "pc1.rxx.nhs.uk"), 1,
			[]string{"key file " + typo + " does not exist", "1 stored credential cannot be opened", "RINGMASTER_KEY_FILE"}, typo},
		{"add with a mistyped key file", add(typo, "svc2"), 1,
			[]string{"key file " + typo + " does not exist", "holds 1 credential sealed with another key", "RINGMASTER_KEY_FILE"}, typo},
		{"make another key", do(func() {
			if err := os.WriteFile(other, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}), 0, nil, ""},
		{"read with another key", unseal(other, "pc1.rxx.nhs.uk"), 1, mismatch(other), ""},
		{"add with another key", add(other, "svc2"), 1, mismatch(other), ""},
		{"key file readable by others", chmod(keyFile, 0o644), 0, nil, ""},
		{"read with it", unseal("", "pc1.rxx.nhs.uk"), 1, []string{"key file " + keyFile + " has mode 0644", "chmod 600 " + keyFile}, ""},
		{"add with it", add("", "svc2"), 1, []string{"key file " + keyFile + " has mode 0644", "chmod 600 " + keyFile}, ""},
		{"key file writable by the group", chmod(keyFile, 0o620), 0, nil, ""},
		{"read with that", unseal("", "pc1.rxx.nhs.uk"), 1, []string{"has mode 0620", "chmod 600 " + keyFile}, ""},
		{"fixed", chmod(keyFile, 0o600), 0, nil, ""},
		{"second credential", add("", "svc2"), 0, nil, ""},
		{"read it", unseal("", "pc2.rxx.nhs.uk"), 0, nil, ""},

		{"a database from before check values", forgetCheck, 0, nil, ""},
		{"read with another key", unseal(other, "pc1.rxx.nhs.uk"), 1, []string{"credential svc: cannot open the sealed secret", "key file " + other}, ""},
		{"add with another key", add(other, "svc3"), 1, mismatch(other), ""},
		{"read with the key records its check value", unseal("", "pc1.rxx.nhs.uk"), 0, nil, ""},
		{"then another key is refused outright", unseal(other, "pc2.rxx.nhs.uk"), 1, mismatch(other), ""},
		{"a database from before check values, again", forgetCheck, 0, nil, ""},
		{"add with the key records it", add("", "svc3"), 0, nil, ""},
		{"and another key is refused", add(other, "svc4"), 1, mismatch(other), ""},
	}
	for _, st := range steps {
		code, stderr := st.do()
		if code != st.wantCode {
			t.Fatalf("%s: exit %d, want %d: %s", st.name, code, st.wantCode, stderr)
		}
		for _, w := range st.want {
			if !strings.Contains(stderr, w) {
				t.Fatalf("%s: %q lacks %q", st.name, stderr, w)
			}
		}
		if st.absent != "" {
			if _, err := os.Stat(st.absent); err == nil {
				t.Fatalf("%s: created %s", st.name, st.absent)
			}
		}
	}

	// Once no credential is stored, a new key may take over.
	if code := s.run("inventory", "remove", "pc1.rxx.nhs.uk", "pc2.rxx.nhs.uk"); code != 0 {
		t.Fatalf("inventory remove:\n%s", s.out.String())
	}
	for _, name := range []string{"svc", "svc2", "svc3"} {
		if code := s.run("credential", "remove", name); code != 0 {
			t.Fatalf("credential remove %s:\n%s", name, s.out.String())
		}
	}
	if code, stderr := add(other, "fresh")(); code != 0 {
		t.Fatalf("add under a new key once none is stored: %s", stderr)
	}
	if code, stderr := add("", "stale")(); code != 1 || !strings.Contains(stderr, mismatch(keyFile)[0]) {
		t.Fatalf("add under the old key: %d %s", code, stderr)
	}
}
