package benchutil

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Result is how long a command took and its peak memory.
type Result struct {
	Wall time.Duration
	RSS  int64 // peak resident set, KiB
}

// Runner runs the ringmaster binary in a directory on one database.
type Runner struct {
	Bin string // the binary
	Dir string // its working directory
	DB  string // its database ($RINGMASTER_DB)
}

// Timed runs the binary with args, its standard output to stdout, and
// reports its wall time and peak RSS.
func (r Runner) Timed(stdout io.Writer, args ...string) (Result, error) {
	cmd := exec.Command(r.Bin, args...)
	cmd.Dir = r.Dir
	cmd.Stdout = stdout
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), "RINGMASTER_DB="+r.DB)
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return Result{}, fmt.Errorf("%s %v: %w", r.Bin, args, err)
	}
	res := Result{Wall: time.Since(start)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.RSS = ru.Maxrss
	}
	return res, nil
}

// Median runs the binary with args runs times: the median wall time, the
// highest peak RSS.
func (r Runner) Median(runs int, args ...string) (Result, error) {
	var walls []time.Duration
	var rss int64
	for range runs {
		res, err := r.Timed(io.Discard, args...)
		if err != nil {
			return Result{}, err
		}
		walls = append(walls, res.Wall)
		rss = max(rss, res.RSS)
	}
	slices.Sort(walls)
	return Result{Wall: walls[len(walls)/2], RSS: rss}, nil
}

// Round writes a duration as a benchmark reports it: milliseconds under a
// second, hundredths of a second above.
func Round(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

// MiB writes KiB as whole MiB.
func MiB(kib int64) string { return fmt.Sprintf("%d MiB", kib/1024) }

// CPU is this process's user and system CPU time so far.
func CPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PeakRSS is this process's peak resident set so far, KiB.
func PeakRSS() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss
}

// ProcessCPU is a process's user and system CPU time so far, from
// /proc/PID/stat (0 if it cannot be read).
func ProcessCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0
	}
	fields := strings.Fields(s[i+2:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

// ProcessPeakRSS is a running process's peak resident set so far, KiB,
// from /proc/PID/status (VmHWM; 0 if it cannot be read).
func ProcessPeakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kib
		}
	}
	return 0
}

// Children are the process IDs of this process's children.
func Children() []int {
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}
