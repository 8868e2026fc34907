package device

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// psError is a PowerShell error record written to stderr.
type psError struct {
	msg string
}

// powershell runs a script: statements separated by newlines or ';', each
// a pipeline of the cmdlets documented in the package comment.
func (m *Machine) powershell(script string, s session) *Proc {
	p := newProc()
	go func() {
		defer func() {
			// A bug in the simulator must fail this command, not the fleet.
			if r := recover(); r != nil {
				p.write("stderr", fmt.Sprintf("simulator error: %v\r\n", r))
				p.exit(-1)
			}
		}()
		stdout, stderr, code := m.runScript(script, s, p)
		p.write("stdout", stdout)
		p.write("stderr", stderr)
		p.exit(code)
	}()
	return p
}

// runScript evaluates the statements in order; a native program runs to its
// end before the next statement, as in PowerShell. It stops early if self
// is terminated.
func (m *Machine) runScript(script string, s session, self *Proc) (string, string, int) {
	var stdout, stderr strings.Builder
	ok := true
	lastExit := 0
	vars := map[string]any{} // variables by lower-case name, $Params among them
	stop := false            // $ErrorActionPreference = 'Stop': a cmdlet error ends the script
	for _, st := range splitOutside(script, ";\n") {
		if self.isExited() {
			break
		}
		st = strings.TrimSpace(strings.TrimSuffix(st, "\r"))
		if st == "" || strings.HasPrefix(st, "#") {
			continue
		}
		low := strings.ToLower(st)
		if low == "exit" || strings.HasPrefix(low, "exit ") {
			arg := strings.TrimSpace(st[4:])
			code := 0
			if strings.EqualFold(arg, "$LASTEXITCODE") {
				code = lastExit
			} else if arg != "" {
				n, err := strconv.Atoi(expandVars(arg, vars, false))
				if err != nil {
					return stdout.String(), stderr.String() + fmt.Sprintf("Cannot convert value %q to type \"System.Int32\".\r\n", arg), 1
				}
				code = n
			}
			return stdout.String(), stderr.String(), code
		}
		if strings.HasPrefix(st, "$") && strings.Contains(st, "=") && preferenceAssignment(st) {
			name, val, _ := strings.Cut(st, "=")
			if strings.EqualFold(strings.TrimSpace(name), "$ErrorActionPreference") {
				stop = strings.EqualFold(strings.Trim(strings.TrimSpace(val), `'"`), "Stop")
			}
			continue
		}
		if a := assignment.FindStringSubmatch(st); a != nil {
			v, err := m.evalValue(strings.TrimSpace(a[2]), vars, s)
			if err != nil {
				stderr.WriteString(err.msg)
				if stop { // a terminating error ends the script, exit code 1
					return stdout.String(), stderr.String(), 1
				}
				ok = false
				continue
			}
			vars[strings.ToLower(a[1])] = v
			ok = true
			continue
		}
		// A native program inside the script: run it and keep its exit
		// code. The statement is split into its pipeline before variables
		// expand, so a value can never add a stage; each expanded value is
		// one argument, which the program receives as Windows PowerShell
		// 5.1 passes it (nativeCommandLine), never through cmd.exe.
		stages := splitOutside(st, "|")
		words := fields(expandVars(stages[0], vars, true), true)
		if len(words) > 1 && words[0] == "&" {
			words = words[1:]
		}
		if len(words) > 0 && nativePrograms[program(strings.TrimPrefix(words[0], "&"))] {
			prog := strings.TrimPrefix(words[0], "&")
			o, e, code := readAll(m.exec(nativeCommandLine(prog, words[1:]), s))
			if len(stages) > 1 {
				// Later stages get the program's output, one string per line.
				var perr *psError
				if o, perr = pipeText(o, stages[1:]); perr != nil {
					e += perr.msg
				}
			}
			stdout.WriteString(o)
			stderr.WriteString(e)
			lastExit = code
			ok = code == 0
			continue
		}
		if v, isRef := varRef(st, vars); isRef {
			st = "Write-Output " + quoteWord(text(v)) // a bare $x or $x.y statement outputs the value
		}
		vals, err := m.pipeline(expandVars(st, vars, true), s)
		if err != nil {
			stderr.WriteString(err.msg)
			if stop && !strings.Contains(strings.ToLower(st), "-erroraction silentlycontinue") {
				return stdout.String(), stderr.String(), 1
			}
			ok = false
			continue
		}
		ok = true
		for _, v := range vals {
			stdout.WriteString(text(v))
			if _, isObj := v.(object); !isObj {
				stdout.WriteString("\r\n")
			}
		}
	}
	code := 0
	if !ok {
		code = 1
	}
	return stdout.String(), stderr.String(), code
}

