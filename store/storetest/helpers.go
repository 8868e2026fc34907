package storetest

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/ctxtest"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
)

// zoned is a moment with a fraction of a second in whole microseconds and
// in a zone other than UTC: stores keep every time to the microsecond and
// return it in UTC.
var zoned = time.Date(2027, 1, 12, 21, 30, 5, 123456000, time.FixedZone("UTC+1:30", 90*60))

// sameUTC says whether got is the moment want, in UTC.
func sameUTC(got, want time.Time) bool { return got.Equal(want) && got.Location() == time.UTC }

func second[T any](_ T, err error) error { return err }

// cancelAtEveryLook runs do with a context cancelled at its first look,
// then its second, and so on until do succeeds; after every failure,
// unchanged checks that do left the stores as they were. It returns the
// looks do took. A look after do's work is done (database/sql's own
// goroutines look too) may cancel nothing: success decides, not whether
// the countdown fired.
func cancelAtEveryLook(t *testing.T, do func(context.Context) error, unchanged func(look int)) int {
	t.Helper()
	for n := 1; ; n++ {
		c := ctxtest.NewCountdown(ctx, n)
		err := do(c)
		if err == nil {
			return n
		}
		if !c.Fired() {
			t.Fatalf("failed before its cancellation at look %d: %v", n, err)
		}
		unchanged(n)
		if n == 100_000 {
			t.Fatal("still cancelled after 100,000 looks at its context")
		}
	}
}

// importText imports a file's content, its format told by its name, with
// opts.Now defaulting to now.
func importText(t *testing.T, s InventoryStore, name, text string, now time.Time, opts inventory.ImportOptions) (inventory.ImportResult, error) {
	t.Helper()
	return importTextContext(ctx, t, s, name, text, now, opts)
}

func importTextContext(c context.Context, t *testing.T, s InventoryStore, name, text string, now time.Time, opts inventory.ImportOptions) (inventory.ImportResult, error) {
	t.Helper()
	r, err := format.NewReader(format.KindFromName(name), strings.NewReader(text), name, now)
	if err != nil {
		return inventory.ImportResult{}, err
	}
	if opts.Now.IsZero() {
		opts.Now = now
	}
	return s.Import(c, r, opts)
}

// update rewrites the suites' golden files (this package's testdata)
// from what the engine under test gives: go test ./store/sqlite -update.
var update = flag.Bool("update", false, "rewrite store/storetest's golden files")

// golden compares got with the file at path under this package's
// directory, or rewrites the file under -update.
func golden(t *testing.T, path, got string, want []byte) {
	t.Helper()
	if *update {
		_, self, _, _ := runtime.Caller(0)
		if err := os.WriteFile(filepath.Join(filepath.Dir(self), path), []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want == nil {
		t.Fatalf("%s is missing (run the engine's test with -update to create it)", path)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}
