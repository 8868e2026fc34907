package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/internal/ctxtest"
)

// TestCancelledCommands cancels alert add (of an alert naming 5,000
// updates) and the reports at every point they look at their context,
// until they are let finish. database/sql also looks from goroutines of
// its own, at moments the test does not choose, so a cancellation may
// come after the work is done; either way a command either fails with the
// cancellation, leaving nothing changed, or does all its work: alert add
// stores the alert with its updates watched or neither, and a report
// writes all of what an uncancelled one writes, never part.
func TestCancelledCommands(t *testing.T) {
	s := newScript(t)
	os.WriteFile("inv.csv", []byte("hostname,org,os_build,kbs\na1.raa.nhs.uk,RAA,10.0.18363,KB5104999\na2.raa.nhs.uk,RAA,10.0.18363,\n"), 0o644)
	kbs := make([]string, 5000)
	for i := range kbs {
		kbs[i] = fmt.Sprintf("KB51%05d", i)
	}
	os.WriteFile("big.yaml", []byte("id: HSA-BIG\ntitle: big\nissued: 2026-10-13\ndeadline: 2026-12-01\nremediation:\n  \"10.0.18363\": ["+strings.Join(kbs, ", ")+"]\n"), 0o644)
	if code := s.run("inventory", "import", "inv.csv", "--create-orgs"); code != 0 {
		t.Fatal(s.out.String())
	}
	env := func(k string) string { return s.env[k] }
	call := func(ctx context.Context, args ...string) (int, string, string) {
		var o, e bytes.Buffer
		code := run(ctx, args, strings.NewReader(""), &o, &e, env)
		return code, o.String(), e.String()
	}
	// stored says whether HSA-BIG is stored and how many updates are watched.
	stored := func() (bool, int) {
		_, list, _ := call(context.Background(), "alert", "list")
		db, err := sql.Open("sqlite", "test.db")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM watched_kbs`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return strings.Contains(list, "HSA-BIG"), n
	}
	// cancel runs args with a cancellation at every look from the first,
	// checking each outcome with check, until a run finishes uncancelled.
	cancel := func(check func(n, code int, stdout, stderr string), args ...string) {
		t.Helper()
		for n := 1; ; n++ {
			if n > 1000 {
				t.Fatalf("%s: not finished after 1,000 cancellations", strings.Join(args, " "))
			}
			ctx := ctxtest.NewCountdown(context.Background(), n)
			code, o, e := call(ctx, args...)
			if code != 0 && !strings.Contains(e, "context canceled") {
				t.Fatalf("%s, cancelled at look %d: exit %d\n%s", strings.Join(args, " "), n, code, e)
			}
			check(n, code, o, e)
			if !ctx.Fired() {
				t.Logf("%s: finished at look %d", strings.Join(args, " "), n)
				return
			}
		}
	}

	cancel(func(n, code int, _, _ string) {
		if ok, watched := stored(); ok != (code == 0) || watched != map[bool]int{true: 5000, false: 0}[ok] {
			t.Fatalf("alert add cancelled at look %d: exit %d, stored %v, %d updates watched", n, code, ok, watched)
		}
		if code == 0 { // stored: the next tries must start afresh
			if c, _, e := call(context.Background(), "alert", "remove", "HSA-BIG"); c != 0 {
				t.Fatal(e)
			}
		}
	}, "alert", "add", "-f", "big.yaml")
	if c, _, e := call(context.Background(), "alert", "add", "-f", "big.yaml"); c != 0 {
		t.Fatal(e)
	}
	for _, args := range [][]string{
		{"report", "alerts", "-o", "csv"},
		{"report", "scorecard"},
		{"report", "progress", "--by", "site"},
		{"alert", "show", "HSA-BIG"},
		{"report", "snapshot"},
	} {
		_, want, _ := call(context.Background(), args...)
		cancel(func(n, code int, stdout, _ string) {
			if code == 0 && stdout != want {
				t.Fatalf("%s cancelled at look %d wrote\n%s\nwant\n%s", strings.Join(args, " "), n, stdout, want)
			}
		}, args...)
	}
}
