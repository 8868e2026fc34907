package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/plugintest"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

// hasControl reports whether s holds a C0 or C1 control character other
// than a line break, which would reach the terminal as it is.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) })
}

func TestPluginInstallRefusesNames(t *testing.T) {
	s := newScript(t)
	env := func(k string) string { return s.env[k] }
	for _, tc := range []struct{ name, want string }{
		{"WINRM", `"WINRM": the name winrm is reserved`},
		{"winrm", `"winrm": the name winrm is reserved`},
		{"ssh\x1b[31m", `"ssh\x1b[31m": control characters are not allowed`},
		{"ssh\nerror: fake", `"ssh\nerror: fake": control characters are not allowed`},
		{"Ssh", `"Ssh": 'S' is not allowed`},
	} {
		var o, e bytes.Buffer
		// The name is refused before the file is looked at.
		code := run(context.Background(), []string{"plugin", "install", "/nonexistent/plugin", "--name", tc.name}, strings.NewReader(""), &o, &e, env)
		if code != exitUsage || !strings.Contains(e.String(), tc.want) || hasControl(e.String()) {
			t.Errorf("install --name %q: exit %d, stderr %q; want exit %d and %q", tc.name, code, e.String(), exitUsage, tc.want)
		}
	}
}

func TestPluginListQuotesInvalidNames(t *testing.T) {
	s := newScript(t)
	// A name registered before names were checked.
	st, err := sqlite.Open(context.Background(), s.env["RINGMASTER_DB"], sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Plugins().InstallPlugin(context.Background(), host.Registration{Name: "evil\x1b[2J", Path: "/opt/evil\x1b]0;x\a", SHA256: strings.Repeat("0", 64)}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	var o, e bytes.Buffer
	if code := run(context.Background(), []string{"plugin", "list"}, strings.NewReader(""), &o, &e, func(k string) string { return s.env[k] }); code != 0 {
		t.Fatalf("plugin list: exit %d: %s", code, e.String())
	}
	if out := o.String(); hasControl(out) || !strings.Contains(out, `"evil\x1b[2J"`) || !strings.Contains(out, "invalid name") || !strings.Contains(out, `"/opt/evil\x1b]0;x\a"`) {
		t.Fatalf("plugin list wrote:\n%q", out)
	}
}

// A file that never completes the handshake is refused within
// --start-timeout, not after go-plugin's minute and whatever its children
// take to exit.
func TestPluginInstallRefusesNonPluginsPromptly(t *testing.T) {
	s := newScript(t)
	dir := plugintest.Dir(t)
	for _, tc := range []struct{ name, body, want string }{
		{"silent", "#!/bin/sh\nsleep 300\n", "did not speak the Ringmaster plugin protocol: it wrote no handshake within 1s (if it is a plugin that needs longer to start, raise --start-timeout)"},
		{"chatty", "#!/bin/sh\necho 'hello \033[2J'\nsleep 300\n", `did not speak the Ringmaster plugin protocol: it wrote "hello \x1b[2J" where the handshake belongs`},
	} {
		path := filepath.Join(dir, tc.name)
		if err := os.WriteFile(path, []byte(tc.body), 0o755); err != nil {
			t.Fatal(err)
		}
		var o, e bytes.Buffer
		began := time.Now()
		code := run(context.Background(), []string{"plugin", "install", path, "--start-timeout", "1s"}, strings.NewReader(""), &o, &e, func(k string) string { return s.env[k] })
		if took := time.Since(began); took > 15*time.Second {
			t.Errorf("install %s: refused after %v", tc.name, took)
		}
		if code != 1 || !strings.Contains(e.String(), path+" "+tc.want) || hasControl(e.String()) || strings.Contains(e.String(), "Unrecognized remote plugin message") {
			t.Errorf("install %s: exit %d, stderr %q; want exit 1 and %q", tc.name, code, e.String(), path+" "+tc.want)
		}
	}
}
