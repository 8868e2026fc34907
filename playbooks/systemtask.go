package playbooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// RunAsSystem is the run_as value that runs a step from a scheduled task
// as SYSTEM.
const RunAsSystem = "system"

// How a SYSTEM task is run. The script is written to a file that only
// SYSTEM and Administrators may change (SYSTEM runs it, so a file others
// could write would hand them SYSTEM), a task runs it with its output
// redirected to a log, and the engine polls the task until it has run,
// then reads its exit code (the task's Last Result) and the log.
//
// schtasks.exe is used, not the ScheduledTasks module, because it exists on
// every Windows a migration starts from, Windows 7 included. Its /Query
// labels are English; a device with another display language needs an
// executor that reads task state another way.
const (
	// SystemDir is where SYSTEM task scripts and logs live on the device.
	SystemDir = `C:\ProgramData\Ringmaster\Runs`
	// DefaultSystemTimeout bounds a SYSTEM task without a step timeout.
	DefaultSystemTimeout = 2 * time.Hour
	taskPollMin          = 5 * time.Second
	taskPollMax          = time.Minute
)

var runIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,24}$`)

// newRunID is a random run id.
func newRunID() string {
	b := make([]byte, 6)
	rand.Read(b) // never fails (crypto/rand)
	return "r" + hex.EncodeToString(b)
}

var itemKeyRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)

// taskName names the SYSTEM task of a step (and loop item and retry) in
// this run: the same on every attempt to run that step, so a resumed run
// finds the task it launched before a stop.
func (st *runState) taskName(phase Phase, i int, item *string, attempt int) string {
	n := fmt.Sprintf("%s-%c%d", st.runID, phase[0], i)
	if item != nil {
		key := *item
		if !itemKeyRE.MatchString(key) {
			h := fnv.New32a()
			h.Write([]byte(key))
			key = fmt.Sprintf("h%08x", h.Sum32())
		}
		n += "-" + key
	}
	if attempt > 1 {
		n += "-a" + strconv.Itoa(attempt)
	}
	return n
}

// taskError is a SYSTEM task that could not be created, run or read.
type taskError struct {
	task string
	msg  string
}

func (e *taskError) Error() string { return "SYSTEM task " + e.task + ": " + e.msg }

// taskState is what schtasks /Query says of a task.
type taskState int

const (
	taskMissing taskState = iota
	taskNotRun            // created, never started
	taskRunning
	taskDone
)

var (
	statusRE     = regexp.MustCompile(`(?m)^Status:\s+(\S.*?)\s*$`)
	lastRunRE    = regexp.MustCompile(`(?m)^Last Run Time:\s+(\S.*?)\s*$`)
	lastResultRE = regexp.MustCompile(`(?m)^Last Result:\s+(-?\d+)\s*$`)
)

// asSystem runs cmd (a PowerShell script) from a SYSTEM scheduled task
// called name, or, if that task already exists, picks it up where it is:
// waits for it if running, starts it if never started, reads it if done.
func (st *runState) asSystem(ctx context.Context, s *Step, name string, cmd sdk.Command, out func(sdk.Chunk)) (sdk.Result, error) {
	task := `Ringmaster\` + name
	base := SystemDir + `\` + name
	timeout := s.Timeout.Duration
	if timeout <= 0 {
		timeout = DefaultSystemTimeout
	}
	deadline := st.clock.Now().Add(timeout)
	checked := st.clock.Now()
	state, code, err := st.queryTask(ctx, task)
	if err != nil {
		return sdk.Result{}, err
	}
	if state == taskMissing {
		if err := st.launchTask(ctx, task, base, cmd.Script); err != nil {
			return sdk.Result{}, err
		}
		state = taskRunning
	}
	if !slices.Contains(st.tasks, name) {
		st.tasks = append(st.tasks, name)
	}
	wait := taskPollMin
	var lost error // the device stopped answering while the task ran
	for state != taskDone {
		if state == taskNotRun { // stopped between creating and starting it
			if res, err := st.e.Executor.Exec(ctx, st.r.Target, sdk.Command{Shell: sdk.Cmd,
				Script: fmt.Sprintf(`schtasks /Run /TN "%s"`, task), Timeout: time.Minute}, nil); err == nil && res.ExitCode != 0 {
				return sdk.Result{}, &taskError{task, "schtasks /Run: " + strings.TrimSpace(string(res.Stderr))}
			}
		}
		if expired(deadline, checked) {
			if lost != nil {
				return sdk.Result{}, lost
			}
			return sdk.Result{}, sdk.Errorf(sdk.TimedOut, "run as SYSTEM", st.r.Target.Hostname, "task %s still running after %s", task, timeout)
		}
		select {
		case <-ctx.Done():
			return sdk.Result{}, ctx.Err()
		case <-st.clock.After(wait):
		}
		wait = min(wait*2, taskPollMax)
		checked = st.clock.Now()
		state, code, err = st.queryTask(ctx, task)
		lost = nil
		switch {
		case err != nil && sdk.KindOf(err).Retryable():
			state, lost = taskRunning, err // the device may be restarting: keep waiting
		case err != nil:
			return sdk.Result{}, err
		case state == taskMissing:
			return sdk.Result{}, &taskError{task, "deleted while it ran"}
		}
	}
	log, err := st.e.Executor.Exec(ctx, st.r.Target, sdk.Command{Shell: sdk.PowerShell,
		Script: "Get-Content -Path " + PSLiteral(base+".log") + " -ErrorAction SilentlyContinue", Timeout: 2 * time.Minute}, nil)
	if err != nil && !sdk.IsKind(err, sdk.CommandFailed) {
		return sdk.Result{}, err
	}
	if len(log.Stdout) > 0 && out != nil {
		out(sdk.Chunk{Stream: sdk.Stdout, Data: log.Stdout})
	}
	return sdk.Result{ExitCode: code, Stdout: log.Stdout}, nil
}

// queryTask reads a task's state and, once it has run, its exit code.
func (st *runState) queryTask(ctx context.Context, task string) (taskState, int, error) {
	res, err := st.e.Executor.Exec(ctx, st.r.Target, sdk.Command{Shell: sdk.Cmd,
		Script: fmt.Sprintf(`schtasks /Query /TN "%s" /FO LIST /V`, task), Timeout: time.Minute}, nil)
	if err != nil && !sdk.IsKind(err, sdk.CommandFailed) {
		return 0, 0, err
	}
	text := strings.ReplaceAll(string(res.Stdout), "\r\n", "\n")
	status := statusRE.FindStringSubmatch(text)
	if res.ExitCode != 0 || status == nil {
		if strings.Contains(string(res.Stderr), "cannot find") {
			return taskMissing, 0, nil
		}
		return 0, 0, &taskError{task, fmt.Sprintf("schtasks /Query exit code %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))}
	}
	switch strings.ToLower(status[1]) {
	case "running", "queued":
		return taskRunning, 0, nil
	}
	if lr := lastRunRE.FindStringSubmatch(text); lr == nil || strings.HasPrefix(lr[1], "N/A") || strings.HasPrefix(lr[1], "11/30/1999") {
		return taskNotRun, 0, nil
	}
	m := lastResultRE.FindStringSubmatch(text)
	if m == nil {
		return 0, 0, &taskError{task, "schtasks /Query shows no Last Result"}
	}
	code, _ := strconv.Atoi(m[1])
	return taskDone, int(int32(code)), nil
}

// launchTask writes the script and creates and starts its task, in one
// command so that a stop cannot fall between writing and creating.
func (st *runState) launchTask(ctx context.Context, task, base, script string) error {
	tr := fmt.Sprintf(`cmd.exe /c powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File %s.ps1 > %s.log 2>&1`, base, base)
	launcher := strings.Join([]string{
		"$ErrorActionPreference = 'Stop'",
		"New-Item -ItemType Directory -Force -Path " + PSLiteral(SystemDir) + " | Out-Null",
		"# SYSTEM runs what is written here: only SYSTEM (S-1-5-18) and Administrators (S-1-5-32-544) may write.",
		"icacls.exe " + PSLiteral(`C:\ProgramData\Ringmaster`) + " /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' | Out-Null",
		// -Encoding UTF8 writes a byte order mark, which Windows PowerShell 5.1
		// needs to read a script's non-ASCII text correctly.
		"Set-Content -Path " + PSLiteral(base+".ps1") + " -Value " + PSLiteral(script) + " -Encoding UTF8",
		"Remove-Item -Path " + PSLiteral(base+".log") + " -Force -ErrorAction SilentlyContinue",
		// /ST 00:00 with /SC ONCE never fires on its own; /Run starts it now
		// (and fails, naming the task, if /Create did).
		"schtasks.exe /Create /F /TN " + PSLiteral(task) + " /RU SYSTEM /RL HIGHEST /SC ONCE /ST 00:00 /TR " + PSLiteral(tr),
		"schtasks.exe /Run /TN " + PSLiteral(task),
		"exit $LASTEXITCODE",
	}, "\n")
	res, err := st.e.Executor.Exec(ctx, st.r.Target, sdk.Command{Shell: sdk.PowerShell, Script: launcher, Timeout: 2 * time.Minute}, nil)
	switch {
	case err != nil && !sdk.IsKind(err, sdk.CommandFailed):
		return err
	case res.ExitCode != 0:
		return &taskError{task, fmt.Sprintf("could not be started (exit code %d): %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)+" "+string(res.Stdout)))}
	}
	return nil
}

// removeTasks deletes the run's SYSTEM tasks and their files once the run
// has an outcome.
func (st *runState) removeTasks(ctx context.Context) error {
	for len(st.tasks) > 0 {
		batch := st.tasks[:min(len(st.tasks), 16)] // cmd.exe lines stop at 8191 characters
		var parts []string
		for _, name := range batch {
			base := SystemDir + `\` + name
			parts = append(parts, fmt.Sprintf(`schtasks /Delete /TN "Ringmaster\%s" /F >nul 2>&1 & del /q "%s.ps1" "%s.log" >nul 2>&1`, name, base, base))
		}
		if _, err := st.e.Executor.Exec(ctx, st.r.Target, sdk.Command{Shell: sdk.Cmd, Script: strings.Join(parts, " & "), Timeout: 2 * time.Minute}, nil); err != nil && !sdk.IsKind(err, sdk.CommandFailed) {
			return err
		}
		st.tasks = st.tasks[len(batch):]
	}
	return nil
}
