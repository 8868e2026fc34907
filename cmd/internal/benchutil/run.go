package benchutil

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
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
