package device

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

func machine() *Machine {
	return New(Spec{Hostname: "pc000001.rxx.nhs.uk", Caption: "Microsoft Windows 10 Enterprise", Edition: "Enterprise",
		Build: "10.0.19045", UBR: 3803, KBs: []string{"KB5034441", "KB5036892"}, DiskFreeGB: 48.5, RAMGB: 16,
		Manufacturer: "Dell Inc.", Model: "OptiPlex 7090", Serial: "AB123456"},
		NewManualClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)), DefaultMedia)
}

func encoded(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		b[2*i], b[2*i+1] = byte(r), byte(r>>8)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestCommands(t *testing.T) {
	m := machine()
	tests := []struct {
		line           string
		stdout, stderr string
		code           int
	}{
		{"hostname", "PC000001\r\n", "", 0},
		{"HOSTNAME.EXE", "PC000001\r\n", "", 0},
		{`C:\Windows\System32\hostname.exe`, "PC000001\r\n", "", 0},
		{"cmd /c exit /b 12", "", "", 12},
		{"powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand " + encoded("Write-Output 'é ünïcode'"), "é ünïcode\r\n", "", 0},
		{"powershell -Command \"hostname\"", "PC000001\r\n", "", 0},
		{"powershell -EncodedCommand !!!", "", "Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded.\r\n", 1},
		// Quoted, or cmd.exe would pipe powershell's output to a program named Select-Object.
		{`powershell -Command "Get-CimInstance Win32_OperatingSystem | Select-Object Caption,BuildNumber | ConvertTo-Json"`,
			"{\r\n    \"Caption\":  \"Microsoft Windows 10 Enterprise\",\r\n    \"BuildNumber\":  \"19045\"\r\n}\r\n", "", 0},
		{`powershell -Command "Get-HotFix | Measure-Object | Select-Object -ExpandProperty Count"`, "2\r\n", "", 0},
		{"powershell -Command Get-HotFix | Measure-Object", "", "'Measure-Object' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", 9009},
		{"powershell -Command (Get-CimInstance Win32_LogicalDisk -Filter \"DeviceID='C:'\").FreeSpace", "52076478464\r\n", "", 0},
		{"powershell -Command $ErrorActionPreference = 'Continue'; Get-Nothing; Write-Output after", "after\r\n",
			"Get-Nothing : The term 'Get-Nothing' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.\r\n", 0},
		{"powershell -Command cmd /c exit /b 3; exit $LASTEXITCODE", "", "", 3},
		{"powershell -Command Get-Nothing", "", "", 1},
		{"powershell -Command $ErrorActionPreference = 'Stop'; Get-Nothing; Write-Output after", "", "", 1},
		{"frob", "", "'frob' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", 9009},
		{"schtasks /Query /TN Missing", "", "ERROR: The system cannot find the file specified.\r\n", 1},
		{"DISM /Online /Get-OSUninstallWindow", "", "\r\nError: 1168\r\n\r\nElement not found.\r\n", 1168},
		{"shutdown /s", "", "", 87},
	}
	for _, tt := range tests {
		out, errOut, code := readAll(m.Start(tt.line, nil))
		if out != tt.stdout || (tt.stderr != "" && errOut != tt.stderr) || code != tt.code {
			t.Errorf("%s:\n stdout %q\n stderr %q\n code %d\nwant %q / %q / %d", tt.line, out, errOut, code, tt.stdout, tt.stderr, tt.code)
		}
	}
}

func TestFieldsAndSplitting(t *testing.T) {
	if got := fields(`schtasks /TR "D:\setup.exe /Auto Upgrade" /RU SYSTEM`, false); len(got) != 5 || got[2] != `D:\setup.exe /Auto Upgrade` {
		t.Errorf("fields = %q", got)
	}
	if got := fields(`Write-Output 'it''s'`, true); len(got) != 2 || got[1] != "it's" {
		t.Errorf("single quotes = %q", got)
	}
	if got := splitOutside(`a; b 'x;y'; (c; d)`, ";"); len(got) != 3 || strings.TrimSpace(got[2]) != "(c; d)" {
		t.Errorf("splitOutside = %q", got)
	}
}

func TestTerminate(t *testing.T) {
	m := machine()
	p := m.Start(`D:\setup.exe /Auto Upgrade /Quiet /Compat ScanOnly`, nil)
	p.Terminate()
	if _, _, code := readAll(p); code != TerminatedExitCode {
		t.Fatalf("terminated scan exit %d", code)
	}
}

func TestScaledClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewScaledClock(start, 3600) // an hour a second
	real0 := time.Now()
	<-c.After(90 * time.Minute)
	// Never early; how late depends on the machine's load, which is not
	// the clock's to promise.
	if took := time.Since(real0); took < 1400*time.Millisecond {
		t.Fatalf("90 simulated minutes at 3600x took only %v of real time", took)
	}
	if now := c.Now(); now.Sub(start) < 90*time.Minute {
		t.Fatalf("clock reads %v after 90 simulated minutes", now.Sub(start))
	}
}
