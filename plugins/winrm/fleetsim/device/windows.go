package device

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Exit codes of Windows setup, wusa and DISM (see shared/reference/windows-facts.md;
// setup's are documented at https://learn.microsoft.com/windows/deployment/upgrade/upgrade-error-codes).
const (
	SetupNoIssues       = -1047526896 // 0xC1900210: the compatibility scan found no issues
	SetupCompatBlock    = -1047526904 // 0xC1900208: an incompatible app blocks the upgrade
	SetupMigrationNA    = -1047526908 // 0xC1900204: the migration choice is not available (edition)
	SetupNotEligible    = -1047526912 // 0xC1900200: the machine does not meet the minimum requirements
	SetupDiskSpace      = -1047526898 // 0xC190020E: not enough free disk space
	SetupRollback       = -1047527167 // 0xC1900101: the upgrade failed and rolled back
	WusaRebootRequired  = 3010
	WusaAlreadyDone     = 2359302     // 0x240006: the update is already installed
	WusaNotApplicable   = -2145124329 // 0x80240017: the update does not apply to this machine
	AccessDenied        = 5           // ERROR_ACCESS_DENIED
	AccessDeniedHResult = -2147024891 // 0x80070005
	fileNotFoundHResult = -2147024894 // 0x80070002: a task's program does not exist
	ElementNotFound     = 1168        // ERROR_NOT_FOUND, as DISM reports it
	TerminatedExitCode  = -1073741510 // 0xC000013A
	taskNotYetRun       = 267011      // 0x41303 SCHED_S_TASK_HAS_NOT_RUN
	taskRunning         = 267009      // 0x41301 SCHED_S_TASK_RUNNING
	taskTerminated      = 267014      // 0x41306 SCHED_S_TASK_TERMINATED
)

// RestartGrace is how long a restart takes to begin after it is asked for.
const RestartGrace = 5 * time.Second

// restartSoon restarts the machine after delay, and never sooner than
// RestartGrace: even shutdown /t 0 leaves the command time to return, as
// Windows takes a few seconds to stop services before WinRM goes.
func (m *Machine) restartSoon(delay time.Duration) {
	at := m.clock.After(max(delay, RestartGrace)) // registered now: time cannot slip past it
	go func() { <-at; m.reboot() }()
}

// minimumUpgradeDiskGB is the free space Windows 10 64-bit setup needs.
const minimumUpgradeDiskGB = 20

// applicability maps the sample KBs of windows-facts.md to the builds they
// apply to. A KB the table does not know applies to every build.
var applicability = map[string][]string{
	"KB4499175": {"6.1.7601"}, "KB4499164": {"6.1.7601"}, "KB4512506": {"6.1.7601"}, "KB4512486": {"6.1.7601"},
	"KB4512508": {"10.0.18362", "10.0.18363"}, "KB4511553": {"10.0.17763"}, "KB4512501": {"10.0.17134"},
	"KB4512516": {"10.0.16299"}, "KB4512507": {"10.0.15063"}, "KB4512517": {"10.0.14393"},
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if strings.EqualFold(a, flag) || strings.HasPrefix(strings.ToLower(a), strings.ToLower(flag)+":") {
			return true
		}
	}
	return false
}

// setup is the feature update's setup.exe.
func (m *Machine) setup(args []string, s session) *Proc {
	scanOnly := false
	for i, a := range args {
		if strings.EqualFold(a, "/compat") && i+1 < len(args) && strings.EqualFold(args[i+1], "scanonly") {
			scanOnly = true
		}
	}
	if !hasFlag(args, "/auto") {
		return finished("", "", SetupNotEligible)
	}
	if !scanOnly && !s.system {
		// Setup cannot run in a WinRM (network logon) session; tooling must
		// launch it from a scheduled task running as SYSTEM.
		return finished("", "", AccessDeniedHResult)
	}
	m.mu.Lock()
	if !scanOnly {
		m.truth.UpgradesLaunched++
	}
	m.logSetup("SetupHost: Setup started: %s", strings.Join(args, " "))
	scan := m.s.Behaviour.UpgradeTime / 8
	m.mu.Unlock()
	p := newProc()
	scanned := m.clock.After(scan)
	go func() {
		<-scanned
		if p.isExited() {
			return
		}
		code := m.compatibility()
		m.mu.Lock()
		m.logSetup("SetupHost: Compatibility scan result: 0x%08X", uint32(int32(code)))
		m.mu.Unlock()
		if scanOnly || code != SetupNoIssues {
			p.exit(code)
			return
		}
		// The down-level phase: copy media, stage the new OS.
		<-m.clock.After(m.s.Behaviour.UpgradeTime*4/10 - scan)
		if p.isExited() {
			return
		}
		m.mu.Lock()
		m.upgrade = &pendingUpgrade{rollback: m.s.Behaviour.RollBack}
		m.pendingReboot = true
		m.logSetup("SetupHost: Down-level phase complete; a restart continues the upgrade")
		m.mu.Unlock()
		p.exit(0)
		if !hasFlag(args, "/noreboot") {
			m.reboot()
		}
	}()
	return p
}

