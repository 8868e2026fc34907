// Package npmtest gives tests the Node.js tools they drive (the generated
// API client's toolchain, axe-core in the browser tests): node and npm
// found or the test skipped (failed where RINGMASTER_REQUIRE_NODE is set,
// as CI sets it), and a folder's locked npm packages installed once per
// version of its lock file, outside the repository.
package npmtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Tools returns node's and npm's paths, or skips the test where they are
// absent, unless RINGMASTER_REQUIRE_NODE is set.
func Tools(t testing.TB) (node, npm string) {
	t.Helper()
	node, err1 := exec.LookPath("node")
	npm, err2 := exec.LookPath("npm")
	if err := errors.Join(err1, err2); err != nil {
		if os.Getenv("RINGMASTER_REQUIRE_NODE") != "" {
			t.Fatalf("RINGMASTER_REQUIRE_NODE is set but Node.js is missing: %v", err)
		}
		t.Skipf("Node.js and npm are needed (%v); set RINGMASTER_REQUIRE_NODE=1 to fail instead", err)
	}
	return node, npm
}

// Install installs the npm packages of dir (its package.json and
// package-lock.json, name naming the set) with npm ci, once per version
// of those files: in the user's cache directory, so that a later run
// reuses them. It returns the directory holding node_modules.
func Install(t testing.TB, npm, dir, name string) string {
	t.Helper()
	h := sha256.New()
	var files [2][]byte
	for i, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		files[i] = b
		h.Write(b)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	out := filepath.Join(cache, "ringmaster", name+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(out, ".installed")); err == nil {
		return out
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	// Installed beside it, then renamed: a run stopped half way, or one
	// beside this, never leaves a partial install under its name.
	tmp, err := os.MkdirTemp(filepath.Dir(out), "install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	for i, f := range []string{"package.json", "package-lock.json"} {
		if err := os.WriteFile(filepath.Join(tmp, f), files[i], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("installing the npm packages of %s into %s", dir, out)
	Run(t, tmp, nil, 10*time.Minute, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--prefer-offline")
	if err := os.WriteFile(filepath.Join(tmp, ".installed"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, out); err != nil {
		if _, serr := os.Stat(filepath.Join(out, ".installed")); serr != nil {
			t.Fatal(err)
		}
	}
	return out
}

// Run runs a command of the Node.js toolchain in dir and returns its
// output; it fails the test with the output if the command fails.
func Run(t testing.TB, dir string, env []string, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"NO_COLOR=1", "NO_UPDATE_NOTIFIER=1"}, env...)...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	t.Logf("%s %s: %v", filepath.Base(name), args[0], time.Since(start).Round(time.Millisecond))
	return string(out)
}
