package device

import (
	"slices"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/playbooks"
)

func TestCommandLineToArgv(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		// The examples of "Parsing C++ command-line arguments".
		{`x "a b c" d e`, []string{"x", "a b c", "d", "e"}},
		{`x "ab\"c" "\\" d`, []string{"x", `ab"c`, `\`, "d"}},
		{`x a\\\b d"e f"g h`, []string{"x", `a\\\b`, "de fg", "h"}},
		{`x a\\\"b c d`, []string{"x", `a\"b`, "c", "d"}},
		{`x a\\\\"b c" d e`, []string{"x", `a\\b c`, "d", "e"}},
		{`x a"b"" c d`, []string{"x", `ab" c d`}},
		// The program name ends at its closing quote, backslashes and all.
		{`"C:\Program Files\x\setup.exe" /Auto`, []string{`C:\Program Files\x\setup.exe`, "/Auto"}},
		{"robocopy \t D:\\ C:\\Media", []string{"robocopy", `D:\`, `C:\Media`}},
		// Only spaces and tabs separate: cmd.exe's characters are plain.
		{`robocopy \\dp01\m>C:\x &calc a|b ^ %PATH%`, []string{"robocopy", `\\dp01\m>C:\x`, "&calc", "a|b", "^", "%PATH%"}},
		{"x a\nb", []string{"x", "a\nb"}},
		{`x ""`, []string{"x", ""}},
		{"  ", nil},
	}
	for _, tt := range tests {
		if got := commandLineToArgv(tt.line); !slices.Equal(got, tt.want) {
			t.Errorf("commandLineToArgv(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

// TestNativeCommandLine checks the command line Windows PowerShell 5.1
// builds and what the program then reads from it, faults included.
func TestNativeCommandLine(t *testing.T) {
	tests := []struct {
		args []string
		line string
		argv []string // what the program reads, after its name
	}{
		{[]string{`\\dp01\media$\Win10`, `C:\Media`, "/MIR"}, `"robocopy.exe" \\dp01\media$\Win10 C:\Media /MIR`, []string{`\\dp01\media$\Win10`, `C:\Media`, "/MIR"}},
		{[]string{`C:\Win 10 media`, "/MIR"}, `"robocopy.exe" "C:\Win 10 media" /MIR`, []string{`C:\Win 10 media`, "/MIR"}},
		{[]string{"&calc", `a>C:\x`, "|", "^", "%PATH%", "$(x)", ";"}, `"robocopy.exe" &calc a>C:\x | ^ %PATH% $(x) ;`, []string{"&calc", `a>C:\x`, "|", "^", "%PATH%", "$(x)", ";"}},
		{[]string{"a\nb"}, "\"robocopy.exe\" \"a\nb\"", []string{"a\nb"}},
		// An empty argument is dropped.
		{[]string{"", "x"}, `"robocopy.exe" x`, []string{"x"}},
		// 5.1 escapes nothing: a trailing backslash escapes its closing
		// quote, and an embedded quote regroups the words.
		{[]string{`C:\Win 10\`, "/MIR"}, `"robocopy.exe" "C:\Win 10\" /MIR`, []string{`C:\Win 10" /MIR`}},
		{[]string{`a" /MOV "b`}, `"robocopy.exe" a" /MOV "b`, []string{"a /MOV b"}},
		{[]string{`x" & calc & "y z`}, `"robocopy.exe" "x" & calc & "y z"`, []string{"x", "&", "calc", "&", "y z"}},
	}
	for _, tt := range tests {
		line := nativeCommandLine("robocopy.exe", tt.args)
		if line != tt.line {
			t.Errorf("nativeCommandLine(%q) = %q, want %q", tt.args, line, tt.line)
		}
		if got := commandLineToArgv(line)[1:]; !slices.Equal(got, tt.argv) {
			t.Errorf("robocopy reads %q from %q, want %q", got, line, tt.argv)
		}
	}
}

// hostilePaths are values a path parameter might be given by mistake or
// malice: each carries something cmd.exe or PowerShell would run or
// redirect if the value were ever parsed as code.
var hostilePaths = []string{
	`\\dp01\m&calc`,
	`\\dp01\m & calc`,
	`\\dp01\m>C:\Windows\pwned.txt`,
	`\\dp01\m >C:\Windows\pwned.txt`,
	`\\dp01\m|calc`,
	`\\dp01\m^&calc`,
	`\\dp01\%PATH%`,
	`\\dp01\$(Restart-Computer -Force)`,
	`\\dp01\m;Restart-Computer -Force`,
	`\\dp01\m'; Restart-Computer -Force; '`,
	`\\dp01\m" & calc & "`,
	`\\dp01\m" >C:\Windows\pwned.txt "`,
	"\\\\dp01\\m\r\ncalc",
	"\\\\dp01\\m\ncalc",
}

// TestNativeArgumentsStayLiteral runs a native program from PowerShell
// with each hostile value in a variable, as the built-in playbooks pass
// paths, directly and through Start-Process, and checks on the machine
// that the program got the value as data and nothing else happened: no
// file written, no other program started, no restart.
func TestNativeArgumentsStayLiteral(t *testing.T) {
	scripts := []struct {
		name, script string
		program      string
		arg          func(v string) string // the argument the value should arrive as
	}{
		{"direct", "robocopy.exe $Params.src 'C:\\Media' /MIR /R:0\nexit $LASTEXITCODE", "robocopy.exe",
			func(v string) string { return v }},
		{"call operator", "& 'C:\\Windows\\System32\\robocopy.exe' $Params.src 'C:\\Media' /MIR\nexit $LASTEXITCODE", `C:\Windows\System32\robocopy.exe`,
			func(v string) string { return v }},
		// Start-Process passes its argument list as written: the script
		// quotes the path, or a space would split it.
		{"Start-Process", "$msu = '{0}\\{1}.msu' -f $Params.src, 'KB4512508'\n$a = '\"{0}\" /quiet /norestart' -f $msu\n" +
			"$p = Start-Process -FilePath 'wusa.exe' -ArgumentList $a -Wait -PassThru\nexit $p.ExitCode", "wusa.exe",
			func(v string) string { return v + `\KB4512508.msu` }},
	}
	for _, sc := range scripts {
		for _, v := range hostilePaths {
			m := audited()
			pre, err := playbooks.ParamsPreamble(map[string]any{"src": v})
			if err != nil {
				t.Fatal(err)
			}
			readAll(m.Start("powershell -NoProfile -NonInteractive -EncodedCommand "+encoded(pre+sc.script), nil))
			procs := m.Processes()
			if len(procs) != 2 || program(procs[1].Args[0]) != program(sc.program) {
				t.Errorf("%s, %q: programs started %q, want powershell then %s", sc.name, v, programs(procs), sc.program)
				continue
			}
			// An embedded double quote is the one thing 5.1 does not pass
			// through intact; whatever it regroups, it stays an argument.
			if want := sc.arg(v); !strings.Contains(v, `"`) && (len(procs[1].Args) < 2 || procs[1].Args[1] != want) {
				t.Errorf("%s, %q: %s got %q, want the value as its first argument %q", sc.name, v, sc.program, procs[1].Args, want)
			}
			if files := m.Files(); len(files) != 0 {
				t.Errorf("%s, %q: files written: %q", sc.name, v, files)
			}
			if tr := m.Truth(); tr.Reboots != 0 || len(tr.KBsInstalled) != 0 {
				t.Errorf("%s, %q: %+v", sc.name, v, tr)
			}
		}
	}
}

// TestCmdSlashCParsesAgain is the control for the test above: a value
// handed to cmd.exe /c is parsed by cmd.exe, on Windows as here, so the
// simulator does show what an injection would do.
func TestCmdSlashCParsesAgain(t *testing.T) {
	tests := []struct {
		value    string
		files    []string
		programs []string
	}{
		{`x>C:\Windows\pwned.txt`, []string{`c:\windows\pwned.txt`}, []string{"powershell", "cmd"}},
		{`x&calc`, nil, []string{"powershell", "cmd", "calc"}},
		{`x|calc`, nil, []string{"powershell", "cmd", "calc"}},
		{`x^&calc`, nil, []string{"powershell", "cmd"}}, // the caret makes & plain
		{`"x & calc"`, nil, []string{"powershell", "cmd"}},
		{`x & calc`, nil, []string{"powershell", "cmd"}}, // PowerShell quotes it: cmd.exe sees "x & calc"
	}
	for _, tt := range tests {
		m := audited()
		pre, err := playbooks.ParamsPreamble(map[string]any{"v": tt.value})
		if err != nil {
			t.Fatal(err)
		}
		readAll(m.Start("powershell -NoProfile -EncodedCommand "+encoded(pre+"cmd.exe /c echo $Params.v"), nil))
		if files := m.Files(); !slices.Equal(files, tt.files) {
			t.Errorf("%q: files = %q, want %q", tt.value, files, tt.files)
		}
		if got := programs(m.Processes()); !slices.Equal(got, tt.programs) {
			t.Errorf("%q: programs started %q, want %q", tt.value, got, tt.programs)
		}
	}
}

// audited is machine() with its processes recorded.
func audited() *Machine {
	m := machine()
	m.s.AuditProcesses = true
	return m
}

func programs(ps []Process) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = program(p.Args[0])
	}
	return out
}