// compatibility is the compatibility scan's verdict.
func (m *Machine) compatibility() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.s.Behaviour.CompatBlock:
		return SetupCompatBlock
	case strings.EqualFold(m.s.Edition, "EnterpriseS"):
		return SetupMigrationNA
	case m.s.DiskFreeGB < minimumUpgradeDiskGB:
		return SetupDiskSpace
	}
	return SetupNoIssues
}

var kbInName = regexp.MustCompile(`(?i)kb(\d{6,8})`)

// wusa is the standalone update installer.
func (m *Machine) wusa(args []string, s session) *Proc {
	if len(args) == 0 {
		return finished("", "", 87) // ERROR_INVALID_PARAMETER
	}
	kbm := kbInName.FindStringSubmatch(args[0])
	if kbm == nil {
		return finished("", "", 2) // ERROR_FILE_NOT_FOUND
	}
	kb := "KB" + kbm[1]
	if hasFlag(args, "/extract") {
		return finished("", "", 0)
	}
	if !s.system {
		// The Windows Update agent refuses a network logon, such as WinRM's.
		return finished("", "", AccessDenied)
	}
	code := m.installKB(kb)
	if code == WusaRebootRequired && !hasFlag(args, "/norestart") {
		m.restartSoon(0)
	}
	return finished("", "", code)
}

// installKB installs an update package and returns wusa's exit code.
func (m *Machine) installKB(kb string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, found := slices.BinarySearch(m.s.KBs, kb); found {
		return WusaAlreadyDone
	}
	if builds, known := applicability[kb]; known && !slices.Contains(builds, m.s.Build) {
		return WusaNotApplicable
	}
	m.s.KBs = append(m.s.KBs, kb)
	slices.Sort(m.s.KBs)
	m.truth.KBsInstalled = append(m.truth.KBsInstalled, kb)
	m.pendingReboot = true
	return WusaRebootRequired
}

// dism handles the servicing operations tools run over WinRM.
func (m *Machine) dism(args []string, s session) *Proc {
	if !hasFlag(args, "/online") {
		return finished("", "\r\nError: 87\r\n\r\nThe online image must be specified.\r\n", 87)
	}
	switch {
	case hasFlag(args, "/add-package"):
		var pkg string
		for _, a := range args {
			if v, ok := strings.CutPrefix(strings.ToLower(a), "/packagepath:"); ok {
				pkg = v
			}
		}
		kbm := kbInName.FindStringSubmatch(pkg)
		if kbm == nil {
			return finished("", "\r\nError: 2\r\n\r\nThe system cannot find the file specified.\r\n", 2)
		}
		code := m.installKB("KB" + kbm[1])
		switch code {
		case WusaAlreadyDone:
			return finished("Processing 1 of 1 - The specified package is already installed.\r\nThe operation completed successfully.\r\n", "", 0)
		case WusaNotApplicable:
			return finished("", "\r\nError: 0x800f081e\r\n\r\nThe specified package is not applicable to this image.\r\n", -2146498530)
		}
		if !hasFlag(args, "/norestart") {
			m.restartSoon(0)
		}
		return finished("Processing 1 of 1 - Adding package\r\n[==========================100.0%==========================]\r\nThe operation completed successfully.\r\nRestart Windows to complete this operation.\r\n", "", WusaRebootRequired)
	case hasFlag(args, "/get-osuninstallwindow"):
		m.mu.Lock()
		prev := m.previous
		m.mu.Unlock()
		if prev == nil {
			return finished("", "\r\nError: 1168\r\n\r\nElement not found.\r\n", ElementNotFound)
		}
		return finished("\r\nUninstall Window : 10\r\n\r\nThe operation completed successfully.\r\n", "", 0)
	case hasFlag(args, "/initiate-osuninstall"):
		m.mu.Lock()
		prev := m.previous
		ok := prev != nil && m.clock.Now().Sub(m.upgradedAt) <= 10*24*time.Hour
		if ok {
			behaviour := m.s.Behaviour
			m.s = *prev
			m.s.Behaviour = behaviour
			m.previous = nil
			m.logSetup("SetupHost: Going back to the previous version of Windows (%s)", prev.Build)
		}
		m.mu.Unlock()
		if !ok {
			return finished("", "\r\nError: 1168\r\n\r\nElement not found.\r\n", ElementNotFound)
		}
		if hasFlag(args, "/norestart") {
			return finished("The operation completed successfully.\r\nRestart Windows to complete this operation.\r\n", "", WusaRebootRequired)
		}
		m.restartSoon(0)
		return finished("The operation completed successfully.\r\n", "", 0)
	}
	return finished("", "\r\nError: 87\r\n\r\nThe option is unknown.\r\n", 87)
}

