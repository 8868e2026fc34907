package device

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
)

// session is where a command runs: a WinRM shell (a network logon, which
// Windows Update and wusa refuse) or a scheduled task running as SYSTEM.
type session struct {
	system bool
}

// Start runs a command line as a WinRM shell receives it: cmd.exe parses
// it, operators, redirections and all. It implements the shell's view of
// the machine and never blocks.
func (m *Machine) Start(command string, args []string) *Proc {
	line := strings.TrimSpace(strings.Join(append([]string{command}, args...), " "))
	return m.run(line, session{})
}

// run is cmd.exe running a command line: it splits the line at its
// operators, applies redirections, and runs each command with cmdCommand.
func (m *Machine) run(line string, s session) *Proc {
	if segs := splitCmdOps(line); len(segs) > 1 || strings.Contains(line, ">") {
		if _, r := cutRedirects(line); len(segs) > 1 || r != (redirect{}) {
			return m.runLine(segs, s)
		}
	}
	return m.cmdCommand(uncaret(line), s)
}

// program is the lower-case base name of an executable, without .exe.
func program(word string) string {
	w := strings.ToLower(strings.ReplaceAll(word, `\`, "/"))
	return strings.TrimSuffix(path.Base(w), ".exe")
}

// powershellScript extracts the script from powershell.exe's arguments:
// -EncodedCommand (base64 of UTF-16LE, as WinRM clients send it) or
// -Command. Other switches (-NoProfile, -NonInteractive, -ExecutionPolicy X)
// are accepted and ignored. A problem is returned as powershell.exe words it.
func powershellScript(args []string) (script, problem string) {
	for i := 0; i < len(args); i++ {
		a := strings.ToLower(args[i])
		switch {
		case a == "-encodedcommand" || a == "-enc" || a == "-e" || a == "-ec":
			if i+1 >= len(args) {
				return "", "Missing the argument to -EncodedCommand."
			}
			raw, err := base64.StdEncoding.DecodeString(args[i+1])
			if err != nil || len(raw)%2 != 0 {
				return "", "Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded."
			}
			u := make([]uint16, len(raw)/2)
			for j := range u {
				u[j] = binary.LittleEndian.Uint16(raw[2*j:])
			}
			return string(utf16.Decode(u)), ""
		case a == "-command" || a == "-c":
			return strings.Join(args[i+1:], " "), ""
		case a == "-file" || a == "-f":
			if i+1 >= len(args) {
				return "", "Missing the argument to -File."
			}
			return fileScript + args[i+1], ""
		case a == "-executionpolicy" || a == "-ep" || a == "-inputformat" || a == "-outputformat" || a == "-windowstyle":
			i++
		case strings.HasPrefix(a, "-"):
		default:
			return strings.Join(args[i:], " "), ""
		}
	}
	return "", ""
}

// fileScript marks a script to be read from a file (powershell -File).
const fileScript = "\x00file:"

// native runs the executables the simulator knows, or returns nil.
func (m *Machine) native(prog string, args []string, s session) *Proc {
	switch prog {
	case "hostname":
		return finished(m.Name()+"\r\n", "", 0)
	case "reg":
		return m.reg(args)
	case "setup":
		return m.setup(args, s)
	case "wusa":
		return m.wusa(args, s)
	case "dism":
		return m.dism(args, s)
	case "shutdown":
		return m.shutdown(args)
	case "schtasks":
		return m.schtasks(args)
	case "robocopy":
		return m.robocopy(args, s)
	case "bitsadmin":
		return m.bitsadmin(args, s)
	case "icacls":
		// Permissions are not modelled; icacls reports success as Windows does.
		return finished("processed file: "+strings.Join(args[:min(1, len(args))], "")+"\r\nSuccessfully processed 1 files; Failed processing 0 files\r\n", "", 0)
	}
	return nil
}

// cmdBuiltin runs a command built into cmd.exe, or returns nil.
func (m *Machine) cmdBuiltin(name string, args []string, line string) *Proc {
	switch name {
	case "echo":
		_, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		return finished(rest+"\r\n", "", 0)
	case "exit":
		code := 0
		for _, a := range args {
			if n, err := strconv.Atoi(a); err == nil {
				code = n
			}
		}
		return finished("", "", code)
	case "ver":
		m.mu.Lock()
		defer m.mu.Unlock()
		return finished(fmt.Sprintf("\r\nMicrosoft Windows [Version %s.%d]\r\n", m.s.Build, m.s.UBR), "", 0)
	case "del", "erase":
		m.mu.Lock()
		for _, a := range args {
			if !strings.HasPrefix(a, "/") {
				m.removePath(a)
			}
		}
		m.mu.Unlock()
		return finished("", "", 0)
	}
	return nil
}

const currentVersionKey = `HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion`

// reg handles reg query of the CurrentVersion values tools read.
func (m *Machine) reg(args []string) *Proc {
	if len(args) < 4 || !strings.EqualFold(args[0], "query") || !strings.EqualFold(args[2], "/v") {
		return finished("", "ERROR: Invalid syntax.\r\nType \"REG QUERY /?\" for usage.\r\n", 1)
	}
	key := strings.Replace(args[1], "HKLM", "HKEY_LOCAL_MACHINE", 1)
	v, ok := m.currentVersion().get(args[3])
	if !strings.EqualFold(key, currentVersionKey) || !ok {
		return finished("", "ERROR: The system was unable to find the specified registry key or value.\r\n", 1)
	}
	typ, val := "REG_SZ", text(v)
	if n, isInt := v.(int64); isInt {
		typ, val = "REG_DWORD", fmt.Sprintf("0x%x", n)
	}
	return finished(fmt.Sprintf("\r\n%s\r\n    %s    %s    %s\r\n\r\n", currentVersionKey, args[3], typ, val), "", 0)
}

func (m *Machine) currentVersion() object {
	m.mu.Lock()
	defer m.mu.Unlock()
	build := m.s.Build[strings.LastIndexByte(m.s.Build, '.')+1:]
	o := object{
		{"ProductName", productName(m.s.Caption)}, {"EditionID", m.s.Edition},
		{"CurrentBuild", build}, {"CurrentBuildNumber", build}, {"UBR", int64(m.s.UBR)},
		{"CurrentVersion", "6.3"}, {"InstallationType", "Client"},
	}
	if rel := releaseID(m.s.Build); rel != "" {
		o = append(o, prop{"DisplayVersion", rel})
	}
	return o
}

func productName(caption string) string { return strings.TrimPrefix(caption, "Microsoft ") }

var releases = map[string]string{
	"10.0.14393": "1607", "10.0.15063": "1703", "10.0.16299": "1709", "10.0.17134": "1803", "10.0.17763": "1809",
	"10.0.18362": "1903", "10.0.18363": "1909", "10.0.19041": "2004", "10.0.19042": "20H2", "10.0.19043": "21H1",
	"10.0.19044": "21H2", "10.0.19045": "22H2",
}

func releaseID(build string) string { return releases[build] }

var memberAccess = regexp.MustCompile(`^\((.+)\)\.(\w+)$`)
