package device

import (
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/playbooks"
)

// TestParamsPreambleStaysInert runs the preamble playbooks put in front of
// every script on the simulated PowerShell and checks that hostile values
// come back verbatim as data and never run as commands.
func TestParamsPreambleStaysInert(t *testing.T) {
	hostile := []string{
		`'; Remove-Item C:\ -Recurse; '`,
		`$(Remove-Item C:\ -Recurse)`,
		"`$env:COMPUTERNAME` `n",
		"\u2019; Stop-Computer -Force; \u2018",
		"\u201A\u201B'\u2018\u2019",
		`"; Invoke-Expression "calc`,
		`@{a=1}; & calc`,
	}
	m := machine()
	for _, v := range hostile {
		pre, err := playbooks.ParamsPreamble(map[string]any{"evil": v, "kbs": []string{"KB1", "K'B"}, "wait": 90, "laptop_ac": true})
		if err != nil {
			t.Fatal(err)
		}
		script := pre + "Write-Output $Params.evil\nWrite-Output $Params.wait\nWrite-Output $Params.laptop_ac\n"
		out, errOut, code := readAll(m.Start("powershell -NoProfile -NonInteractive -EncodedCommand "+encoded(script), nil))
		want := v + "\r\n90\r\nTrue\r\n"
		if out != want || errOut != "" || code != 0 {
			t.Errorf("value %q:\n stdout %q\n stderr %q\n code %d\nwant stdout %q", v, out, errOut, code, want)
		}
		if strings.Contains(errOut, "not recognized") {
			t.Errorf("value %q ran as a command: %s", v, errOut)
		}
	}
}

// TestNaiveQuotingIsCaught is the control for the test above: a value
// pasted between quotes without escaping must not survive the simulated
// interpreter, or the inert test would prove nothing.
func TestNaiveQuotingIsCaught(t *testing.T) {
	v := `'; Remove-Item C:\ -Recurse; '`
	script := "$Params = @{evil = '" + v + "'}\nWrite-Output $Params.evil\n"
	out, errOut, _ := readAll(machine().Start("powershell -NoProfile -EncodedCommand "+encoded(script), nil))
	if out == v+"\r\n" && errOut == "" {
		t.Fatalf("naively quoted value round-tripped: stdout %q", out)
	}
}
