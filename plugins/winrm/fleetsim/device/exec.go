package device

import (
	"fmt"
	"slices"
	"strings"
)

// How a program gets its arguments on Windows, which the simulator follows
// so that a test of quoting proves what it would prove on a real machine.
//
// A process receives one command line, not an argument array: CreateProcess
// passes the string through and the program splits it itself. Programs
// built with the Microsoft C runtime (robocopy, wusa, setup, schtasks,
// bitsadmin, DISM, powershell.exe) split it as "Parsing C++ command-line
// arguments" (learn.microsoft.com/cpp/cpp/main-function-command-line-args)
// describes; commandLineToArgv does the same. Nothing between the caller
// and the program interprets & | < > ^ or %VAR%: those are cmd.exe's
// operators, and only a line cmd.exe itself parses (a WinRM cmd shell, or
// cmd.exe /c COMMAND) runs them. That is run in cmdline.go.
//
// Windows PowerShell 5.1 builds a native program's command line from its
// arguments after evaluating them (about_Parsing, "Passing arguments that
// contain quote characters", and about_Preference_Variables,
// $PSNativeCommandArgumentPassing, whose Legacy mode keeps the 5.1
// behaviour): each argument is written as it is, wrapped in double quotes
// if it holds white space outside a pair of double quotes of its own,
// with nothing escaped inside (an embedded " or a trailing \ before the
// closing quote changes how the program splits the line); an empty
// argument is dropped; and the program is started with CreateProcess,
// not through cmd.exe. So a value held in a variable reaches the program as
// one argument (unless it contains double quotes), and & | > in it are
// plain characters, unless the program is cmd.exe /c, which parses its
// line again. nativeCommandLine does the same.

// commandLineToArgv splits a command line as the Microsoft C runtime does.
// The program name (the first word) ends at the next white space, or, if
// it starts with a double quote, at the next double quote. After it,
// arguments are separated by spaces and tabs; double quotes group white
// space into an argument and are removed; inside quotes "" is one literal
// quote; 2n backslashes before a quote become n and the quote groups, 2n+1
// become n and a literal quote; other backslashes are literal.
func commandLineToArgv(line string) []string {
	var out []string
	for _, a := range argvSpans(line) {
		out = append(out, a.arg)
	}
	return out
}

// argSpan is one argument and the offset just past it in the line.
type argSpan struct {
	arg string
	end int
}

