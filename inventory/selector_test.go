package inventory_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

func sampleDevice(t *testing.T) *inventory.Device {
	t.Helper()
	at := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	d := &inventory.Device{
		Hostname: "pc000001.rxx.nhs.uk", Org: "RXX", Site: "Leeds General",
		Labels: inventory.Labels{"ring": "pilot", "role": "kiosk"}, LastSeen: at,
	}
	for f, v := range map[inventory.Fact]string{
		inventory.FactOSBuild: "10.0.18363", inventory.FactUBR: "1556", inventory.FactKBs: "KB4592449;KB4512508",
		inventory.FactDiskFreeGB: "31.5", inventory.FactRAMGB: "8", inventory.FactModel: "OptiPlex 7070",
		inventory.FactOSCaption: "Microsoft Windows 10 Enterprise",
	} {
		if err := d.Facts.Set(f, v, at); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestSelectorMatches(t *testing.T) {
	d := sampleDevice(t)
	tests := []struct {
		sel  string
		want bool
	}{
		{"", true},
		{"org=RXX", true},
		{"org=rxx", true},
		{"org==RXX", true},
		{"org!=RXX", false},
		{"org in (RYY, RXX)", true},
		{"org notin (RYY,RXX)", false},
		{"hostname=PC000001.RXX.NHS.UK", true},
		{`site="leeds general"`, true},
		{`site in ("Leeds General",York)`, true},
		{"site", true},
		{"!site", false},
		{"label.ring=pilot", true},
		{"label.ring=Pilot", false}, // label values are case-sensitive
		{"label.ring", true},
		{"!label.excluded", true},
		{"!label.ring", false},
		{"label.excluded!=yes", true}, // absent label: != holds
		{"label.ring in (pilot,early)", true},
		{"build<10.0.19045", true},
		{"build<=10.0.18363", true},
		{"build>10.0.18363", false},
		{"build>=10.0.18362", true},
		{"build=10.0.18363", true},
		{"build!=10.0.18363", false},
		{"build", true},
		{"!build", false},
		{"release=1909", true},
		{`release="Windows 10 1909"`, true},
		{"release in (22H2,21H2)", false},
		{"ubr>1000", true},
		{"disk<20", false},
		{"disk>=31.5", true},
		{"ram=8", true},
		{"kb=KB4592449", true},
		{"kb=4592449", true},
		{"kb!=KB4592449", false},
		{"kb in (KB5034441,KB4512508)", true},
		{"kb notin (KB5034441)", true},
		{"serial", false}, // never observed
		{"!serial", true},
		{"serial!=ABC", true},
		{"serial=ABC", false},
		{"manufacturer<x", false}, // rejected at parse; see TestSelectorErrors
		{"last_seen<2026-11-02", true},
		{"last_seen>2026-11-01T10:00:00Z", false},
		{"model=optiplex 7070", false}, // unquoted space ends the value: parse error
		{"org=RXX,site in (Leeds General),label.ring=pilot,build<10.0.19045,!label.excluded", false},
		{`org=RXX,site in ("Leeds General"),label.ring=pilot,build<10.0.19045,!label.excluded`, true},
	}
	for _, tt := range tests {
		sel, err := inventory.ParseSelector(tt.sel)
		if err != nil {
			if tt.want {
				t.Errorf("ParseSelector(%q): %v", tt.sel, err)
			}
			continue
		}
		if got := sel.Matches(d); got != tt.want {
			t.Errorf("%q matches = %v, want %v", tt.sel, got, tt.want)
		}
	}
}

func TestSelectorErrors(t *testing.T) {
	tests := []struct {
		sel     string
		pos     int // 1-based character the error points at
		message string
	}{
		{"org=RXX,,", 9, "expected a key"},
		{"org=RXX,", 9, "expected a requirement after ','"},
		{"colour=blue", 1, `unknown key "colour"`},
		{"org=RXX,colour=blue", 9, `unknown key "colour"`},
		{"org~RXX", 4, "expected an operator"},
		{"org<RXX", 4, "needs an ordered key"},
		{"build<10.0", 7, "is not a build"},
		{"build<10.0.19045.100", 7, "is not a build"},
		{"site in (A,B", 13, "expected ')'"},
		{"site in A", 9, "expected '('"},
		{"site in (A;B)", 11, "expected ',' or ')'"},
		{`site="Leeds`, 6, "unterminated quoted value"},
		{"disk>lots", 6, "is not a number"},
		{"kb=KBX", 4, "is not a KB number"},
		{"last_seen<01/02/2026", 11, "is not a time"},
		{"org=", 5, "expected a value"},
		{"org=RXX site=A", 9, "expected ',' between requirements"},
		{"label.-bad=x", 1, "invalid label key"},
		{"label.ring=pi lot", 15, "expected ','"},
	}
	for _, tt := range tests {
		_, err := inventory.ParseSelector(tt.sel)
		var se *inventory.SelectorError
		if !errors.As(err, &se) {
			t.Errorf("ParseSelector(%q) = %v, want a *SelectorError", tt.sel, err)
			continue
		}
		if se.Pos+1 != tt.pos || !strings.Contains(se.Msg, tt.message) {
			t.Errorf("ParseSelector(%q): error at character %d %q, want character %d containing %q", tt.sel, se.Pos+1, se.Msg, tt.pos, tt.message)
		}
		if !errors.Is(err, errkind.Invalid) {
			t.Errorf("ParseSelector(%q): error does not wrap errkind.Invalid", tt.sel)
		}
		// The caret line points at the character.
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != 3 || strings.Index(lines[2], "^")-2 != se.Pos {
			t.Errorf("ParseSelector(%q): caret misplaced:\n%s", tt.sel, err)
		}
	}
}

// FuzzParseSelector parses arbitrary selectors: never a panic, an error
// that points inside the input and repeats only a short excerpt of it,
// and a selector whose String parses again to the same requirements.
func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{
		"org=RXX,site in (A,B),label.ring=pilot,build<10.0.19045,!label.excluded", `site="a b"`, "kb in (KB1234567)",
		"release=22H2,disk>=20.5,ram<8,last_seen>2026-01-01,ubr>=3803", "org notin (RXX, RYY), !site, model!=\"OptiPlex 7090\"",
		"  hostname = pc1.rxx.nhs.uk  ", "os=\"Microsoft Windows 10 Enterprise\",edition==Enterprise", "disk>NaN", "label.a.b-c=x",
		"site=\"\x1b[2J\"", "org=RXX,,", "colour=blue", "build<10.0", `site="Leeds`, "",
	} {
		f.Add(s)
	}
	d := &inventory.Device{Hostname: "a.b", Org: "RXX"}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := inventory.ParseSelector(s)
		if err != nil {
			var se *inventory.SelectorError
			if !errors.As(err, &se) || se.Pos < 0 || se.Pos > len(s) {
				t.Fatalf("bad error for %q: %v", s, err)
			}
			if msg := err.Error(); len(msg) > 1024 {
				t.Fatalf("error of %d bytes for a %d-byte selector", len(msg), len(s))
			}
			return
		}
		sel.Matches(d)
		again, err := inventory.ParseSelector(sel.String())
		if err != nil {
			t.Fatalf("%q parsed, but its String %q does not: %v", s, sel.String(), err)
		}
		if a, b := fmt.Sprint(sel.Requirements()), fmt.Sprint(again.Requirements()); a != b || again.String() != sel.String() {
			t.Fatalf("%q re-parsed differently:\n%s\n%s", s, a, b)
		}
	})
}

