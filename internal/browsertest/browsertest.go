// Package browsertest gives tests that drive headless Chromium what they
// share: the browser found or the test skipped (failed where
// RINGMASTER_REQUIRE_CHROMIUM is set, as CI sets it), and where to leave
// screenshots and PDFs for a person to look at.
package browsertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Chromium returns the chromium binary's path (Debian's chromium), or
// skips the test without it unless RINGMASTER_REQUIRE_CHROMIUM is set.
func Chromium(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("RINGMASTER_REQUIRE_CHROMIUM") != "" {
			t.Fatalf("chromium is required: %v (apt-get install chromium)", err)
		}
		t.Skip("no chromium")
	}
	return bin
}

// Artifacts is where a test leaves what a person may want to look at:
// $RINGMASTER_ARTIFACTS (CI sets it), else a folder under the system's
// temporary directory. Unlike t.TempDir, it outlives the test.
func Artifacts(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("RINGMASTER_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "ringmaster-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
