package device

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestScriptsAndFiles runs, in order on one machine, the command shapes
// deployment tooling uses: cmd operators and redirections, PowerShell
// variables, -f formatting and interpolation, scripts written to disk and
// run with -File, and staging media from a share or a download, where a
// WinRM session meets the double hop.
func TestScriptsAndFiles(t *testing.T) {
	m := machine()
	ps := func(script string) string { return "powershell -NoProfile -EncodedCommand " + encoded(script) }
	tests := []struct {
		name, line     string
		stdout, stderr string
		code           int
	}{
		{"and runs on success", "cmd /c exit /b 0 && echo yes", "yes\r\n", "", 0},
		{"and stops on failure", "cmd /c exit /b 4 && echo yes", "", "", 4},
		{"or runs on failure", "cmd /c exit /b 4 || echo recovered", "recovered\r\n", "", 0},
		{"ampersand always", "cmd /c exit /b 4 & echo next", "next\r\n", "", 0},
		{"quoted operators stay", `echo "a && b"`, "\"a && b\"\r\n", "", 0},
		{"redirect to file", `hostname > C:\ProgramData\t\out.log 2>&1`, "", "", 0},
		{"read it back", ps(`Get-Content C:\ProgramData\t\out.log`), "PC000001\r\n", "", 0},
		{"append", `echo second >> C:\ProgramData\t\out.log`, "", "", 0},
		{"appended", ps(`Get-Content -Path 'C:\ProgramData\t\out.log' -Tail 1`), "second\r\n", "", 0},
		{"stderr to nul", `frob 2>nul`, "", "", 9009},
		{"variables and format", ps("$kb = 'KB4512508'\n$msu = '{0}\\{1}.msu' -f 'C:\\Updates', $kb\nWrite-Output $msu"), "C:\\Updates\\KB4512508.msu\r\n", "", 0},
		{"interpolation", ps("$p = @{name = 'x y'}\nWrite-Output \"name=$($p.name) raw=$p.name\""), "name=x y raw=System.Collections.Hashtable.name\r\n", "", 0},
		{"an array prints one item per line", ps("$Params = @{kbs = @('KB1', 'K''B2')}\n$Params.kbs"), "KB1\r\nK'B2\r\n", "", 0},
		{"an array in a string", ps("$a = @('x', 'y')\nWrite-Output \"[$a]\""), "[x y]\r\n", "", 0},
		{"single quotes stay literal", ps("$a = 'v'\nWrite-Output '$a'"), "$a\r\n", "", 0},
		{"pipeline value", ps("$b = (Get-CimInstance Win32_OperatingSystem).BuildNumber\n$b"), "19045\r\n", "", 0},
		{"write a script", ps(`New-Item -ItemType Directory -Force -Path C:\ProgramData\Ringmaster | Out-Null` + "\n" +
			`Set-Content -Path C:\ProgramData\Ringmaster\s.ps1 -Value 'Write-Output ''from file''` + "\n" + `exit 7' -Encoding UTF8`), "", "", 0},
		{"run it with -File", `powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\ProgramData\Ringmaster\s.ps1`, "from file\r\n", "", 7},
		{"missing -File", `powershell.exe -File C:\nope.ps1`, "", "The argument 'C:\\nope.ps1' to the -File parameter does not exist. Provide the path to an existing '.ps1' file as an argument to the -File parameter.\r\n", 1},
		{"remove it", ps(`Remove-Item -Path C:\ProgramData\Ringmaster\s.ps1 -Force` + "\n" + `Test-Path C:\ProgramData\Ringmaster\s.ps1`), "False\r\n", "", 0},
		{"staged setup is missing", `C:\Media\setup.exe /Auto Upgrade /Quiet /Compat ScanOnly`, "", "The system cannot find the path specified.\r\n", 3},
		{"share from WinRM: double hop", `robocopy \\dp01\media$\Win10 C:\Media /MIR`, "*ERROR 5 (0x00000005) Accessing Source Directory", "", 16},
		{"download from WinRM refused", `bitsadmin /transfer media /download /priority FOREGROUND http://dp01/win10.zip C:\Media.zip`, "*0x800704dd", "", 1},
		{"local copy", `robocopy D:\ C:\Media /E`, "*Files :  3  3  0", "", 1},
		{"copy again: in sync", `robocopy D:\ C:\Media /E`, "*Files :  3  0  3", "", 0},
		{"staged", ps(`Test-Path 'C:\Media\setup.exe'`), "True\r\n", "", 0},
		{"no battery on a desktop", ps(`Get-CimInstance Win32_Battery | Select-Object -ExpandProperty BatteryStatus`), "", "", 0},
	}
	for _, tt := range tests {
		out, errOut, code := readAll(m.Start(tt.line, nil))
		if strings.HasPrefix(tt.stdout, "*") { // only a part of the output matters
			if !strings.Contains(out+errOut, tt.stdout[1:]) {
				t.Errorf("%s: output %q %q, want it to contain %q", tt.name, out, errOut, tt.stdout[1:])
			}
			out = tt.stdout
		}
		if out != tt.stdout || (tt.stderr != "" && errOut != tt.stderr) || code != tt.code {
			t.Errorf("%s: %s:\n stdout %q\n stderr %q\n code %d\nwant %q / %q / %d", tt.name, tt.line, out, errOut, code, tt.stdout, tt.stderr, tt.code)
		}
	}
}

// TestStagingAsSystem stages media the way the feature update playbook
// does: from a SYSTEM scheduled task, where the computer account reaches
// the share and BITS may download.
func TestStagingAsSystem(t *testing.T) {
	m := machine()
	for _, line := range []string{
		`schtasks /Create /TN Stage /TR "robocopy \\dp01\media$\Win10 C:\Media /MIR" /SC ONCE /ST 00:00 /RU SYSTEM`,
		`schtasks /Run /TN Stage`,
	} {
		if _, errOut, code := readAll(m.Start(line, nil)); code != 0 {
			t.Fatalf("%s: %d %s", line, code, errOut)
		}
	}
	waitTask(t, m, "Stage", 1)
	if !m.exists(`C:\Media\setup.exe`) {
		t.Fatal("media not staged from the share")
	}
	for _, line := range []string{
		`schtasks /Create /TN Get /TR "bitsadmin /transfer media /download http://dp01/win10.zip C:\Media2.zip" /SC ONCE /ST 00:00 /RU SYSTEM`,
		`schtasks /Run /TN Get`,
	} {
		readAll(m.Start(line, nil))
	}
	waitTask(t, m, "Get", 0)
	out, errOut, code := readAll(m.Start("powershell -EncodedCommand "+encoded(`Expand-Archive -Path C:\Media2.zip -DestinationPath C:\Media2 -Force`+"\n"+`Test-Path C:\Media2\setup.exe`), nil))
	if out != "True\r\n" || code != 0 {
		t.Fatalf("expand: %q %q %d", out, errOut, code)
	}
}

// waitTask polls the task as a playbook does (schtasks /Query) until it is
// Ready again, then checks its last result. The task runs on its own
// goroutine, so on a loaded machine it may take a while: the bound is
// time, not a number of queries.
func waitTask(t *testing.T, m *Machine, name string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out, _, _ := readAll(m.Start("schtasks /Query /TN "+name+" /FO LIST /V", nil))
		if strings.Contains(out, "Status:                               Ready") {
			if !strings.Contains(out, "Last Result:                          "+strconv.Itoa(want)+"\r\n") {
				t.Fatalf("task %s: %s", name, out)
			}
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("task %s not finished within 10s", name)
}