// assignment is "$name = value".
var assignment = regexp.MustCompile(`(?s)^\$([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+)$`)

// formatOp is "'format' -f a, b".
var formatOp = regexp.MustCompile(`(?is)^('(?:[^']|'')*')\s+-f\s+(.+)$`)

// joinOFS renders a value inside a string: an array's items joined by
// spaces, as PowerShell's $OFS does.
func joinOFS(v any) string {
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, it := range list {
			parts[i] = text(it)
		}
		return strings.Join(parts, " ")
	}
	return text(v)
}

// evalValue evaluates the right-hand side of an assignment: a literal, a
// hashtable, a variable, a -f format or a pipeline (its single value, or
// its values as an array).
func (m *Machine) evalValue(rhs string, vars map[string]any, s session) (any, *psError) {
	if strings.HasPrefix(rhs, "@{") {
		t, err := parseHashtable(rhs)
		if err != nil {
			return nil, &psError{err.Error() + "\r\n"}
		}
		return t, nil
	}
	if f := formatOp.FindStringSubmatch(rhs); f != nil {
		format, err := psLiteral(f[1])
		if err != nil {
			return nil, &psError{err.Error() + "\r\n"}
		}
		out := text(format)
		for i, arg := range splitOutside(f[2], ",") {
			v, perr := m.evalValue(strings.TrimSpace(arg), vars, s)
			if perr != nil {
				return nil, perr
			}
			out = strings.ReplaceAll(out, "{"+strconv.Itoa(i)+"}", joinOFS(v))
		}
		return out, nil
	}
	if v, isRef := varRef(rhs, vars); isRef {
		return v, nil
	}
	if v, err := psLiteral(rhs); err == nil {
		return v, nil
	}
	vals, err := m.pipeline(expandVars(rhs, vars, true), s)
	switch {
	case err != nil:
		return nil, err
	case len(vals) == 1:
		return vals[0], nil
	case len(vals) == 0:
		return nil, nil
	}
	return vals, nil
}

var varName = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?$`)

// varRef reports a word that is only $name or $name.property of a defined
// variable, and its value.
func varRef(word string, vars map[string]any) (any, bool) {
	mm := varName.FindStringSubmatch(strings.TrimSpace(word))
	if mm == nil {
		return nil, false
	}
	v, ok := vars[strings.ToLower(mm[1])]
	if !ok {
		return nil, false
	}
	if mm[2] == "" {
		return v, true
	}
	switch x := v.(type) {
	case map[string]any:
		for k, pv := range x {
			if strings.EqualFold(k, mm[2]) {
				return pv, true
			}
		}
		return nil, true
	case object:
		pv, _ := x.get(mm[2])
		return pv, true
	}
	return nil, true
}

var (
	varToken = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)(\.[A-Za-z_][A-Za-z0-9_]*)?`)
	subExpr  = regexp.MustCompile(`^\$\(\$([A-Za-z_][A-Za-z0-9_]*)(\.[A-Za-z_][A-Za-z0-9_]*)?\)`)
)

