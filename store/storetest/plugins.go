package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
)

// Plugins runs the plugin registry's conformance suite.
func Plugins(t *testing.T, open Open) {
	t.Run("RegisterAndRead", func(t *testing.T) { pluginsRegisterAndRead(t, open) })
	t.Run("ReplaceAndRemove", func(t *testing.T) { pluginsReplaceAndRemove(t, open) })
}

func pluginNames(t *testing.T, s PluginRegistry) []string {
	t.Helper()
	ps, err := s.Plugins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	return names
}

// pluginsRegisterAndRead: a registration reads back as installed, stamped
// with the store's time (to the microsecond, in UTC, whatever the caller
// put in InstalledAt), listed by name; an unknown plugin is not found.
func pluginsRegisterAndRead(t *testing.T, open Open) {
	clock := NewClock(zoned)
	s := open(t, clock.Now).Plugins
	if names := pluginNames(t, s); len(names) != 0 {
		t.Fatalf("a new registry lists %v", names)
	}
	for _, name := range []string{"ssh", "local", "winrm-alt"} {
		if err := s.InstallPlugin(ctx, host.Registration{Name: name, Path: "/opt/ringmaster/" + name, SHA256: name + "-digest",
			InstalledAt: time.Unix(0, 0), Protocol: len(name), Version: "v1." + name}); err != nil {
			t.Fatalf("install %s: %v", name, err)
		}
		clock.Advance(time.Minute)
	}
	if names := pluginNames(t, s); !slices.Equal(names, []string{"local", "ssh", "winrm-alt"}) {
		t.Errorf("plugins listed %v, want by name", names)
	}
	p, err := s.Plugin(ctx, "local")
	want := host.Registration{Name: "local", Path: "/opt/ringmaster/local", SHA256: "local-digest", InstalledAt: zoned.Add(time.Minute),
		Protocol: 5, Version: "v1.local"}
	if err != nil || p.Name != want.Name || p.Path != want.Path || p.SHA256 != want.SHA256 || !sameUTC(p.InstalledAt, want.InstalledAt) ||
		p.Protocol != want.Protocol || p.Version != want.Version {
		t.Errorf("plugin local = %+v %v, want %+v in UTC", p, err, want)
	}
	for what, err := range map[string]error{
		"read an unknown plugin":   second(s.Plugin(ctx, "nope")),
		"remove an unknown plugin": s.RemovePlugin(ctx, "nope"),
	} {
		if !errors.Is(err, errkind.NotFound) {
			t.Errorf("%s: %v, want an error wrapping errkind.NotFound", what, err)
		}
	}
}

// pluginsReplaceAndRemove: installing a name again replaces its binary,
// digest and time (one registration per name); removing forgets it, once.
func pluginsReplaceAndRemove(t *testing.T, open Open) {
	clock := NewClock(start)
	s := open(t, clock.Now).Plugins
	for _, r := range []host.Registration{{Name: "ssh", Path: "/old/ssh", SHA256: "old", Protocol: 1, Version: "v1"}, {Name: "other", Path: "/o", SHA256: "o"}} {
		if err := s.InstallPlugin(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Hour)
	if err := s.InstallPlugin(ctx, host.Registration{Name: "ssh", Path: "/new/ssh", SHA256: "new", Protocol: 2, Version: "v2"}); err != nil {
		t.Fatalf("install again: %v", err)
	}
	p, err := s.Plugin(ctx, "ssh")
	if err != nil || p.Path != "/new/ssh" || p.SHA256 != "new" || !sameUTC(p.InstalledAt, start.Add(time.Hour)) || p.Protocol != 2 || p.Version != "v2" {
		t.Fatalf("after reinstalling: %+v %v, want the new binary, digest, time, protocol and version", p, err)
	}
	if names := pluginNames(t, s); !slices.Equal(names, []string{"other", "ssh"}) {
		t.Fatalf("after reinstalling, plugins %v, want each once", names)
	}
	if err := s.RemovePlugin(ctx, "ssh"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Plugin(ctx, "ssh"); !errors.Is(err, errkind.NotFound) {
		t.Errorf("a removed plugin reads %v, want errkind.NotFound", err)
	}
	if err := s.RemovePlugin(ctx, "ssh"); !errors.Is(err, errkind.NotFound) {
		t.Errorf("removing it again: %v, want errkind.NotFound", err)
	}
	if names := pluginNames(t, s); !slices.Equal(names, []string{"other"}) {
		t.Errorf("after removing ssh, plugins %v", names)
	}
}
