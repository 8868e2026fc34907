package device

import (
	"strings"
)

// cmd.exe's command operators and redirections, as deployment tools use
// them: "a && b" runs b when a succeeded, "a || b" when it failed, "a & b"
// always, "a | b" both with a's output going to b (which the simulated
// programs do not read); "> FILE", ">> FILE", "2> FILE", "2>&1" and
// "> nul" send output to a file, nowhere or the other stream. A caret
// outside double quotes makes the next character plain ("^&" is an
// ampersand) and is removed.

type cmdSegment struct {
	op      string // "", "&&", "||", "&" or "|": how this command joins the previous one
	command string
}

// splitCmdOps splits a command line at &&, ||, & and | outside double
// quotes and not escaped by a caret.
func splitCmdOps(line string) []cmdSegment {
	var out []cmdSegment
	op, start, quoted := "", 0, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '^':
			i++ // the next character is plain
		case c == '&' && i > 0 && line[i-1] == '>': // 2>&1
		case c == '&' || c == '|':
			next := string(c)
			if i+1 < len(line) && line[i+1] == c {
				next += string(c)
			}
			out = append(out, cmdSegment{op, strings.TrimSpace(line[start:i])})
			op = next
			i += len(next) - 1
			start = i + 1
		}
	}
	return append(out, cmdSegment{op, strings.TrimSpace(line[start:])})
}

// uncaret removes the carets cmd.exe reads as escapes: outside double
// quotes, "^x" is x.
func uncaret(cmd string) string {
	if !strings.Contains(cmd, "^") {
		return cmd
	}
	var b strings.Builder
	quoted := false
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case c == '"':
			quoted = !quoted
		case c == '^' && !quoted:
			if i++; i == len(cmd) {
				return b.String()
			}
			c = cmd[i]
		}
		b.WriteByte(c)
	}
	return b.String()
}

// redirect is where a command's output goes.
type redirect struct {
	stdout, stderr       string // "" the caller, "nul", or a file
	appendOut, appendErr bool
	errToOut             bool
}

// cutRedirects removes redirections outside double quotes from a command.
func cutRedirects(cmd string) (string, redirect) {
	var r redirect
	var b strings.Builder
	quoted := false
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		if c == '"' {
			quoted = !quoted
		}
		if c == '^' && !quoted && i+1 < len(cmd) {
			b.WriteString(cmd[i : i+2]) // an escaped character stays, for uncaret
			i++
			continue
		}
		if quoted || c != '>' {
			b.WriteByte(c)
			continue
		}
		fd := byte('1')
		if s := b.String(); len(s) > 0 && (s[len(s)-1] == '1' || s[len(s)-1] == '2') && (len(s) == 1 || s[len(s)-2] == ' ') {
			fd = s[len(s)-1]
			b.Reset()
			b.WriteString(s[:len(s)-1])
		}
		appendMode := i+1 < len(cmd) && cmd[i+1] == '>'
		if appendMode {
			i++
		}
		if i+1 < len(cmd) && cmd[i+1] == '&' { // 2>&1
			i += 2
			if fd == '2' {
				r.errToOut = true
			}
			continue
		}
		j := i + 1
		for j < len(cmd) && cmd[j] == ' ' {
			j++
		}
		k := j
		if k < len(cmd) && cmd[k] == '"' {
			k = strings.IndexByte(cmd[k+1:], '"') + k + 2
			if k < j+2 {
				k = len(cmd)
			}
		} else {
			for k < len(cmd) && cmd[k] != ' ' {
				k++
			}
		}
		target := strings.Trim(cmd[j:k], `"`)
		if fd == '2' {
			r.stderr, r.appendErr = target, appendMode
		} else {
			r.stdout, r.appendOut = target, appendMode
		}
		i = k - 1
	}
	return strings.TrimSpace(b.String()), r
}

// runLine runs a command line with operators and redirections.
func (m *Machine) runLine(segs []cmdSegment, s session) *Proc {
	p := newProc()
	go func() {
		code := 0
		for i, seg := range segs {
			if i > 0 && ((seg.op == "&&" && code != 0) || (seg.op == "||" && code == 0)) {
				continue
			}
			command, r := cutRedirects(seg.command)
			stdout, stderr, c := readAll(m.cmdCommand(uncaret(command), s))
			code = c
			if i+1 < len(segs) && segs[i+1].op == "|" && r.stdout == "" {
				stdout = "" // piped to the next command, which does not read it
			}
			if r.errToOut {
				stdout, stderr = stdout+stderr, ""
				if r.stderr == "" {
					r.stderr = "nul"
				}
			}
			p.write("stdout", m.sendTo(r.stdout, r.appendOut, stdout))
			p.write("stderr", m.sendTo(r.stderr, r.appendErr, stderr))
		}
		p.exit(code)
	}()
	return p
}

// sendTo writes output to its redirection target and returns what is left
// for the caller.
func (m *Machine) sendTo(target string, appendMode bool, data string) string {
	switch {
	case target == "":
		return data
	case strings.EqualFold(target, "nul"):
		return ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.readFile(target); ok && appendMode {
		data = old + data
	}
	m.writeFile(target, data)
	return ""
}
