package host_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/plugintest"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
)

// TestNotAPluginRefused starts files that are not Ringmaster plugins. Each
// must be refused within the start timeout (plus the time to start a
// process on a busy machine), with an error that names the file and says
// what it did, quoting anything it wrote, and none of go-plugin's raw
// diagnostics.
func TestNotAPluginRefused(t *testing.T) {
	const timeout = time.Second
	for _, tc := range []struct {
		name, body string
		want       string // in the error, after the path
		is         error
	}{
		// The shell waits for sleep, which holds stdout and stderr: only
		// killing the process group ends it.
		{"never handshakes", "#!/bin/sh\nsleep 300\n",
			" did not speak the Ringmaster plugin protocol: it wrote no handshake within 1s", host.ErrNotPlugin},
		{"prints garbage", "#!/bin/sh\nprintf 'Usage: frob \\033[31m[options]\\n'\nsleep 300\n",
			` did not speak the Ringmaster plugin protocol: it wrote "Usage: frob \x1b[31m[options]" where the handshake belongs`, host.ErrNotPlugin},
		{"prints a long line", "#!/bin/sh\nprintf '%0200d\\n' 0\nsleep 300\n",
			` did not speak the Ringmaster plugin protocol: it wrote "` + strings.Repeat("0", 80) + `"... where the handshake belongs`, host.ErrNotPlugin},
		{"exits at once", "#!/bin/sh\nexit 3\n",
			" did not speak the Ringmaster plugin protocol: it exited before the handshake", host.ErrNotPlugin},
		{"another protocol version", "#!/bin/sh\necho '1|99|unix|/nowhere|grpc|'\nsleep 300\n",
			" did not speak the Ringmaster plugin protocol: it is a plugin of protocol version 99 and this Ringmaster speaks version 1; rebuild it against a plugins/sdk of protocol version 1", host.ErrNotPlugin},
		{"not a program", "\x7fNOT\x00an executable\n",
			" cannot be executed: exec format error", syscall.ENOEXEC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(plugintest.Dir(t), "not-a-plugin")
			if err := os.WriteFile(path, []byte(tc.body), 0o755); err != nil {
				t.Fatal(err)
			}
			sum, err := host.CheckFile(path)
			if err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			_, err = host.Start(context.Background(), host.Spec{Name: "x", Path: path, SHA256: sum, StartTimeout: timeout}, nil)
			took := time.Since(began)
			if err == nil {
				t.Fatal("started")
			}
			msg := err.Error()
			if !errors.Is(err, tc.is) || !strings.Contains(msg, path+tc.want) {
				t.Errorf("error %q\nwant one that is %v and says %q", msg, tc.is, path+tc.want)
			}
			for _, raw := range []string{"\x1b", "\n", "Unrecognized remote plugin message", "This usually means", "Additional notes", "/proc/self/fd"} {
				if strings.Contains(msg, raw) {
					t.Errorf("error %q carries %q", msg, raw)
				}
			}
			var he *host.HandshakeError
			if errors.As(err, &he) && (he.Timeout != 0) != (tc.name == "never handshakes") {
				t.Errorf("HandshakeError.Timeout = %v", he.Timeout)
			}
			if errors.As(err, &he) && (he.Protocol == 99) != (tc.name == "another protocol version") {
				t.Errorf("HandshakeError.Protocol = %d", he.Protocol)
			}
			// Bounded by the timeout, not by the 300 s the script sleeps.
			if limit := timeout + 15*time.Second; took > limit {
				t.Errorf("refused after %v, want within %v", took, limit)
			}
		})
	}
}

// A process that left the plugin's process group escapes the kill and
// holds the plugin's stdout and stderr open; the start must still fail
// within its bound rather than wait for that process.
func TestEscapedChildDoesNotHoldStart(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("needs setsid(1)")
	}
	dir := plugintest.Dir(t)
	pidFile := filepath.Join(dir, "escaped.pid")
	path := filepath.Join(dir, "not-a-plugin")
	body := "#!/bin/sh\nsetsid sh -c 'echo $$ > " + pidFile + "; exec sleep 300' &\nsleep 300\n"
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	sum, err := host.CheckFile(path)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err = host.Start(context.Background(), host.Spec{Name: "x", Path: path, SHA256: sum, StartTimeout: time.Second}, nil)
	took := time.Since(began)
	if !errors.Is(err, host.ErrNotPlugin) {
		t.Fatalf("start: %v", err)
	}
	if _, statErr := os.Stat(pidFile); statErr != nil {
		t.Fatalf("the escaped process never started, so this proved nothing: %v", statErr)
	}
	if limit := 20 * time.Second; took > limit {
		t.Fatalf("refused after %v, want within %v", took, limit)
	}
}
