package host_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/plugintest"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
)

var raceDuration = flag.Duration("plugin-race-duration", 3*time.Second,
	"how long TestPinnedPluginSwapRace swaps files under a starting plugin (e.g. 1m)")

// script writes an executable shell script that appends a line to marker
// when it runs, and returns its path and SHA-256. It never completes the
// plugin handshake: starting it fails, after it ran.
func script(t *testing.T, dir, name, marker string) (string, string) {
	t.Helper()
	path := filepath.Join(dir, name)
	body := fmt.Sprintf("#!/bin/sh\necho %s >> '%s'\n", name, marker)
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	sum, err := host.CheckFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, sum
}

// runs counts the lines scripts appended to marker.
func runs(t *testing.T, marker string) int {
	t.Helper()
	b, err := os.ReadFile(marker)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// A pinned "#!" script runs: its interpreter can open the verified file
// the host passes it (the reason it is passed as an inherited descriptor).
func TestPinnedScriptRuns(t *testing.T) {
	dir := plugintest.Dir(t)
	marker := filepath.Join(dir, "ran")
	path, sum := script(t, dir, "pinned", marker)
	_, err := host.Start(context.Background(), host.Spec{Name: "pinned", Path: path, SHA256: sum}, nil)
	if err == nil {
		t.Fatal("a script that never handshakes started")
	}
	if n := runs(t, marker); n != 1 {
		t.Fatalf("the pinned script ran %d times, want once (start: %v)", n, err)
	}
}

func TestUnsafePluginPathRefused(t *testing.T) {
	type setup struct {
		path    string // the plugin, as registered
		culprit string // the file or directory the error must name
	}
	euid := os.Geteuid()
	chown := func(t *testing.T, path string) {
		if euid != 0 {
			t.Skip("changing a file's owner needs root")
		}
		if err := os.Lchown(path, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir, plugin string) setup
		want  string // in the error
	}{
		{"file writable by others", func(t *testing.T, dir, plugin string) setup {
			chmod(t, plugin, 0o757)
			return setup{plugin, plugin}
		}, "(mode 0757, owner uid {uid}) is writable by others"},
		{"file writable by its group", func(t *testing.T, dir, plugin string) setup {
			chmod(t, plugin, 0o775)
			return setup{plugin, plugin}
		}, "is writable by its group, so the plugin could be replaced or changed behind its pin; fix: chmod go-w {plugin}"},
		{"file owned by another user", func(t *testing.T, dir, plugin string) setup {
			chown(t, plugin)
			return setup{plugin, plugin}
		}, "is owned by uid 65534"},
		{"directory writable by others", func(t *testing.T, dir, plugin string) setup {
			sub := mkdir(t, dir, "sub", 0o757)
			return setup{move(t, plugin, sub), sub}
		}, "is writable by others"},
		{"directory writable by its group, two levels up", func(t *testing.T, dir, plugin string) setup {
			sub := mkdir(t, dir, "sub", 0o775)
			return setup{move(t, plugin, mkdir(t, sub, "deeper", 0o755)), sub}
		}, "is writable by its group"},
		{"shared sticky directory like /tmp", func(t *testing.T, dir, plugin string) setup {
			sub := mkdir(t, dir, "tmp", 0o1777)
			return setup{move(t, plugin, sub), sub}
		}, "(mode 1777, owner uid {uid}) is writable by its group and by others, so the plugin could be replaced or changed behind its pin; fix: move the plugin"},
		{"directory owned by another user", func(t *testing.T, dir, plugin string) setup {
			sub := mkdir(t, dir, "sub", 0o755)
			chown(t, sub)
			return setup{move(t, plugin, sub), sub}
		}, "is owned by uid 65534"},
		{"symbolic link in a directory writable by others", func(t *testing.T, dir, plugin string) setup {
			sub := mkdir(t, dir, "links", 0o757)
			link := filepath.Join(sub, "plugin")
			symlink(t, plugin, link)
			return setup{link, sub}
		}, "is writable by others"},
		{"symbolic link to a file in a directory writable by others", func(t *testing.T, dir, plugin string) setup {
			sub := mkdir(t, dir, "shared", 0o757)
			target := move(t, plugin, sub)
			link := filepath.Join(dir, "plugin")
			symlink(t, "shared/"+filepath.Base(target), link)
			return setup{link, sub}
		}, "is writable by others"},
		{"symbolic link to a file writable by others", func(t *testing.T, dir, plugin string) setup {
			chmod(t, plugin, 0o777)
			link := filepath.Join(dir, "link")
			symlink(t, plugin, link)
			return setup{link, plugin}
		}, "file {plugin} (mode 0777"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := plugintest.Dir(t)
			marker := filepath.Join(dir, "ran")
			plugin, sum := script(t, dir, "plugin", marker)
			s := tc.setup(t, dir, plugin)
			want := strings.NewReplacer("{plugin}", plugin, "{uid}", fmt.Sprint(euid)).Replace(tc.want)
			check := func(what string, err error) {
				t.Helper()
				var ue *host.UnsafePathError
				if !errors.As(err, &ue) || ue.Path != s.culprit || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "fix: ") {
					t.Fatalf("%s %s: %v\nwant an *UnsafePathError naming %s and saying %q", what, s.path, err, s.culprit, want)
				}
			}
			_, err := host.CheckFile(s.path)
			check("CheckFile", err)
			_, err = host.Start(context.Background(), host.Spec{Name: "plugin", Path: s.path, SHA256: sum}, nil)
			check("Start", err)
			if n := runs(t, marker); n != 0 {
				t.Fatalf("the refused plugin ran %d times", n)
			}
		})
	}
}