// expandVars replaces references to defined variables as PowerShell
// evaluates them: outside quotes $x and $x.y become the value, quoted so
// it stays one word whatever it contains (or bare when quote is false);
// inside double quotes $x and $($x.y) are interpolated; inside single
// quotes nothing is.
func expandVars(st string, vars map[string]any, quote bool) string {
	if len(vars) == 0 || !strings.Contains(st, "$") {
		return st
	}
	var b strings.Builder
	inSingle, inDouble := false, false
	for i := 0; i < len(st); {
		r, size := utf8.DecodeRuneInString(st[i:])
		switch {
		case inSingle:
			inSingle = !isSingleQuote(r)
		case r == '"':
			inDouble = !inDouble
		case !inDouble && isSingleQuote(r):
			inSingle = true
		case r == '$':
			if mm := subExpr.FindStringSubmatch(st[i:]); inDouble && mm != nil {
				if v, ok := varRef("$"+mm[1]+mm[2], vars); ok {
					b.WriteString(text(v))
					i += len(mm[0])
					continue
				}
			}
			if mm := varToken.FindStringSubmatch(st[i:]); mm != nil {
				ref := mm[0]
				if inDouble {
					ref = "$" + mm[1] // "$x.y" interpolates $x, then ".y"
				}
				if v, ok := varRef(ref, vars); ok {
					switch list, isList := v.([]any); {
					case inDouble || !quote:
						b.WriteString(joinOFS(v))
					case isList: // an array passes each item as its own argument
						for j, it := range list {
							if j > 0 {
								b.WriteByte(' ')
							}
							b.WriteString(quoteWord(text(it)))
						}
					default:
						b.WriteString(quoteWord(text(v)))
					}
					i += len(ref)
					continue
				}
			}
		}
		b.WriteString(st[i : i+size])
		i += size
	}
	return b.String()
}

