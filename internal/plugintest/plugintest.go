// Package plugintest gives tests a directory for plugin files that
// plugins/host accepts. The host refuses a plugin that anyone but root and
// the user running Ringmaster could replace, which includes any file under
// a shared directory such as /tmp (mode 1777), where t.TempDir() and
// os.MkdirTemp("", ...) put files. Rather than weaken that rule for tests,
// tests put plugins in a private directory beneath the first of these
// roots that the host accepts:
//
//  1. $RINGMASTER_TEST_PLUGIN_DIR, if set
//  2. os.TempDir() ($TMPDIR, else /tmp)
//  3. os.UserCacheDir() (e.g. ~/.cache)
package plugintest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/plugins/host"
)

// EnvDir names the variable that chooses the root for plugin directories.
const EnvDir = "RINGMASTER_TEST_PLUGIN_DIR"

// Dir returns a new private directory (0700) in which plugin files pass
// host.CheckFile's checks; it is removed when the test ends.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := MkdirTemp()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// MkdirTemp is Dir for TestMain: the caller removes the directory.
func MkdirTemp() (string, error) {
	var roots []string
	if d := os.Getenv(EnvDir); d != "" {
		roots = append(roots, d)
	}
	roots = append(roots, os.TempDir())
	if d, err := os.UserCacheDir(); err == nil {
		roots = append(roots, d)
	}
	var problems []error
	for _, root := range roots {
		dir, err := tryRoot(root)
		if err == nil {
			return dir, nil
		}
		problems = append(problems, err)
	}
	return "", fmt.Errorf("no directory for test plugins that the plugin host accepts; set %s to a directory that only you can write, beneath directories only root or you can write: %w",
		EnvDir, errors.Join(problems...))
}

// tryRoot makes a private directory beneath root and checks that a plugin
// file in it would be accepted.
func tryRoot(root string) (string, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(root, "ringmaster-plugins-")
	if err != nil {
		return "", err
	}
	if dir, err = filepath.Abs(dir); err == nil {
		probe := filepath.Join(dir, "probe")
		if err = os.WriteFile(probe, nil, 0o755); err == nil {
			if _, err = host.CheckFile(probe); err == nil {
				return dir, os.Remove(probe)
			}
		}
	}
	os.RemoveAll(dir)
	return "", err
}
