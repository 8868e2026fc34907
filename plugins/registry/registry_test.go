package registry_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/plugintest"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/plugins/registry"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

// flakyBin is plugins/host's test plugin (it reports the name "flaky"),
// built into a directory the host accepts plugins from.
var flakyBin string

func TestMain(m *testing.M) {
	dir, err := plugintest.MkdirTemp()
	if err != nil {
		panic(err)
	}
	flakyBin = filepath.Join(dir, "flaky")
	if out, err := exec.Command("go", "build", "-o", flakyBin, "../host/testdata/flaky").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newRegistry(t *testing.T) (*registry.Registry, *sqlite.Plugins) {
	t.Helper()
	if _, err := os.Stat("/proc/self/exe"); err != nil {
		t.Skip("plugins run on Linux only")
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r, err := registry.New(registry.Config{Store: db.Plugins(), Builtins: []string{"winrm"}})
	if err != nil {
		t.Fatal(err)
	}
	return r, db.Plugins()
}

// copyPlugin copies the test plugin to dir/name.
func copyPlugin(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(flakyBin)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInstall(t *testing.T) {
	dir := plugintest.Dir(t)
	silent := filepath.Join(dir, "silent")
	if err := os.WriteFile(silent, []byte("#!/bin/sh\nsleep 300\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(dir, "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	inShared := copyPlugin(t, shared, "flaky")
	if err := os.Chmod(shared, 0o757); err != nil {
		t.Fatal(err)
	}
	sum, err := host.CheckFile(flakyBin)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc, path string
		o          registry.InstallOptions
		want       string // registered name; "" when refused
		check      func(error) bool
	}{
		{desc: "a built-in's name, any case, before the file is looked at", path: "/nonexistent/plugin", o: registry.InstallOptions{Name: "WINRM"},
			check: func(err error) bool { var ne *host.NameError; return errors.As(err, &ne) }},
		{desc: "an upper-case name", path: flakyBin, o: registry.InstallOptions{Name: "Ssh"},
			check: func(err error) bool { var ne *host.NameError; return errors.As(err, &ne) }},
		{desc: "a directory others can write", path: inShared,
			check: func(err error) bool { var ue *host.UnsafePathError; return errors.As(err, &ue) && ue.Path == shared }},
		{desc: "a file that never completes the handshake", path: silent, o: registry.InstallOptions{StartTimeout: time.Second},
			check: func(err error) bool {
				var he *host.HandshakeError
				return errors.As(err, &he) && errors.Is(err, host.ErrNotPlugin)
			}},
		{desc: "the name it reports", path: flakyBin, want: "flaky"},
		{desc: "a name given", path: flakyBin, o: registry.InstallOptions{Name: "ssh-2"}, want: "ssh-2"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r, store := newRegistry(t)
			ctx := context.Background()
			began := time.Now()
			got, err := r.Install(ctx, tc.path, tc.o)
			if time.Since(began) > 15*time.Second {
				t.Errorf("took %v", time.Since(began))
			}
			if tc.want == "" {
				if err == nil || !tc.check(err) {
					t.Fatalf("Install: %v (%T)", err, err)
				}
				if regs, _ := store.Plugins(ctx); len(regs) != 0 {
					t.Fatalf("refused, yet registered: %+v", regs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tc.want || got.Version != "1.0.0" || got.SHA256 != sum || got.Path != flakyBin {
				t.Fatalf("Install = %+v", got)
			}
			reg, err := store.Plugin(ctx, tc.want)
			if err != nil || reg.SHA256 != sum || reg.Path != flakyBin || reg.Protocol != sdk.ProtocolVersion || reg.Version != "1.0.0" {
				t.Fatalf("registered: %+v %v, want its protocol version and version recorded", reg, err)
			}
		})
	}
}

func TestListAndRemove(t *testing.T) {
	ctx := context.Background()
	r, store := newRegistry(t)
	dir := plugintest.Dir(t)
	good := copyPlugin(t, dir, "good")
	changed := copyPlugin(t, dir, "changed")
	opened := filepath.Join(dir, "opened")
	if err := os.Mkdir(opened, 0o700); err != nil {
		t.Fatal(err)
	}
	refused := copyPlugin(t, opened, "refused")
	for name, path := range map[string]string{"good": good, "changed": changed, "refused": refused} {
		if _, err := r.Install(ctx, path, registry.InstallOptions{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	goodSum, err := host.CheckFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// Registered before names were checked; a file since removed; one
	// installed by a Ringmaster of another protocol version.
	for _, reg := range []host.Registration{
		{Name: "evil\x1b[2J", Path: good, SHA256: strings.Repeat("0", 64)},
		{Name: "gone", Path: filepath.Join(dir, "gone"), SHA256: strings.Repeat("0", 64)},
		{Name: "older", Path: good, SHA256: goodSum, Protocol: sdk.ProtocolVersion + 1, Version: "0.9"},
	} {
		if err := store.InstallPlugin(ctx, reg); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(changed, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(opened, 0o757); err != nil {
		t.Fatal(err)
	}
	list, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name   string
		health registry.Health
	}{
		{"winrm", registry.BuiltIn}, {"changed", registry.Changed}, {"evil\x1b[2J", registry.InvalidName},
		{"gone", registry.Missing}, {"good", registry.OK}, {"older", registry.OtherProtocol}, {"refused", registry.Refused},
	}
	if len(list) != len(want) {
		t.Fatalf("List = %+v", list)
	}
	for i, w := range want {
		if e := list[i]; e.Name != w.name || e.Health != w.health {
			t.Errorf("entry %d = %q %s (%v), want %q %s", i, e.Name, e.Health, e.Err, w.name, w.health)
		}
	}
	var unsafe *host.UnsafePathError
	if !errors.As(list[6].Err, &unsafe) || unsafe.Path != opened {
		t.Errorf("refused because %v", list[6].Err)
	}

	if err := r.Remove(ctx, "good"); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(ctx, "good"); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("remove twice: %v", err)
	}
	if _, err := store.Plugin(ctx, "good"); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("removed, yet: %v", err)
	}
	if _, err := os.Stat(good); err != nil {
		t.Fatalf("the binary went too: %v", err)
	}
}