func argvSpans(line string) []argSpan {
	var out []argSpan
	i := 0
	skip := func() {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
	}
	skip()
	if i == len(line) {
		return nil
	}
	// The program name.
	if line[i] == '"' {
		j := strings.IndexByte(line[i+1:], '"')
		if j < 0 {
			out = append(out, argSpan{line[i+1:], len(line)})
			return out
		}
		out = append(out, argSpan{line[i+1 : i+1+j], i + j + 2})
		i += j + 2
	} else {
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		out = append(out, argSpan{line[i:j], j})
		i = j
	}
	for {
		skip()
		if i == len(line) {
			return out
		}
		var b strings.Builder
		quoted := false
	arg:
		for i < len(line) {
			switch c := line[i]; {
			case (c == ' ' || c == '\t') && !quoted:
				break arg
			case c == '\\':
				n := 0
				for i < len(line) && line[i] == '\\' {
					n++
					i++
				}
				if i == len(line) || line[i] != '"' {
					b.WriteString(strings.Repeat(`\`, n))
					continue
				}
				b.WriteString(strings.Repeat(`\`, n/2))
				if n%2 == 1 {
					b.WriteByte('"')
					i++
				}
				// An even count leaves the quote to group, below.
			case c == '"':
				if quoted && i+1 < len(line) && line[i+1] == '"' {
					b.WriteByte('"')
					i += 2
					continue
				}
				quoted = !quoted
				i++
			default:
				b.WriteByte(c)
				i++
			}
		}
		out = append(out, argSpan{b.String(), i})
	}
}

// nativeCommandLine is the command line Windows PowerShell 5.1 gives
// CreateProcess for a native program and its evaluated arguments (see the
// comment at the top of this file). The program's path is always quoted,
// as .NET's Process class writes it.
func nativeCommandLine(program string, args []string) string {
	var b strings.Builder
	b.WriteString(`"` + program + `"`)
	for _, a := range args {
		if a == "" {
			continue // 5.1 passes no argument at all for an empty string
		}
		b.WriteByte(' ')
		if needsQuotes(a) {
			b.WriteString(`"` + a + `"`)
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

// needsQuotes reports white space outside double quotes the argument
// already holds, as Windows PowerShell 5.1 decides to quote an argument.
func needsQuotes(a string) bool {
	quotes := 0
	afterBackslash := false
	for _, r := range a {
		switch {
		case r == '"' && !afterBackslash:
			quotes++
		case isWhiteSpace(r) && quotes%2 == 0:
			return true
		}
		afterBackslash = r == '\\'
	}
	return false
}

// isWhiteSpace is .NET's Char.IsWhiteSpace for the characters a command
// line can hold.
func isWhiteSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// Process is a program the machine started, as process-creation auditing
// (Security event 4688 with command lines) records it. A program the
// simulator does not know is recorded too: on a real machine it might
// exist.
type Process struct {
	CommandLine string
	Args        []string // as the program splits its command line; Args[0] names it
	System      bool     // started from a SYSTEM scheduled task
}

// Processes returns the programs started so far, oldest first, if the
// machine's Spec.AuditProcesses is set (nil otherwise).
func (m *Machine) Processes() []Process {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.processes)
}

// exec starts a program as CreateProcess does: the first word of line names
// it and the program splits the rest itself; nothing interprets cmd.exe's
// operators. It returns nil if the simulator knows no such program.
func (m *Machine) exec(line string, s session) *Proc {
	argv := commandLineToArgv(line)
	if len(argv) == 0 {
		return nil
	}
	m.mu.Lock()
	if m.s.AuditProcesses {
		m.processes = append(m.processes, Process{CommandLine: line, Args: argv, System: s.system})
	}
	m.mu.Unlock()
	prog := program(argv[0])
	switch prog {
	case "powershell", "pwsh":
		script, problem := powershellScript(argv[1:])
		if file, isFile := strings.CutPrefix(script, fileScript); isFile {
			m.mu.Lock()
			body, ok := m.readFile(file)
			m.mu.Unlock()
			if !ok {
				problem = fmt.Sprintf("The argument '%s' to the -File parameter does not exist. Provide the path to an existing '.ps1' file as an argument to the -File parameter.", file)
			}
			script = body
		}
		if problem != "" {
			return finished("", problem+"\r\n", 1)
		}
		return m.powershell(script, s)
	case "cmd":
		// cmd.exe /c runs the rest of its command line as a command line
		// of its own, operators and all.
		spans := argvSpans(line)
		for i, a := range spans[1:] {
			if strings.EqualFold(a.arg, "/c") || strings.EqualFold(a.arg, "/k") {
				return m.run(cmdRest(line[spans[i+1].end:]), s)
			}
		}
		return finished("Microsoft Windows [Version 10.0.19045]\r\n", "", 0)
	case "setup":
		if strings.Contains(argv[0], `\`) {
			m.mu.Lock()
			found := m.exists(argv[0])
			m.mu.Unlock()
			if !found {
				return finished("", "The system cannot find the path specified.\r\n", 3)
			}
		}
	}
	return m.native(prog, argv[1:], s)
}

// cmdRest is the command cmd.exe /c runs from the rest of its command line.
// As cmd /? describes: a line that starts with a double quote keeps its
// quotes if it holds exactly two, with white space and none of &<>()@^|
// between them; otherwise cmd.exe removes the first quote and the last.
// (cmd.exe also requires, to keep them, that the quoted text names an
// executable; the simulator does not check that.)
func cmdRest(rest string) string {
	rest = strings.TrimLeft(rest, " \t")
	if !strings.HasPrefix(rest, `"`) {
		return rest
	}
	if strings.Count(rest, `"`) == 2 {
		inner := rest[1:strings.LastIndexByte(rest, '"')]
		if strings.ContainsAny(inner, " \t") && !strings.ContainsAny(inner, "&<>()@^|") {
			return rest
		}
	}
	last := strings.LastIndexByte(rest, '"')
	if last == 0 {
		return rest[1:]
	}
	return rest[1:last] + rest[last+1:]
}

// cmdCommand runs one command of a line cmd.exe has split at its operators:
// one of cmd's own built-in commands, or a program started as exec starts
// it.
func (m *Machine) cmdCommand(line string, s session) *Proc {
	argv := commandLineToArgv(line)
	if len(argv) == 0 {
		return finished("", "", 0)
	}
	if p := m.cmdBuiltin(strings.ToLower(argv[0]), argv[1:], line); p != nil {
		return p
	}
	if p := m.exec(line, s); p != nil {
		return p
	}
	return finished("", fmt.Sprintf("'%s' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", argv[0]), 9009)
}
