package inventory_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

func TestQuoteValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Leeds", `"Leeds"`},
		{"a\x1b[2Jb\r\n", `"a\x1b[2Jb\r\n"`},
		{"\xff\u202e", `"\xff\u202e"`},
		{strings.Repeat("a", 64), `"` + strings.Repeat("a", 64) + `"`},
		{strings.Repeat("a", 10<<20), `"` + strings.Repeat("a", 64) + `"… (10485760 bytes)`},
		// Cut at a character boundary: 21 three-byte runes fit in 64 bytes.
		{strings.Repeat("€", 30), `"` + strings.Repeat("€", 21) + `"… (90 bytes)`},
	}
	for _, tt := range tests {
		if got := inventory.QuoteValue(tt.in); got != tt.want {
			t.Errorf("QuoteValue(%.80q) = %.120s, want %.120s", tt.in, got, tt.want)
		}
	}
}

func TestCheckText(t *testing.T) {
	ok := []string{"", "Leeds General Infirmary", "Hôpital Saint-Étienne", "St John's", "日本語", "\ufffd", "a=b;c"}
	bad := []string{"a\tb", "a\rb", "a\nb", "\x1b[31mred", "a\x00", "a\x7f", "a\u0085", "a\u009b31m", "a\u2028b", "a\u202eb", "a\u2066b", "a\xffb", "\xc3", strings.Repeat("x", 201)}
	for _, s := range ok {
		if err := inventory.CheckText(s, 200); err != nil {
			t.Errorf("CheckText(%q) = %v", s, err)
		}
	}
	for _, s := range bad {
		if err := inventory.CheckText(s, 200); err == nil {
			t.Errorf("CheckText(%.40q) accepted it", s)
		}
	}
}

// TestTextFieldsAreChecked feeds each free-text field of an organisation,
// a device and its facts a control sequence, a line break, invalid UTF-8
// and a huge value: each is refused, as errkind.Invalid where the field is
// declared, and no error repeats more than a short excerpt.
func TestTextFieldsAreChecked(t *testing.T) {
	huge := strings.Repeat("=", 10<<20)
	values := []string{"Leeds\x1b[2J\x1b[31m", "Leeds\r\nGeneral", "Leeds\xff", "Leeds\u202e", huge}
	var errs []error
	for _, v := range values {
		org := inventory.Organisation{Code: "RXX", Name: v, TimeZone: "Europe/London"}
		errs = append(errs, org.Validate())
		org = inventory.Organisation{Code: "RXX", Name: "X", TimeZone: "Europe/London" + v}
		errs = append(errs, org.Validate())
		d := inventory.Device{Hostname: "pc1.rxx.nhs.uk", Org: "RXX", Site: v}
		errs = append(errs, d.Validate())
		d = inventory.Device{Hostname: "pc1.rxx.nhs.uk" + v, Org: "RXX"}
		errs = append(errs, d.Validate())
		for _, f := range []inventory.Fact{inventory.FactManufacturer, inventory.FactModel, inventory.FactSerial, inventory.FactOSCaption, inventory.FactOSEdition} {
			var facts inventory.Facts
			err := facts.Set(f, "X"+v, time.Now())
			if err == nil || facts.Known(f) {
				t.Errorf("fact %s = %.40q accepted", f, v)
			}
			errs = append(errs, err)
		}
	}
	for _, err := range errs {
		if err == nil {
			t.Errorf("a value was accepted")
			continue
		}
		if len(err.Error()) > 300 {
			t.Errorf("error repeats too much of the value (%d bytes): %.300s", len(err.Error()), err)
		}
		if strings.ContainsAny(err.Error(), "\x1b\r\n\u202e") || strings.Contains(err.Error(), "\xff") {
			t.Errorf("error holds the raw value: %q", err)
		}
	}
	for _, err := range errs[:4] { // the declared fields of the first value
		var fe *inventory.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, errkind.Invalid) {
			t.Errorf("%v: want a *FieldError wrapping errkind.Invalid", err)
		}
	}
}

func TestListLimits(t *testing.T) {
	var labels, kbs []string
	for i := range inventory.MaxLabels + 1 {
		labels = append(labels, "k"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+string(rune('a'+i/26))+"=v")
	}
	if _, err := inventory.ParseLabels(strings.Join(labels, ";")); err == nil {
		t.Errorf("%d labels accepted", len(labels))
	}
	for i := range inventory.MaxKBs + 1 {
		kbs = append(kbs, "KB"+string(rune('1'+i%9))+strings.Repeat("0", 5)+string(rune('0'+i/1000%10))+string(rune('0'+i/100%10)))
	}
	if _, err := inventory.ParseKBs(strings.Join(kbs, ";")); err == nil {
		t.Errorf("%d KBs accepted", len(kbs))
	}
	o := inventory.Organisation{Code: "RXX", Name: "X", TimeZone: "UTC"}
	for i := range inventory.MaxTags + 1 {
		o.Tags = append(o.Tags, "t"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	if err := o.Validate(); err == nil {
		t.Errorf("%d tags accepted", len(o.Tags))
	}
}

// TestSelectorErrorShowsAnExcerpt checks that a parse error in a long or
// hostile selector shows a short, escaped window with the caret under the
// offending character.
func TestSelectorErrorShowsAnExcerpt(t *testing.T) {
	tests := []struct {
		sel   string
		line  string // the selector as the error shows it
		caret int    // column of the caret in line
	}{
		{"org=RXX,colour=blue", "org=RXX,colour=blue", 8},
		{`site="a` + "\x1b[2J" + `",colour=x`, `site="a\x1b[2J",colour=x`, 16},
		{"org=RXX,site=" + strings.Repeat("a", 10<<20) + ",colour=x", "…" + strings.Repeat("a", 63) + ",colour=x", 65},
		{"org in (" + strings.Repeat("A,", 100) + "B;C)", "…" + strings.Repeat(",A", 31) + ",B;C)", 65},
		{"org=RXX,site=" + strings.Repeat("a", 200) + ";", "…" + strings.Repeat("a", 64) + ";", 65},
		{";" + strings.Repeat("a", 200), ";" + strings.Repeat("a", 63) + "…", 0},
	}
	for _, tt := range tests {
		_, err := inventory.ParseSelector(tt.sel)
		if err == nil {
			t.Fatalf("%.40q parsed", tt.sel)
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != 3 || strings.TrimPrefix(lines[1], "  ") != tt.line || strings.Index(lines[2], "^")-2 != tt.caret {
			t.Errorf("%.40q: error\n%.400s\nwant the line %.100q with the caret at %d", tt.sel, err, tt.line, tt.caret)
		}
	}
}
