package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/store"
)

// TestDBCheck: a file whose device pages are damaged still answers a
// report read from the rollup, and db check finds the damage.
func TestDBCheck(t *testing.T) {
	s := newScript(t)
	if code := s.run("inventory", "generate", "--devices", "3000", "--orgs", "5", "--seed", "1", "--out", "estate.csv"); code != 0 {
		t.Fatal(s.out.String())
	}
	if code := s.run("inventory", "import", "estate.csv", "--create-orgs"); code != 0 {
		t.Fatal(s.out.String())
	}
	if code := s.run("db", "check"); code != 0 || !strings.HasSuffix(s.out.String(), "ok\n[exit 0]\n\n") {
		t.Fatalf("check a sound file:\n%s", s.out.String())
	}
	a := &app{getenv: func(k string) string { return s.env[k] }, now: time.Now}
	st, err := a.open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.(*store.SQLite).SQL().ExecContext(t.Context(), "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	a.close()
	f, err := os.OpenFile("test.db", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	// Damage ten pages in the middle of the file, where the device rows
	// are; the schema and the rollup sit in earlier pages.
	junk := []byte(strings.Repeat("\xde\xad\xbe\xef", 4096/4*10))
	if _, err := f.WriteAt(junk, fi.Size()/2/4096*4096); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s.out.Reset()
	if code := s.run("db", "check"); code != 1 || !strings.Contains(s.out.String(), "malformed") && !strings.Contains(s.out.String(), "damaged") {
		t.Fatalf("check a damaged file:\n%s", s.out.String())
	}
}
