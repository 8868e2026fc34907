package host_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ringmaster-fleet/ringmaster/plugins/host"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule string // in the error; "" when the name is accepted
	}{
		{"ssh", ""},
		{"vendor-api_2", ""},
		{"7zip", ""},
		{strings.Repeat("a", host.MaxNameLen), ""},
		{"winrm", "reserved"},
		{"WINRM", "reserved"},
		{"WinRM", "reserved"},
		{"", "needs a name"},
		{strings.Repeat("a", host.MaxNameLen+1), "longer than"},
		{"ssh\x1b[31m", "control characters"},
		{"ssh\nfake log line", "control characters"},
		{"ssh\r", "control characters"},
		{"ssh\x00", "control characters"},
		{"ssh\x7f", "control characters"},
		{"ssh\u0085", "only ASCII"},    // C1 NEL
		{"ssh\u009b31m", "only ASCII"}, // C1 CSI
		{"ssh\xff", "only ASCII"},      // not UTF-8
		{"wіnrm", "only ASCII"},        // Cyrillic і
		{"SSH", "is not allowed"},      // upper case
		{"-ssh", "must start"},         // would read as an option
		{"_ssh", "must start"},
		{"ssh plugin", "is not allowed"},
		{"../ssh", "is not allowed"},
		{"ssh.exe", "is not allowed"},
	} {
		err := host.CheckName(tc.name, "winrm")
		if tc.rule == "" {
			if err != nil {
				t.Errorf("CheckName(%q): %v", tc.name, err)
			}
			continue
		}
		var ne *host.NameError
		if !errors.As(err, &ne) || ne.Name != tc.name || !strings.Contains(err.Error(), tc.rule) {
			t.Errorf("CheckName(%q) = %v, want a *NameError saying %q", tc.name, err, tc.rule)
			continue
		}
		// The name is quoted, so a control character shows as an escape.
		if msg := err.Error(); !strings.Contains(msg, `"`) || strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) {
			t.Errorf("CheckName(%q): the message %q does not quote the name", tc.name, msg)
		}
	}
}

// FuzzPluginName checks that an accepted name is one of the narrow
// pattern, and that every message quotes what it refuses.
func FuzzPluginName(f *testing.F) {
	for _, s := range []string{"ssh", "WINRM", "a\x1bb", "a\nb", "-x", "ä", "\u009b", strings.Repeat("z", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := host.CheckName(name, "winrm")
		if err == nil {
			if name == "" || len(name) > host.MaxNameLen || strings.EqualFold(name, "winrm") || name[0] == '-' || name[0] == '_' {
				t.Fatalf("accepted %q", name)
			}
			for _, c := range []byte(name) {
				if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
					t.Fatalf("accepted %q with %q", name, c)
				}
			}
			return
		}
		msg := err.Error()
		if !utf8.ValidString(msg) || strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) {
			t.Fatalf("the message for %q carries a control character or invalid UTF-8: %q", name, msg)
		}
	})
}
