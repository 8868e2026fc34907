// Package golden compares what a test wrote with a file under testdata,
// or rewrites the file when the test runs with -update: the one place a
// package's golden files are checked, so each says only what it writes.
package golden

import (
	"flag"
	"os"
	"testing"
)

// update rewrites the golden files of the package under test: go test
// ./PKG -update (only for an intended change; review the diff).
var update = flag.Bool("update", false, "rewrite golden files")

// Check compares got with the file at path (relative to the package
// under test), or rewrites the file under -update.
func Check(t testing.TB, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}
