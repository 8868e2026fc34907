package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/internal/plugintest"
	"github.com/ringmaster-fleet/ringmaster/plugins/examples/agent/fakeagent"
	"github.com/ringmaster-fleet/ringmaster/plugins/examples/ssh/fakessh"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/conformance"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/testdevice"
)

// buildPlugin builds the main package at pkg (relative to this package)
// into a directory the plugin host accepts.
func buildPlugin(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(plugintest.Dir(t), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = wd
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// pluginTest runs ringmaster plugin test with stdin.
func pluginTest(t *testing.T, s *script, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), append([]string{"plugin", "test"}, args...), strings.NewReader(stdin), &o, &e, func(k string) string { return s.env[k] })
	return code, o.String(), e.String()
}

// Both example plugins, and the built-in executor, pass every check of
// ringmaster plugin test: the SSH and agent ones against their fake
// servers in front of the test device, the built-in one against the
// simulated WinRM device.
func TestPluginTestPassesTheExamples(t *testing.T) {
	s := newScript(t)
	srv, err := fakessh.Start(testdevice.New(testdevice.Spec{}), "admin", "Ssh-Pa55")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := os.WriteFile("known_hosts", []byte(srv.KnownHosts()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	agent, err := fakeagent.StartTLS(testdevice.New(testdevice.Spec{}), "agent-token-0123")
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	if err := os.WriteFile("agent-ca.pem", agent.CACertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, stdin string
		args        []string
	}{
		{"builtin winrm", "", []string{"winrm"}},
		{"ssh example", "Ssh-Pa55", []string{buildPlugin(t, "../../plugins/examples/ssh"), "--address", srv.Addr(), "--username", "admin",
			"--password-stdin", "--option", "known_hosts=@known_hosts"}},
		{"agent example", "agent-token-0123", []string{buildPlugin(t, "../../plugins/examples/agent"), "--address", agent.Addr,
			"--https", "--ca-file", "agent-ca.pem", "--password-stdin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := pluginTest(t, s, tc.stdin, tc.args...)
			if code != 0 || strings.Contains(out, "FAIL") || !strings.Contains(out, "protocol version 1: 10 of 10 checks passed") {
				t.Fatalf("exit %d\n%s\nstderr: %s", code, out, errOut)
			}
			for _, check := range conformance.Checks() {
				if !strings.Contains(out, "PASS  "+check) {
					t.Errorf("no PASS line for %q:\n%s", check, out)
				}
			}
		})
	}
}

// A deliberately broken executor fails, and each check it breaks is named
// with why.
func TestPluginTestNamesEachBrokenCheck(t *testing.T) {
	s := newScript(t)
	bin := buildPlugin(t, "./testdata/brokenplugin")
	code, out, errOut := pluginTest(t, s, "", bin, "--prompt", "2s")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"FAIL  info ", "Info must name the executor and its version",
		"FAIL  probe facts ", `facts: OS build "22H2" is not major.minor.build`,
		"FAIL  exec stdout and streaming ", `Write-Output: stdout "ok"`,
		"FAIL  exit codes ", "no error; want one of kind command_failed",
		"FAIL  stderr ", "an unknown cmdlet's error is not on stderr",
		"FAIL  timeout honoured ", "no error; want one of kind timed_out",
		"FAIL  cancellation prompt ", "no error; want one of kind cancelled",
		"FAIL  unreachable typed ", "dial failed); want unreachable",
		"FAIL  bad credentials typed and secret-free ", "the error reveals a password",
		"FAIL  concurrent use ", `: "ok" <nil>`, "and 17 more of the 20 concurrent commands",
		"plugin broken , protocol version 1: 0 of 10 checks passed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if want := "failed 10 checks: info, probe facts, exec stdout and streaming, exit codes, stderr, timeout honoured, cancellation prompt, unreachable typed, bad credentials typed and secret-free, concurrent use"; !strings.Contains(errOut, want) {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s", out)
	}
}

func TestPluginTestRefusesBadInput(t *testing.T) {
	s := newScript(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"winrm", "--username", "u"}, "--username describes a device given with --address"},
		{[]string{"winrm", "--option", "a=b"}, "--option describes a device given with --address"},
		{[]string{"winrm", "--address", "nowhere"}, `--address "nowhere": want HOST:PORT`},
		{[]string{"winrm", "--address", "127.0.0.1:22"}, "--password-stdin"},
		{[]string{"no-such-plugin"}, "plugin no-such-plugin: not found"},
		{[]string{"./no/such/file"}, "no such file"},
	} {
		code, _, errOut := pluginTest(t, s, "", tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("plugin test %q: exit %d, stderr %q; want an error saying %q", tc.args, code, errOut, tc.want)
		}
	}
}
