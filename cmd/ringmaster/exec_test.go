package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/internal/plugintest"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// TestMain lets this test binary serve the built-in executors when the
// host starts it as a plugin (os.Executable() is the test binary here).
func TestMain(m *testing.M) {
	// The crash test runs this binary as ringmaster itself.
	if os.Getenv("RINGMASTER_TEST_MAIN") == "1" || len(os.Args) > 1 && os.Args[1] == "executor-plugin" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
	}
	os.Exit(m.Run())
}

func TestExec(t *testing.T) {
	f, err := fleetsim.Start(context.Background(), fleetsim.Config{Username: "svc", Password: "Exec-Secret-1", HTTPS: true,
		FirstAddress: net.IPv4(127, byte(100+rand.IntN(150)), byte(1+rand.IntN(250)), 1),
		Devices: []device.Spec{{Hostname: "pc000001.rxx.nhs.uk", Caption: "Microsoft Windows 10 Enterprise", Edition: "Enterprise",
			Build: "10.0.19045", UBR: 3803, DiskFreeGB: 40, RAMGB: 8}}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := newScript(t)
	if err := os.WriteFile("ca.pem", f.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	csv := "hostname,org,address\npc000001.rxx.nhs.uk,RXX," + f.Endpoints()[0].Address(true) + "\n"
	if err := os.WriteFile("d.csv", []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	s.run("org", "add", "RXX", "--name", "Example", "--timezone", "Europe/London")
	s.run("inventory", "import", "d.csv")
	var out, errOut bytes.Buffer
	env := func(k string) string { return s.env[k] }
	if code := run(context.Background(), []string{"credential", "add", "svc", "--username", "svc", "--password-stdin"},
		strings.NewReader("Exec-Secret-1\n"), &out, &errOut, env); code != 0 {
		t.Fatalf("credential add: %s", errOut.String())
	}
	s.run("org", "set-credential", "RXX", "svc")

	execute := func(args ...string) (string, string, int) {
		var o, e bytes.Buffer
		code := run(context.Background(), append([]string{"exec"}, args...), strings.NewReader(""), &o, &e, env)
		return o.String(), e.String(), code
	}
	if o, e, code := execute("PC000001.rxx.nhs.uk", "--ca-file", "ca.pem", "--", "hostname"); code != 0 || o != "PC000001\r\n" {
		t.Fatalf("exec hostname: %q %q %d\n%s", o, e, code, s.out.String())
	}
	if o, _, code := execute("pc000001.rxx.nhs.uk", "--ca-file", "ca.pem", "--shell", "cmd", "--", "ver"); code != 0 || !strings.Contains(o, "10.0.19045.3803") {
		t.Fatalf("exec ver: %q %d", o, code)
	}
	_, e, code := execute("pc000001.rxx.nhs.uk", "--ca-file", "ca.pem", "--", "exit", "3")
	if code != 1 || !strings.Contains(e, "command_failed (exit code 3)") {
		t.Fatalf("exec exit 3: %q %d", e, code)
	}
	_, e, code = execute("pc000001.rxx.nhs.uk", "--", "hostname") // no CA: the certificate cannot be verified
	if code != 1 || !strings.Contains(e, "tls") || strings.Contains(e, "Exec-Secret-1") ||
		!strings.Contains(e, "checked against the system's trusted roots") || !strings.Contains(e, "ringmaster org set-connection RXX --ca-file FILE") {
		t.Fatalf("exec without the CA: %q %d", e, code)
	}
	// The CA set once in the organisation's connection profile.
	s.run("org", "set-connection", "RXX", "--ca-file", "ca.pem")
	if o, e, code := execute("pc000001.rxx.nhs.uk", "--", "hostname"); code != 0 || o != "PC000001\r\n" {
		t.Fatalf("exec through the profile: %q %q %d\n%s", o, e, code, s.out.String())
	}
	// A flag overrides it, and a failure names the flag's CA.
	_, e, code = execute("pc000001.rxx.nhs.uk", "--ca-file", "/etc/ssl/certs/ca-certificates.crt", "--", "hostname")
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err == nil && (code != 1 || !strings.Contains(e, "given with the command (--ca-file)")) {
		t.Fatalf("exec with another --ca-file: %q %d", e, code)
	}
	s.run("org", "set-connection", "RXX", "--clear")
	if _, e, code = execute("pc000001.rxx.nhs.uk", "hostname"); code != 2 {
		t.Fatalf("exec without --: %q %d", e, code)
	}

	playbook := func(args ...string) (string, string, int) {
		var o, e bytes.Buffer
		code := run(context.Background(), append([]string{"playbook", "run"}, args...), strings.NewReader(""), &o, &e, env)
		return o.String(), e.String(), code
	}
	o, e, code := playbook("discover", "--device", "pc000001.rxx.nhs.uk", "--ca-file", "ca.pem")
	if code != 0 || !strings.Contains(o, "==> steps: system disk\n") || !strings.HasSuffix(o, "outcome: succeeded (completed)\n") {
		t.Fatalf("playbook run discover: %q %q %d", o, e, code)
	}
	o, e, code = playbook("win10-feature-update", "--device", "pc000001.rxx.nhs.uk", "--ca-file", "ca.pem", "--param", `media_source=\\dp01\media$\Win10`)
	if code != 0 || !strings.HasSuffix(o, "outcome: skipped (already_compliant) at step \"already on the target build\": the device is on the target build or later\n") {
		t.Fatalf("playbook run win10-feature-update on 22H2: %q %q %d", o, e, code)
	}
	failing := "name: failing\nversion: 1.0.0\nparams:\n  - {name: code, type: int, default: 0}\nsteps:\n  - name: patch\n    cmd: exit /b 5\n    expect: {fail: {5: access_denied}}\n"
	if err := os.WriteFile("failing.yaml", []byte(failing), 0o644); err != nil {
		t.Fatal(err)
	}
	o, e, code = playbook("failing.yaml", "--device", "pc000001.rxx.nhs.uk", "--ca-file", "ca.pem")
	if code != 1 || !strings.Contains(o, `outcome: failed (access_denied) at step "patch"`) || !strings.Contains(e, "access_denied") {
		t.Fatalf("playbook run failing: %q %q %d", o, e, code)
	}
	if _, e, code = playbook("failing.yaml", "--device", "pc000001.rxx.nhs.uk", "--param", "code=five", "--param", "nope=1"); code != 1 ||
		!strings.Contains(e, `parameter code: "five" is not a whole number`) {
		t.Fatalf("playbook run with a bad param: %q %d", e, code)
	}
}

func TestProbe(t *testing.T) {
	f, err := fleetsim.Start(context.Background(), fleetsim.Config{Username: "svc", Password: "Probe-Secret-1",
		FirstAddress: net.IPv4(127, byte(100+rand.IntN(150)), byte(1+rand.IntN(250)), 1),
		Faults:       fleetsim.FaultSpec{Share: map[string]float64{fleetsim.FaultUnreachable: 0.25, fleetsim.FaultBadCreds: 0.25}}, Seed: 2,
		Devices: []device.Spec{
			{Hostname: "pc1.rxx.nhs.uk", Caption: "Microsoft Windows 10 Enterprise", Edition: "Enterprise", Build: "10.0.19045", UBR: 3803, DiskFreeGB: 40, RAMGB: 8, Model: "OptiPlex 7090", KBs: []string{"KB5034441"}},
			{Hostname: "pc2.rxx.nhs.uk", Caption: "Microsoft Windows 7 Professional", Edition: "Professional", Build: "6.1.7601", UBR: 24544, DiskFreeGB: 30, RAMGB: 4},
			{Hostname: "pc3.rxx.nhs.uk", Caption: "Microsoft Windows 10 Enterprise", Edition: "Enterprise", Build: "10.0.17763", UBR: 1935, DiskFreeGB: 20, RAMGB: 8},
			{Hostname: "pc4.rxx.nhs.uk", Caption: "Microsoft Windows 10 Enterprise", Edition: "Enterprise", Build: "10.0.18363", UBR: 1556, DiskFreeGB: 10, RAMGB: 16},
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := newScript(t)
	csv := "hostname,org,address,os_build\n"
	for _, ep := range f.Endpoints() {
		csv += ep.Machine.Hostname() + ",RXX," + ep.Address(false) + ",6.1.7601\n" // a stale build the probe corrects
	}
	if err := os.WriteFile("d.csv", []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	s.run("org", "add", "RXX", "--name", "Example", "--timezone", "Europe/London")
	s.run("inventory", "import", "d.csv")
	env := func(k string) string { return s.env[k] }
	var out, errOut bytes.Buffer
	run(context.Background(), []string{"credential", "add", "svc", "--username", "svc", "--password-stdin"}, strings.NewReader("Probe-Secret-1"), &out, &errOut, env)
	s.run("org", "set-credential", "RXX", "svc")
	out.Reset()
	errOut.Reset()
	code := run(context.Background(), []string{"--log-level", "debug", "probe", "-l", "org=RXX", "--concurrency", "4"}, strings.NewReader(""), &out, &errOut, env)
	if code != 0 || out.String() != "probed 4 devices: 2 answered, 1 auth_failed, 1 unreachable\n" {
		t.Fatalf("probe: %d %q %q", code, out.String(), errOut.String())
	}
	// Debug logs (the host's, the plugin's routed through slog, every
	// failure's error) are captured here: none may carry the password.
	if !strings.Contains(errOut.String(), "probe failed") {
		t.Fatalf("expected debug logs of the failures, got:\n%s", errOut.String())
	}
	if strings.Contains(errOut.String()+out.String(), "Probe-Secret-1") {
		t.Fatalf("the secret reached the logs or output:\n%s", errOut.String())
	}
	for _, ep := range f.Endpoints() {
		if len(ep.Faults) > 0 {
			continue
		}
		var o bytes.Buffer
		run(context.Background(), []string{"inventory", "show", ep.Machine.Hostname(), "-o", "json"}, strings.NewReader(""), &o, &errOut, env)
		want := map[string]string{"pc1.rxx.nhs.uk": `"10.0.19045"`, "pc2.rxx.nhs.uk": `"6.1.7601"`, "pc3.rxx.nhs.uk": `"10.0.17763"`, "pc4.rxx.nhs.uk": `"10.0.18363"`}[ep.Machine.Hostname()]
		if !strings.Contains(o.String(), want) || !strings.Contains(o.String(), `"last_seen": "20`) {
			t.Errorf("%s after probe:\n%s", ep.Machine.Hostname(), o.String())
		}
	}
}

func TestPluginCommands(t *testing.T) {
	dir := plugintest.Dir(t) // not t.TempDir(): plugins under /tmp are refused
	bin := filepath.Join(dir, "flaky")
	if out, err := exec.Command("go", "build", "-o", bin, "../../plugins/host/testdata/flaky").CombinedOutput(); err != nil {
		t.Fatalf("build the test plugin: %v\n%s", err, out)
	}
	s := newScript(t)
	env := func(k string) string { return s.env[k] }
	runOut := func(args ...string) (string, string, int) {
		var o, e bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(""), &o, &e, env)
		return o.String(), e.String(), code
	}
	// In a directory others can write, it is refused before it runs.
	shared := filepath.Join(dir, "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o757); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(bin, filepath.Join(shared, "flaky")); err != nil {
		t.Fatal(err)
	}
	if _, e, code := runOut("plugin", "install", filepath.Join(shared, "flaky")); code != 1 ||
		!strings.Contains(e, "directory "+shared+" (mode 0757") || !strings.Contains(e, "fix: chmod go-w "+shared) {
		t.Fatalf("install from a directory others can write: %q %d", e, code)
	}
	if o, e, code := runOut("plugin", "install", bin); code != 0 || !strings.Contains(o, "installed plugin flaky 1.0.0") {
		t.Fatalf("install: %q %q %d", o, e, code)
	}
	if o, _, _ := runOut("plugin", "list"); !strings.Contains(o, "flaky") || !strings.Contains(o, "ok") || !strings.Contains(o, "winrm") {
		t.Fatalf("list: %q", o)
	}
	// Its directory opened to others: listed as refused, naming the directory.
	if err := os.Chmod(dir, 0o757); err != nil {
		t.Fatal(err)
	}
	if o, _, _ := runOut("plugin", "list"); !strings.Contains(o, "refused: "+dir+" has mode 0757") {
		t.Fatalf("list with the plugin's directory writable by others: %q", o)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Tamper with the binary: listed as changed, and refused.
	b, _ := os.ReadFile(bin)
	if err := os.WriteFile(bin, append(b, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	if o, _, _ := runOut("plugin", "list"); !strings.Contains(o, "changed: refused until reinstalled") {
		t.Fatalf("list after tampering: %q", o)
	}
	s.run("org", "add", "RXX", "--name", "Example", "--timezone", "Europe/London")
	if err := os.WriteFile("d.csv", []byte("hostname,org,credential\npc1.rxx.nhs.uk,RXX,c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.run("inventory", "import", "d.csv")
	var o, e bytes.Buffer
	run(context.Background(), []string{"credential", "add", "c", "--username", "u", "--password-stdin"}, strings.NewReader("pw-secret-9"), &o, &e, env)
	if _, e, code := runOut("exec", "pc1.rxx.nhs.uk", "--executor", "flaky", "--", "hi"); code != 1 || !strings.Contains(e, "does not match its registered SHA-256") {
		t.Fatalf("exec with a tampered plugin: %q %d", e, code)
	}
	// Reinstalled, it runs.
	runOut("plugin", "install", bin)
	if o, e, code := runOut("exec", "pc1.rxx.nhs.uk", "--executor", "flaky", "--", "hi"); code != 0 || o != "hi" {
		t.Fatalf("exec through the plugin: %q %q %d", o, e, code)
	}
	if _, _, code := runOut("plugin", "remove", "flaky"); code != 0 {
		t.Fatal("remove failed")
	}
	if _, e, code := runOut("exec", "pc1.rxx.nhs.uk", "--executor", "flaky", "--", "hi"); code != 1 || !strings.Contains(e, "not found") {
		t.Fatalf("exec with a removed plugin: %q %d", e, code)
	}
}