// TestSelectorLongLists checks that a long list of values (kept as a set)
// selects exactly as a short one (scanned): case-insensitive, in and
// notin, known and unknown values, and a device value that is not ASCII.
func TestSelectorLongLists(t *testing.T) {
	d := sampleDevice(t)
	kelvin := sampleDevice(t)
	kelvin.Site = "\u212Aings Mill" // the Kelvin sign: EqualFold's "kings mill"
	others := make([]string, 20000)
	for i := range others {
		others[i] = fmt.Sprintf("pc%06d.ryy.nhs.uk", i)
	}
	list := func(vals ...string) string { return "(" + strings.Join(append(vals, others...), ",") + ")" }
	tests := []struct {
		d    *inventory.Device
		sel  string
		want bool
	}{
		{d, "hostname in " + list("PC000001.RXX.NHS.UK"), true},
		{d, "hostname in " + list(), false},
		{d, "hostname notin " + list("pc000001.rxx.nhs.uk"), false},
		{d, "hostname notin " + list(), true},
		{d, "org in " + list("rxx"), true},
		{d, "serial in " + list("ABC"), false}, // never observed
		{d, "serial notin " + list("ABC"), true},
		{d, `site in ` + list(`"leeds general"`), true},
		{kelvin, `site in ` + list(`"kings mill"`), true},
		{kelvin, `site notin ` + list(`"KINGS MILL"`), false},
		{d, "release in " + list("1909"), true},
	}
	for _, tt := range tests {
		sel, err := inventory.ParseSelector(tt.sel)
		if err != nil {
			t.Fatalf("ParseSelector(%.60s...): %v", tt.sel, err)
		}
		if got := sel.Matches(tt.d); got != tt.want {
			t.Errorf("%.60s... matches %s = %v, want %v", tt.sel, tt.d.Site, got, tt.want)
		}
	}
}

// TestSelectorAnd: a joined selector selects what both do, and says so.
func TestSelectorAnd(t *testing.T) {
	d := sampleDevice(t)
	for _, tc := range []struct {
		a, b    string
		want    bool
		written string
	}{
		{"", "", true, ""},
		{"org=RXX", "", true, "org=RXX"},
		{"", "build<10.0.19045", true, "build<10.0.19045"},
		{"org=RXX", "label.ring=pilot", true, "org=RXX, label.ring=pilot"},
		{"org=RXX", "org in (RYY,RZZ)", false, "org=RXX, org in (RYY,RZZ)"},
		{"build>=10.0.19045", "org=RXX", false, "build>=10.0.19045, org=RXX"},
	} {
		sel := inventory.MustParseSelector(tc.a).And(inventory.MustParseSelector(tc.b))
		if got := sel.Matches(d); got != tc.want || sel.String() != tc.written {
			t.Errorf("%q and %q: matches %v, written %q; want %v, %q", tc.a, tc.b, got, sel.String(), tc.want, tc.written)
		}
		if again := inventory.MustParseSelector(sel.String()); again.Matches(d) != tc.want {
			t.Errorf("%q as written reads back selecting differently", sel.String())
		}
	}
}
