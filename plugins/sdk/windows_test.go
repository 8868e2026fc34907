package sdk_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// The output of sdk.WindowsFactsScript on a Windows 10 device, with the
// BIOS section given by each case.
func factsOutput(bios string) string {
	return strings.Join([]string{"#host", "PC1", "#os",
		`{"Caption":"Microsoft Windows 10 Enterprise","Version":"10.0.19045","LastBootUpTime":"\/Date(1767225600000)\/"}`,
		"#cv", `{"EditionID":"Enterprise","UBR":3803}`,
		"#cs", `{"Manufacturer":"HP","Model":"EliteDesk 800 G6","TotalPhysicalMemory":17179869184}`,
		bios, "#disk", "53687091200", "#kbs", "KB5034441", "#reboot", "False", "False", "#end"}, "\n")
}

func TestParseWindowsFactsSerial(t *testing.T) {
	for _, tc := range []struct{ name, bios, want string }{
		{"a serial", "#bios\n" + `{"SerialNumber":"CZC1234567 "}`, "CZC1234567"},
		{"firmware's placeholder", "#bios\n" + `{"SerialNumber":"To Be Filled By O.E.M."}`, ""},
		{"another placeholder", "#bios\n" + `{"SerialNumber":"Default string"}`, ""},
		{"no serial", "#bios\n" + `{"SerialNumber":null}`, ""},
		{"an older script's output, without the section", "", ""},
	} {
		f, err := sdk.ParseWindowsFacts(factsOutput(tc.bios))
		if err != nil || f.Serial != tc.want || f.Model != "EliteDesk 800 G6" || f.RAMGB != 16 {
			t.Errorf("%s: %+v %v, want serial %q", tc.name, f, err, tc.want)
		}
	}
	if _, err := sdk.ParseWindowsFacts(factsOutput("#bios\nnot json")); err == nil || !strings.Contains(err.Error(), "Win32_BIOS") {
		t.Errorf("a garbled BIOS section: %v, want an error naming Win32_BIOS", err)
	}
}

// A Target printed or logged any way never shows its password.
func TestTargetHidesPassword(t *testing.T) {
	tg := sdk.Target{Hostname: "pc1", Address: "10.0.0.1:5986", Username: "svc", Password: "Hunter2-Secret"}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("reaching", "target", tg)
	for _, s := range []string{fmt.Sprint(tg), fmt.Sprintf("%+v", tg), fmt.Sprintf("%#v", tg), fmt.Sprintf("%v", &tg), logged.String()} {
		if strings.Contains(s, "Hunter2") || !strings.Contains(s, "pc1") {
			t.Errorf("printed as %q", s)
		}
	}
}
