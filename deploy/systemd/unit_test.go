// Package systemd_test checks the systemd units shipped in deploy/systemd:
// the keys the README's service steps and docs/security.md rely on, and,
// where systemd-analyze is installed, systemd's own verdict.
package systemd_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// unit reads a unit file's keys, section by section ("Service.User").
func unit(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: not a key=value line in a section: %q", path, line)
			}
			keys[section+"."+strings.TrimSpace(k)] = append(keys[section+"."+strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestRunUnit(t *testing.T) {
	const path = "ringmaster-run.service"
	keys := unit(t, path)
	has := func(key, want string) {
		t.Helper()
		for _, v := range keys[key] {
			if v == want || strings.HasPrefix(want, "~") && strings.Contains(v, want[1:]) {
				return
			}
		}
		t.Errorf("%s: %s = %q, want %q", path, key, keys[key], want)
	}
	for _, kv := range [][2]string{
		{"Service.User", "ringmaster"},
		{"Service.ExecStart", "~ringmaster run"},
		{"Service.Environment", "~RINGMASTER_DB="},
		{"Service.Environment", "~RINGMASTER_KEY_FILE="},
		{"Service.Restart", "on-failure"},
		{"Service.KillSignal", "SIGTERM"},
		{"Service.NoNewPrivileges", "yes"},
		{"Service.ProtectSystem", "strict"},
		{"Service.PrivateTmp", "yes"},
		{"Service.UMask", "0077"},
		{"Install.WantedBy", "multi-user.target"},
	} {
		has(kv[0], kv[1])
	}
	// run gives the scheduler 30 s to stop after SIGTERM: systemd must
	// wait longer before it kills.
	stop := keys["Service.TimeoutStopSec"]
	if len(stop) != 1 {
		t.Fatalf("TimeoutStopSec = %q", stop)
	}
	if d, err := time.ParseDuration(stop[0]); err != nil || d <= 30*time.Second {
		t.Errorf("TimeoutStopSec = %s, want over 30s (%v)", stop[0], err)
	}
	if strings.Contains(strings.Join(keys["Service.Environment"], " "), "PASSWORD") {
		t.Error("a password in the unit's environment")
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: keys checked only")
		return
	}
	// systemd checks that ExecStart is executable: point it at one.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), path)
	if err := os.WriteFile(copyPath, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/ringmaster", "/bin/true")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