// shutdown handles shutdown /r /t N (restart after N seconds).
func (m *Machine) shutdown(args []string) *Proc {
	if !hasFlag(args, "/r") {
		return finished("", "", 87)
	}
	delay := 30 * time.Second // shutdown's default (/t 30)
	for i, a := range args {
		if strings.EqualFold(a, "/t") && i+1 < len(args) {
			n, err := strconv.Atoi(args[i+1])
			if err != nil || n < 0 {
				return finished("", "", 87)
			}
			delay = time.Duration(n) * time.Second
		}
	}
	m.restartSoon(delay)
	return finished("", "", 0)
}

// schtasks creates, runs, queries and deletes scheduled tasks. A task runs
// its command as SYSTEM, where setup and wusa are allowed.
func (m *Machine) schtasks(args []string) *Proc {
	arg := func(name string) string {
		for i, a := range args {
			if strings.EqualFold(a, name) && i+1 < len(args) {
				return args[i+1]
			}
		}
		return ""
	}
	name := arg("/tn")
	notFound := finished("", "ERROR: The system cannot find the file specified.\r\n", 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tasks[strings.ToLower(name)]
	switch {
	case hasFlag(args, "/create"):
		if name == "" || arg("/tr") == "" {
			return finished("", "ERROR: Invalid syntax. Mandatory option '/tn' or '/tr' is missing.\r\n", 1)
		}
		if t != nil && !hasFlag(args, "/f") {
			return finished("", "ERROR: Cannot create a file when that file already exists.\r\n", 1)
		}
		m.tasks[strings.ToLower(name)] = &task{name: name, command: arg("/tr"), runAs: arg("/ru"), lastResult: taskNotYetRun}
		return finished(fmt.Sprintf("SUCCESS: The scheduled task %q has successfully been created.\r\n", name), "", 0)
	case hasFlag(args, "/run"):
		if t == nil {
			return notFound
		}
		if t.running {
			return finished(fmt.Sprintf("SUCCESS: Attempted to run the scheduled task %q.\r\n", name), "", 0)
		}
		t.running, t.ran, t.lastRun, t.lastResult = true, true, m.clock.Now(), taskRunning
		system := strings.EqualFold(t.runAs, "SYSTEM") || strings.EqualFold(t.runAs, `NT AUTHORITY\SYSTEM`)
		go func() {
			// The Task Scheduler starts the task's program directly, as
			// CreateProcess does: cmd.exe parses the command only if the
			// task names it (cmd.exe /c ...).
			code := fileNotFoundHResult
			if p := m.exec(t.command, session{system: system}); p != nil {
				_, _, code = readAll(p)
			}
			m.mu.Lock()
			if t.running {
				t.running, t.lastResult = false, code
			}
			m.mu.Unlock()
		}()
		return finished(fmt.Sprintf("SUCCESS: Attempted to run the scheduled task %q.\r\n", name), "", 0)
	case hasFlag(args, "/query"):
		if name == "" {
			return finished("", "ERROR: Invalid syntax.\r\n", 1)
		}
		if t == nil {
			return notFound
		}
		status := "Ready"
		if t.running {
			status = "Running"
		}
		last := "N/A"
		if t.ran {
			last = t.lastRun.Format("1/2/2006 3:04:05 PM")
		}
		return finished(fmt.Sprintf("\r\nFolder: \\\r\nHostName:                             %s\r\nTaskName:                             \\%s\r\nStatus:                               %s\r\nLast Run Time:                        %s\r\nLast Result:                          %d\r\nTask To Run:                          %s\r\nRun As User:                          %s\r\n",
			m.Name(), t.name, status, last, t.lastResult, t.command, t.runAs), "", 0)
	case hasFlag(args, "/delete"):
		if t == nil {
			return notFound
		}
		delete(m.tasks, strings.ToLower(name))
		return finished(fmt.Sprintf("SUCCESS: The scheduled task %q was successfully deleted.\r\n", name), "", 0)
	}
	return finished("", "ERROR: Invalid syntax.\r\n", 1)
}