// A FIFO put where the plugin was must be refused, not block the host.
func TestFIFOPluginRefused(t *testing.T) {
	path := filepath.Join(plugintest.Dir(t), "plugin")
	if err := syscall.Mkfifo(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := host.CheckFile(path); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a FIFO: %v", err)
	}
}

func TestRelativePluginPathRefused(t *testing.T) {
	if _, err := host.CheckFile("plugins/ssh"); err == nil || !strings.Contains(err.Error(), "must be absolute") {
		t.Fatalf("a relative path: %v", err)
	}
}

// TestPinnedPluginSwapRace starts a pinned plugin over and over while
// another goroutine swaps an unpinned one in and out of its path, by
// renaming a file into place and by re-pointing a symbolic link. The
// unpinned script must never run: each start either runs the pinned one
// or refuses what it opened. Run it longer with
//
//	go test ./plugins/host -run TestPinnedPluginSwapRace -plugin-race-duration=1m
func TestPinnedPluginSwapRace(t *testing.T) {
	for _, swap := range []struct {
		name  string
		place func(src, tmp string) error // make tmp stand for src; tmp is then renamed onto the plugin's path
	}{
		{"rename", os.Link},
		{"symlink", os.Symlink},
	} {
		t.Run(swap.name, func(t *testing.T) {
			dir := plugintest.Dir(t)
			pinnedRan, unpinnedRan := filepath.Join(dir, "pinned-ran"), filepath.Join(dir, "unpinned-ran")
			pinned, sum := script(t, dir, "pinned", pinnedRan)
			unpinned, _ := script(t, dir, "unpinned", unpinnedRan)
			path, tmp := filepath.Join(dir, "plugin"), filepath.Join(dir, "plugin.tmp")
			put := func(src string) error {
				if err := swap.place(src, tmp); err != nil {
					return err
				}
				return os.Rename(tmp, path)
			}
			if err := put(pinned); err != nil {
				t.Fatal(err)
			}

			stop, swapErr := make(chan struct{}), make(chan error, 1)
			var wg sync.WaitGroup
			swaps := 0
			wg.Go(func() {
				for src, other := unpinned, pinned; ; swaps++ {
					select {
					case <-stop:
						return
					default:
					}
					if err := put(src); err != nil {
						swapErr <- err
						return
					}
					src, other = other, src
				}
			})

			starts, refused := 0, 0
			var failures []string
			for deadline := time.Now().Add(*raceDuration); time.Now().Before(deadline) && len(swapErr) == 0; starts++ {
				before := runs(t, pinnedRan)
				p, err := host.Start(context.Background(), host.Spec{Name: "plugin", Path: path, SHA256: sum}, nil)
				switch {
				case err == nil:
					p.Close()
					failures = append(failures, "a script completed the handshake")
				case errors.Is(err, host.ErrChecksum) || strings.Contains(err.Error(), "replaced while it was being checked"):
					refused++
				case runs(t, pinnedRan) != before+1:
					failures = append(failures, fmt.Sprintf("start %d: %v, and the pinned script did not run", starts, err))
				}
			}
			close(stop)
			wg.Wait()
			if len(swapErr) > 0 {
				t.Fatalf("swapping: %v", <-swapErr)
			}
			ran := runs(t, pinnedRan)
			t.Logf("%d starts, %d swaps: the pinned script ran %d times, %d starts refused what they opened", starts, swaps, ran, refused)
			if n := runs(t, unpinnedRan); n > 0 {
				t.Fatalf("the unpinned script ran %d times in %d starts", n, starts)
			}
			if len(failures) > 0 {
				t.Fatalf("%d of %d starts went neither way:\n%s", len(failures), starts, strings.Join(failures, "\n"))
			}
			// Both files must have been seen, or the race was not run.
			if ran == 0 || refused == 0 {
				t.Fatalf("in %d starts the pinned script ran %d times and %d starts were refused: the swap never met a start", starts, ran, refused)
			}
		})
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// mkdir makes dir/name with exactly mode (no umask).
func mkdir(t *testing.T, dir, name string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	perm := mode.Perm()
	if mode&0o1000 != 0 {
		perm |= os.ModeSticky
	}
	chmod(t, path, perm)
	return path
}

// move moves file into dir and returns its new path.
func move(t *testing.T, file, dir string) string {
	t.Helper()
	to := filepath.Join(dir, filepath.Base(file))
	if err := os.Rename(file, to); err != nil {
		t.Fatal(err)
	}
	return to
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
