package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/pgtest"
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

// TestDBCopy: db copy moves an SQLite estate into PostgreSQL, after which
// the reports read the same from either; it refuses what is not a copy
// into an empty PostgreSQL database.
func TestDBCopy(t *testing.T) {
	url := pgtest.URL(t)
	s := newScript(t)
	for _, line := range [][]string{
		{"inventory", "generate", "--devices", "500", "--orgs", "4", "--seed", "1", "--out", "estate.csv"},
		{"inventory", "import", "estate.csv", "--create-orgs"},
	} {
		if code := s.run(line...); code != 0 {
			t.Fatal(s.out.String())
		}
	}
	expect := func(code int, says string, args ...string) string {
		t.Helper()
		s.out.Reset()
		if got := s.run(args...); got != code || !strings.Contains(s.out.String(), says) {
			t.Fatalf("want exit %d saying %q:\n%s", code, says, s.out.String())
		}
		return s.out.String()
	}
	expect(2, "--to is required", "db", "copy")
	expect(2, "not a PostgreSQL database", "db", "copy", "--to", "other.db")
	expect(2, "the source must be an SQLite file", "db", "copy", "--from", url, "--to", url)
	expect(1, "does not exist", "db", "copy", "--from", "missing.db", "--to", url)
	// Only the inventory's tables exist yet: the file is read, never
	// migrated, so the copy names the command that brings it up to date.
	expect(1, "db migrate", "db", "copy", "--to", url)
	expect(0, "is up to date", "db", "migrate")
	if err := os.WriteFile("db-url", []byte(url+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := expect(0, "checked:", "db", "copy", "--from", "test.db", "--to", "@db-url")
	for _, want := range []string{"devices                500", "organisations          4", "rows: ", "device rollup: ", "campaign counts: ", "reports: "} {
		if !strings.Contains(out, want) {
			t.Errorf("db copy's output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ringmaster:ringmaster@") {
		t.Errorf("db copy printed the password:\n%s", out)
	}
	report := func(db string) string {
		s.out.Reset()
		if code := s.run("--db", db, "report", "scorecard", "-o", "json"); code != 0 {
			t.Fatal(s.out.String())
		}
		_, body, _ := strings.Cut(s.out.String(), "\n")
		return body
	}
	if a, b := report("test.db"), report(url); a != b {
		t.Errorf("the scorecard differs:\nSQLite:\n%s\nPostgreSQL:\n%s", a, b)
	}
	expect(1, "not empty", "db", "copy", "--to", url)
}
