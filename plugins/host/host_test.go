package host_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/plugintest"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

var flakyBin string

func TestMain(m *testing.M) {
	// Started as a plugin of itself (TestSelfRunsThisExecutable).
	if len(os.Args) > 1 && os.Args[1] == "serve-self" {
		sdk.Serve(self{})
		os.Exit(0)
	}
	// Not os.MkdirTemp("", ...): the host refuses plugins under /tmp.
	dir, err := plugintest.MkdirTemp()
	if err != nil {
		panic(err)
	}
	flakyBin = filepath.Join(dir, "flaky")
	if out, err := exec.Command("go", "build", "-o", flakyBin, "./testdata/flaky").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// self is the executor this test binary serves when started as a plugin.
type self struct{}

func (self) Info(context.Context) (sdk.Info, error) { return sdk.Info{Name: "self", Version: "1"}, nil }

func (self) Probe(context.Context, sdk.Target) (sdk.ProbeResult, error) {
	return sdk.ProbeResult{}, nil
}

func (self) Exec(context.Context, sdk.Target, sdk.Command, func(sdk.Chunk)) (sdk.Result, error) {
	return sdk.Result{}, nil
}

// The built-in executors run this process's own executable: Spec.Path is
// only what the process is called, and is never opened.
func TestSelfRunsThisExecutable(t *testing.T) {
	p, err := host.Start(context.Background(), host.Spec{Name: "self", Self: true, Path: "/nonexistent/ringmaster", Args: []string{"serve-self"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if info, err := p.Info(context.Background()); err != nil || info.Name != "self" {
		t.Fatalf("info %+v %v", info, err)
	}
}

type logSink struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // signalled (without blocking) after each write
}

func newLogSink() *logSink { return &logSink{written: make(chan struct{}, 1)} }

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.buf.Write(p)
	select {
	case l.written <- struct{}{}:
	default:
	}
	return n, err
}

// waitFor waits until the logs hold text, failing t after timeout.
func (l *logSink) waitFor(t *testing.T, text string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for !strings.Contains(l.String(), text) {
		select {
		case <-l.written:
		case <-deadline:
			t.Fatalf("no %q in the logs within %s:\n%s", text, timeout, l.String())
		}
	}
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func start(t *testing.T, logs *logSink) *host.Plugin {
	t.Helper()
	sum, err := host.FileSHA256(flakyBin)
	if err != nil {
		t.Fatal(err)
	}
	var log *slog.Logger
	if logs != nil {
		log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	p, err := host.Start(context.Background(), host.Spec{Name: "flaky", Path: flakyBin, SHA256: sum}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestTamperedPluginRefused(t *testing.T) {
	_, err := host.Start(context.Background(), host.Spec{Name: "flaky", Path: flakyBin, SHA256: strings.Repeat("0", 64)}, nil)
	if !errors.Is(err, host.ErrChecksum) || !strings.Contains(err.Error(), "plugin install") {
		t.Fatalf("unregistered binary: %v", err)
	}
	// A binary changed after it was registered.
	copyBin := filepath.Join(plugintest.Dir(t), "flaky")
	b, _ := os.ReadFile(flakyBin)
	if err := os.WriteFile(copyBin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	sum, _ := host.FileSHA256(copyBin)
	if err := os.WriteFile(copyBin, append(b, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := host.Start(context.Background(), host.Spec{Name: "flaky", Path: copyBin, SHA256: sum}, nil); !errors.Is(err, host.ErrChecksum) {
		t.Fatalf("changed binary: %v", err)
	}
}

func TestCrashingPluginIsolatedAndRestarted(t *testing.T) {
	p := start(t, nil)
	ctx := context.Background()
	_, err := p.Exec(ctx, sdk.Target{Hostname: "pc1"}, sdk.Command{Script: "crash"}, nil)
	if !sdk.IsKind(err, sdk.Internal) {
		t.Fatalf("a crash: kind %q (%v), want internal", sdk.KindOf(err), err)
	}
	res, err := p.Exec(ctx, sdk.Target{Hostname: "pc1"}, sdk.Command{Script: "hello"}, nil)
	if err != nil || string(res.Stdout) != "hello" {
		t.Fatalf("after the crash: %q %v", res.Stdout, err)
	}
	if p.Restarts() != 1 {
		t.Fatalf("%d restarts, want 1", p.Restarts())
	}
}

func TestHangingPluginIsolated(t *testing.T) {
	p := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := p.Exec(ctx, sdk.Target{Hostname: "pc1"}, sdk.Command{Script: "hang"}, nil)
	if !sdk.IsKind(err, sdk.TimedOut) {
		t.Fatalf("a hang: kind %q (%v), want timed_out", sdk.KindOf(err), err)
	}
	res, err := p.Exec(context.Background(), sdk.Target{Hostname: "pc1"}, sdk.Command{Script: "still here"}, nil)
	if err != nil || string(res.Stdout) != "still here" {
		t.Fatalf("after the hang: %q %v", res.Stdout, err)
	}
}

func TestPluginLogsReachSlog(t *testing.T) {
	logs := newLogSink()
	p := start(t, logs)
	if _, err := p.Exec(context.Background(), sdk.Target{}, sdk.Command{Script: "log me"}, nil); err != nil {
		t.Fatal(err)
	}
	// The log line crosses the plugin's stderr asynchronously: wait for it
	// to be written, not for a guessed time.
	logs.waitFor(t, "running a command", 5*time.Second)
}

func TestPluginEnvironmentIsAllowListed(t *testing.T) {
	for name, value := range map[string]string{
		"RINGMASTER_KEY_FILE":   "/secret/key",
		"RINGMASTER_DB":         "/var/lib/ringmaster.db",
		"WINRM_PASSWORD":        "hunter2",
		"AWS_SECRET_ACCESS_KEY": "x",
		"HTTPS_PROXY":           "http://u:pw@proxy:3128",
		"LD_PRELOAD":            "/tmp/evil.so",
		"TZ":                    "Europe/London",
		"LC_TIME":               "en_GB.UTF-8",
	} {
		t.Setenv(name, value)
	}
	p := start(t, nil)
	res, err := p.Exec(context.Background(), sdk.Target{}, sdk.Command{Script: "env"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, name := range strings.Split(string(res.Stdout), "\n") {
		seen[name] = true
	}
	// go-plugin's own variables, then the allow-list.
	allowed := map[string]bool{sdk.Handshake.MagicCookieKey: true, "PLUGIN_MIN_PORT": true, "PLUGIN_MAX_PORT": true,
		"PLUGIN_PROTOCOL_VERSIONS": true, "PLUGIN_CLIENT_CERT": true,
		"PATH": true, "HOME": true, "TMPDIR": true, "TZ": true, "LANG": true, "LANGUAGE": true, "SSL_CERT_FILE": true, "SSL_CERT_DIR": true}
	for name := range seen {
		if !allowed[name] && !strings.HasPrefix(name, "LC_") {
			t.Errorf("the plugin saw %s", name)
		}
	}
	for _, name := range []string{"PATH", "TZ", "LC_TIME", sdk.Handshake.MagicCookieKey} {
		if !seen[name] {
			t.Errorf("the plugin did not get %s; it saw %q", name, res.Stdout)
		}
	}
}

func TestGarbageFromPluginIsTyped(t *testing.T) {
	p := start(t, nil)
	_, err := p.Exec(context.Background(), sdk.Target{Hostname: "pc1"}, sdk.Command{Script: "garbage"}, nil)
	if !sdk.IsKind(err, sdk.Protocol) {
		t.Fatalf("an unknown error kind: %q (%v), want protocol", sdk.KindOf(err), err)
	}
}