// quoteWord writes a word so fields reads it back whole and unchanged.
func quoteWord(w string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range w {
		if isSingleQuote(r) {
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

// parseHashtable reads @{ key = value; ... } with literal values: a
// single-quoted string (any of PowerShell's single quotes, doubled inside),
// an integer, $true or $false, or @( 'a', 'b' ).
func parseHashtable(s string) (map[string]any, error) {
	body, ok := strings.CutPrefix(s, "@{")
	if !ok || !strings.HasSuffix(body, "}") {
		return nil, fmt.Errorf("ParserError: a hashtable literal @{ ... } was expected")
	}
	body = strings.TrimSuffix(body, "}")
	out := map[string]any{}
	for _, entry := range splitOutside(body, ";\n") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		k, v, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, fmt.Errorf("ParserError: missing '=' in hash literal entry %q", entry)
		}
		val, err := psLiteral(strings.TrimSpace(v))
		if err != nil {
			return nil, err
		}
		out[strings.TrimSpace(k)] = val
	}
	return out, nil
}

func psLiteral(v string) (any, error) {
	switch {
	case strings.EqualFold(v, "$true"):
		return true, nil
	case strings.EqualFold(v, "$false"):
		return false, nil
	case strings.HasPrefix(v, "@(") && strings.HasSuffix(v, ")"):
		items := []any{}
		for _, it := range splitOutside(v[2:len(v)-1], ",") {
			if it = strings.TrimSpace(it); it == "" {
				continue
			}
			s, err := psLiteral(it)
			if err != nil {
				return nil, err
			}
			items = append(items, s)
		}
		return items, nil
	}
	r := []rune(v)
	if len(r) >= 2 && isSingleQuote(r[0]) && isSingleQuote(r[len(r)-1]) {
		var out []rune
		for i := 1; i < len(r)-1; i++ {
			if isSingleQuote(r[i]) {
				if i+1 < len(r)-1 && isSingleQuote(r[i+1]) {
					out = append(out, r[i])
					i++
					continue
				}
				return nil, fmt.Errorf("ParserError: unexpected token after the string %q", v)
			}
			out = append(out, r[i])
		}
		return string(out), nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n, nil
	}
	return nil, fmt.Errorf("ParserError: %q is not a literal value", v)
}

// nativePrograms are the executables a script can run directly.
var nativePrograms = map[string]bool{
	"cmd": true, "powershell": true, "pwsh": true, "reg": true, "setup": true, "wusa": true,
	"dism": true, "shutdown": true, "schtasks": true, "robocopy": true, "bitsadmin": true, "icacls": true,
	"ver": false,
}

// pipeText sends a native program's output, one string per line, through
// later pipeline stages (Out-Null, Select-Object ...), and renders what
// comes out.
func pipeText(out string, stages []string) (string, *psError) {
	var vals []any
	for l := range strings.SplitSeq(strings.TrimSuffix(strings.ReplaceAll(out, "\r\n", "\n"), "\n"), "\n") {
		if out != "" {
			vals = append(vals, l)
		}
	}
	for _, stage := range stages {
		var err *psError
		if vals, err = filter(strings.TrimSpace(stage), vals); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	for _, v := range vals {
		b.WriteString(text(v))
		if _, isObj := v.(object); !isObj {
			b.WriteString("\r\n")
		}
	}
	return b.String(), nil
}

// preferenceAssignment accepts the preference variables scripts set first.
func preferenceAssignment(st string) bool {
	name, _, _ := strings.Cut(st, "=")
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "$erroractionpreference", "$progresspreference", "$warningpreference", "$verbosepreference", "$confirmpreference":
		return true
	}
	return false
}

func notRecognized(name string) *psError {
	return &psError{fmt.Sprintf("%s : The term '%s' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.\r\n", name, name)}
}

// pipeline evaluates "cmd | cmd | ...".
func (m *Machine) pipeline(st string, s session) ([]any, *psError) {
	if mm := memberAccess.FindStringSubmatch(st); mm != nil {
		vals, err := m.pipeline(mm[1], s)
		if err != nil {
			return nil, err
		}
		var out []any
		for _, v := range vals {
			if o, ok := v.(object); ok {
				if pv, ok := o.get(mm[2]); ok {
					out = append(out, pv)
				}
			}
		}
		return out, nil
	}
	stages := splitOutside(st, "|")
	vals, err := m.source(strings.TrimSpace(stages[0]), s)
	if err != nil {
		return nil, err
	}
	for _, stage := range stages[1:] {
		if vals, err = filter(strings.TrimSpace(stage), vals); err != nil {
			return nil, err
		}
	}
	return vals, nil
}

// source evaluates the first command of a pipeline.
func (m *Machine) source(cmd string, s session) ([]any, *psError) {
	words := fields(cmd, true)
	if len(words) == 0 {
		return nil, nil
	}
	name := strings.ToLower(words[0])
	args := words[1:]
	switch name {
	case "write-output", "echo", "write-host":
		return []any{strings.Join(args, " ")}, nil
	case "hostname", "$env:computername":
		return []any{m.Name()}, nil
	case "get-ciminstance", "get-wmiobject", "gcim", "gwmi":
		class := flagOr(args, "-classname", "-class")
		return m.cim(class, flagOr(args, "-filter", ""))
	case "get-itemproperty", "gp":
		p := flagOr(args, "-path", "")
		if !strings.EqualFold(strings.ReplaceAll(p, "HKLM:", "HKEY_LOCAL_MACHINE"), currentVersionKey) {
			return nil, &psError{fmt.Sprintf("Get-ItemProperty : Cannot find path '%s' because it does not exist.\r\n", p)}
		}
		return []any{m.currentVersion()}, nil
	case "get-itempropertyvalue", "gpv":
		p, n := flagOr(args, "-path", ""), flagAt(args, "-name", 1)
		v, ok := m.currentVersion().get(n)
		if !strings.EqualFold(strings.ReplaceAll(p, "HKLM:", "HKEY_LOCAL_MACHINE"), currentVersionKey) || !ok {
			return nil, &psError{fmt.Sprintf("Get-ItemPropertyValue : Property %s does not exist at path %s.\r\n", n, p)}
		}
		return []any{v}, nil
	case "get-hotfix":
		return m.hotfixes(flagOr(args, "-id", ""))
	case "test-path":
		return []any{m.testPath(flagOr(args, "-path", ""))}, nil
	case "get-content", "gc", "type", "cat":
		return m.content(flagOr(args, "-path", ""), flagOr(args, "-tail", ""))
	case "get-psdrive":
		drive := flagOr(args, "-name", "")
		if !strings.EqualFold(drive, "C") {
			return nil, &psError{fmt.Sprintf("Get-PSDrive : Cannot find drive. A drive with the name '%s' does not exist.\r\n", drive)}
		}
		m.mu.Lock()
		free := int64(m.s.DiskFreeGB * (1 << 30))
		m.mu.Unlock()
		return []any{object{{"Name", "C"}, {"Used", int64(237<<30) - free}, {"Free", free}, {"Root", `C:\`}}}, nil
	case "start-sleep", "sleep":
		d, err := sleepDuration(args)
		if err != nil {
			return nil, err
		}
		<-m.clock.After(d)
		return nil, nil
	case "restart-computer":
		m.restartSoon(0)
		return nil, nil
	case "new-item", "ni", "mkdir", "md":
		return m.newItem(args)
	case "set-content", "sc":
		return m.setContent(args)
	case "remove-item", "rm", "del", "ri", "rmdir":
		return m.removeItem(args)
	case "expand-archive":
		return m.expandArchive(args)
	case "start-process", "saps", "start":
		return m.startProcess(args, s)
	}
	return nil, notRecognized(words[0])
}

// sleepDuration reads Start-Sleep's -Seconds N (the default parameter) or -Milliseconds N.
func sleepDuration(args []string) (time.Duration, *psError) {
	unit, v := time.Second, flagOr(args, "-seconds", "-s")
	if ms := flagAt(args, "-milliseconds", -1); ms != "" {
		unit, v = time.Millisecond, ms
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n < 0 {
		return 0, &psError{fmt.Sprintf("Start-Sleep : Cannot bind parameter. Cannot convert value %q to type \"System.Double\".\r\n", v)}
	}
	return time.Duration(n * float64(unit)), nil
}

// flagOr returns a named parameter's value, or the first positional word.
func flagOr(args []string, name, alt string) string {
	for i, a := range args {
		if (strings.EqualFold(a, name) || (alt != "" && strings.EqualFold(a, alt))) && i+1 < len(args) {
			return args[i+1]
		}
	}
	for i := 0; i < len(args); i++ {
		if strings.HasPrefix(args[i], "-") {
			i++
			continue
		}
		return args[i]
	}
	return ""
}

// flagAt returns a named parameter's value, or the positional word at index pos.
func flagAt(args []string, name string, pos int) string {
	for i, a := range args {
		if strings.EqualFold(a, name) && i+1 < len(args) {
			return args[i+1]
		}
	}
	var positional []string
	for i := 0; i < len(args); i++ {
		if strings.HasPrefix(args[i], "-") {
			i++
			continue
		}
		positional = append(positional, args[i])
	}
	if pos >= 0 && pos < len(positional) {
		return positional[pos]
	}
	return ""
}

func (m *Machine) cim(class, filter string) ([]any, *psError) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch strings.ToLower(class) {
	case "win32_operatingsystem":
		build := m.s.Build[strings.LastIndexByte(m.s.Build, '.')+1:]
		return []any{object{
			{"Caption", m.s.Caption}, {"Version", m.s.Build}, {"BuildNumber", build}, {"OSArchitecture", "64-bit"},
			{"CSName", m.Name()}, {"LastBootUpTime", m.lastBoot.UTC()},
			{"TotalVisibleMemorySize", int64(m.s.RAMGB * (1 << 20))}, {"FreePhysicalMemory", int64(m.s.RAMGB * (1 << 19))},
		}}, nil
	case "win32_computersystem":
		return []any{object{{"Name", m.Name()}, {"Manufacturer", m.s.Manufacturer}, {"Model", m.s.Model},
			{"TotalPhysicalMemory", int64(m.s.RAMGB * (1 << 30))}}}, nil
	case "win32_bios":
		return []any{object{{"SerialNumber", m.s.Serial}}}, nil
	case "win32_logicaldisk":
		if filter != "" && !strings.Contains(strings.ToUpper(filter), "C:") {
			return nil, nil
		}
		return []any{object{{"DeviceID", "C:"}, {"FreeSpace", int64(m.s.DiskFreeGB * (1 << 30))}, {"Size", int64(237 << 30)}}}, nil
	case "win32_quickfixengineering":
		return m.hotfixesLocked("")
	case "win32_battery":
		if !m.s.Battery {
			return nil, nil
		}
		// BatteryStatus 1 is discharging (on battery), 2 on AC power.
		status := int64(2)
		if m.s.Behaviour.OnBattery {
			status = 1
		}
		return []any{object{{"Name", "Internal Battery"}, {"BatteryStatus", status}, {"EstimatedChargeRemaining", int64(80)}}}, nil
	}
	return nil, &psError{fmt.Sprintf("Get-CimInstance : Invalid class \"%s\"\r\n", class)}
}

func (m *Machine) hotfixes(id string) ([]any, *psError) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hotfixesLocked(id)
}

func (m *Machine) hotfixesLocked(id string) ([]any, *psError) {
	var out []any
	for _, kb := range m.s.KBs {
		if id == "" || strings.EqualFold(id, kb) {
			out = append(out, object{{"Source", m.Name()}, {"Description", "Security Update"}, {"HotFixID", kb},
				{"InstalledBy", `NT AUTHORITY\SYSTEM`}, {"InstalledOn", m.lastBoot.UTC().Truncate(24 * time.Hour)}})
		}
	}
	if id != "" && len(out) == 0 {
		return nil, &psError{"Get-HotFix : Cannot find the requested hotfix on the 'localhost' computer. Verify the input and run the command again.\r\n"}
	}
	return out, nil
}

// Paths the simulator knows.
const (
	setupActLog       = `C:\$WINDOWS.~BT\Sources\Panther\setupact.log`
	rebootPendingKey  = `HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending`
	rebootRequiredKey = `HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired`
)

func (m *Machine) testPath(p string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case strings.EqualFold(p, setupActLog):
		return len(m.setupLog) > 0
	case strings.EqualFold(p, rebootPendingKey), strings.EqualFold(p, rebootRequiredKey):
		return m.pendingReboot
	case strings.EqualFold(p, `C:\Windows`), strings.EqualFold(p, `C:\`), strings.EqualFold(p, currentVersionKey),
		strings.EqualFold(strings.ReplaceAll(p, "HKLM:", "HKEY_LOCAL_MACHINE"), currentVersionKey):
		return true
	}
	return m.exists(p)
}

func (m *Machine) content(p, tail string) ([]any, *psError) {
	m.mu.Lock()
	lines := slices.Clone(m.setupLog)
	file, isFile := m.readFile(p)
	m.mu.Unlock()
	switch {
	case isFile:
		lines = strings.Split(strings.TrimRight(strings.ReplaceAll(file, "\r\n", "\n"), "\n"), "\n")
		if file == "" {
			lines = nil
		}
	case !strings.EqualFold(p, setupActLog):
		return nil, &psError{fmt.Sprintf("Get-Content : Cannot find path '%s' because it does not exist.\r\n", p)}
	case len(lines) == 0:
		return nil, &psError{fmt.Sprintf("Get-Content : Cannot find path '%s' because it does not exist.\r\n", p)}
	}
	if n, err := strconv.Atoi(tail); err == nil && n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	out := make([]any, len(lines))
	for i, l := range lines {
		out[i] = l
	}
	return out, nil
}

// filter applies one later stage of a pipeline.
func filter(stage string, in []any) ([]any, *psError) {
	words := fields(stage, true)
	if len(words) == 0 {
		return in, nil
	}
	switch strings.ToLower(words[0]) {
	case "select-object", "select":
		if exp := flagOr(words[1:], "-expandproperty", ""); exp != "" && containsFold(words, "-expandproperty") {
			var out []any
			for _, v := range in {
				if o, ok := v.(object); ok {
					if pv, ok := o.get(exp); ok {
						out = append(out, pv)
						continue
					}
				}
				return nil, &psError{fmt.Sprintf("Select-Object : Property \"%s\" cannot be found.\r\n", exp)}
			}
			return out, nil
		}
		names := strings.Split(strings.Join(nonFlags(words[1:]), ""), ",")
		var out []any
		for _, v := range in {
			if o, ok := v.(object); ok {
				out = append(out, o.pick(names))
			}
		}
		return out, nil
	case "convertto-json":
		if len(in) == 0 {
			return nil, nil
		}
		return []any{toJSON(in, containsFold(words, "-compress"))}, nil
	case "out-string":
		var b strings.Builder
		for _, v := range in {
			b.WriteString(text(v))
		}
		return []any{b.String()}, nil
	case "out-null":
		return nil, nil
	case "measure-object":
		return []any{object{{"Count", int64(len(in))}}}, nil
	}
	return nil, notRecognized(words[0])
}

func containsFold(words []string, w string) bool {
	return slices.ContainsFunc(words, func(x string) bool { return strings.EqualFold(x, w) })
}

func nonFlags(words []string) []string {
	var out []string
	for i := 0; i < len(words); i++ {
		if strings.HasPrefix(words[i], "-") {
			if strings.EqualFold(words[i], "-property") {
				continue
			}
			i++
			continue
		}
		out = append(out, words[i])
	}
	return out
}
