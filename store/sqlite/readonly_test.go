package sqlite_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// TestReadOnlyFilesystem: a database on a filesystem mounted read-only (a
// snapshot, a backup mounted to look at) can be read, and writes fail with
// SQLite's read-only error rather than every command failing to open it.
// It mounts a tmpfs, so it needs root; skipped otherwise unless
// RINGMASTER_REQUIRE_MOUNT is set (CI sets it).
func TestReadOnlyFilesystem(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("RINGMASTER_REQUIRE_MOUNT") != "" {
			t.Fatalf("mount a tmpfs: %v: %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here (%v); set RINGMASTER_REQUIRE_MOUNT to make this fail", err)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	path := filepath.Join(dir, "ro.db")
	s := openStore(t, path)
	ctx := context.Background()
	if err := s.CreateOrganisation(ctx, &inventory.Organisation{Code: "RXX", Name: "Example Trust", TimeZone: "Europe/London"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount read-only: %v: %s", err, out)
	}
	ro := openStore(t, path)
	if !ro.ReadOnly() {
		t.Error("ReadOnly() = false on a read-only filesystem")
	}
	orgs, err := ro.Organisations(ctx)
	if err != nil || len(orgs) != 1 || orgs[0].Code != "RXX" {
		t.Fatalf("read organisations: %v %v", orgs, err)
	}
	err = ro.CreateOrganisation(ctx, &inventory.Organisation{Code: "RYY", Name: "Other", TimeZone: "Europe/London"})
	if err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Fatalf("write on a read-only filesystem: err = %v", err)
	}
}
