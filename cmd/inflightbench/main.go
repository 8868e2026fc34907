// Command inflightbench is the benchmark behind `make bench-inflight`: many
// long runs at once, as a national rollout in a nightly window has them.
// It starts `ringmaster simulate` in its own process with a time-scaled
// fleet, imports the first -devices devices eligible for a feature update
// into a fresh database, creates one win10-feature-update campaign over
// them in one wave with no cap, and runs the real `ringmaster run
// --workers N` as a subprocess, so that ringmaster's own memory and CPU are
// measured apart from the simulator's and the executor plugin's. While it
// runs it samples, once a second, how many devices are running (from the
// store), ringmaster's resident set and CPU, and its executor plugin's. At
// the end every device must have succeeded: a device failed or timed out
// under load fails the benchmark.
//
//	go run ./cmd/inflightbench -bin bin/ringmaster -devices 10000 -time-scale 20
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ringmaster-fleet/ringmaster/cmd/internal/benchutil"
	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

const (
	user     = "bench"
	password = "Bench-Pa55word!"
	credName = "simulated"
	orgs     = 20
	seed     = 1
	campName = "inflight"
	// targetBuild is the feature update's target (22H2): devices below it
	// are upgraded.
	targetBuild = "10.0.19045"
)

type options struct {
	bin       string
	dir       string
	devices   int
	workers   int
	scale     float64
	lease     time.Duration
	limit     time.Duration
	rssTarget int64 // MiB
	cpuTarget float64
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/ringmaster", "ringmaster binary")
	flag.StringVar(&o.dir, "dir", "", "working directory (default: a new temporary one, removed after)")
	flag.IntVar(&o.devices, "devices", 10000, "devices upgraded at once (all in one wave)")
	flag.IntVar(&o.workers, "workers", 0, "ringmaster run --workers (default: -devices)")
	flag.Float64Var(&o.scale, "time-scale", 20, "simulated seconds per real second (an upgrade takes about 75 simulated minutes)")
	flag.DurationVar(&o.lease, "lease", 30*time.Second, "ringmaster run --lease")
	flag.DurationVar(&o.limit, "timeout", 25*time.Minute, "give up when the campaign has not finished after this long")
	flag.Int64Var(&o.rssTarget, "rss-target", 1024, "ringmaster's peak RSS target, MiB")
	flag.Float64Var(&o.cpuTarget, "cpu-target", 1, "ringmaster's CPU target while the devices are in flight, cores")
	flag.Parse()
	if o.workers <= 0 {
		o.workers = o.devices
	}
	if err := run(o); err != nil {
		slog.Error("inflightbench", "err", err)
		os.Exit(1)
	}
}

// eligible says whether a generated device is one the feature update
// upgrades: a known build below the target that can be upgraded in place
// (not LTSB/LTSC). Free disk is raised on every simulated device.
func eligible(build, edition string) bool {
	if build == "" || strings.HasPrefix(edition, "EnterpriseS") {
		return false
	}
	if build == "6.1.7601" || build == "6.3.9600" {
		return true
	}
	parts := strings.Split(build, ".")
	if len(parts) != 3 || parts[0] != "10" {
		return false
	}
	n, err := strconv.Atoi(parts[2])
	return err == nil && n < 19045
}

// fleetSize is how many devices the simulator must generate so that at
// least want of them are eligible (the estate is deterministic under the
// seed, so this asks the same generator the simulator uses).
func fleetSize(want int) (int, error) {
	n := want + want/4
	for range 20 {
		_, devices, err := synth.Devices(synth.Options{Devices: n, Orgs: orgs, Seed: seed, Now: time.Now().UTC().Truncate(24 * time.Hour)})
		if err != nil {
			return 0, err
		}
		got := 0
		for d := range devices {
			if !d.HideOS && eligible(d.OSBuild, d.OSEdition) {
				got++
			}
		}
		if got >= want {
			return n, nil
		}
		n += (want-got)*5/4 + 1
	}
	return 0, fmt.Errorf("no estate size gives %d eligible devices", want)
}

// selectDevices writes the first want eligible devices of the simulator's
// inventory to out.
func selectDevices(in, out string, want int) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, c := range []string{"os_build", "os_edition", "disk_free_gb"} {
		if _, ok := col[c]; !ok {
			return fmt.Errorf("%s has no %s column", in, c)
		}
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(header)
	n := 0
	for n < want {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s has %d eligible devices, want %d", in, n, want)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
		if !eligible(row[col["os_build"]], row[col["os_edition"]]) {
			continue
		}
		row[col["disk_free_gb"]] = "" // the simulator raised it; the run probes it
		_ = w.Write(row)
		n++
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

func run(o options) error {
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "ringmaster-inflight-"); err != nil {
			return err
		}
		defer os.RemoveAll(o.dir)
	} else if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	} else if _, err := os.Stat(filepath.Join(o.dir, "inflight.db")); err == nil {
		return fmt.Errorf("%s already holds inflight.db: the benchmark starts from a fresh database", o.dir)
	}
	raiseNoFile()
	n, err := fleetSize(o.devices)
	if err != nil {
		return err
	}
	fleetCSV := filepath.Join(o.dir, "fleet.csv")
	t0 := time.Now()
	sim, err := benchutil.StartSimulator(bin, "--devices", strconv.Itoa(n), "--orgs", strconv.Itoa(orgs), "--seed", strconv.Itoa(seed),
		"--time-scale", fmt.Sprint(o.scale), "--username", user, "--password", password, "--credential-name", credName,
		"--inventory-out", fleetCSV, "--min-free-disk-gb", "40", "--idle-conn-timeout", "5s", "--first-address", "127.70.1.1")
	if err != nil {
		return err
	}
	defer sim.Stop()
	fmt.Printf("in flight: %d simulated devices (%d eligible upgraded), time scale %gx, ringmaster run --workers %d, in %s\n",
		n, o.devices, o.scale, o.workers, o.dir)
	fmt.Printf("  simulator ready in %s\n", benchutil.Round(time.Since(t0)))

	rb := benchutil.Runner{Bin: bin, Dir: o.dir, DB: filepath.Join(o.dir, "inflight.db")}
	if err := selectDevices(fleetCSV, filepath.Join(o.dir, "devices.csv"), o.devices); err != nil {
		return err
	}
	campaign := fmt.Sprintf(`name: %s
playbook: win10-feature-update
params: {media_source: '\\dp01\media$\Win10_22H2'}
target: 'build<%s'
waves: [{name: all, max_failure_percent: 100}]
`, campName, targetBuild)
	if err := os.WriteFile(filepath.Join(o.dir, "inflight.yaml"), []byte(campaign), 0o644); err != nil {
		return err
	}
	imp, err := rb.Timed(io.Discard, "inventory", "import", "devices.csv", "--create-orgs")
	if err != nil {
		return err
	}
	fmt.Printf("  imported %d devices in %s\n", o.devices, benchutil.Round(imp.Wall))
	if err := withInput(rb, password+"\n", "credential", "add", credName, "--username", user, "--password-stdin"); err != nil {
		return err
	}
	if _, err := rb.Timed(io.Discard, "campaign", "create", "-f", "inflight.yaml"); err != nil {
		return err
	}
	if _, err := rb.Timed(io.Discard, "campaign", "start", campName); err != nil {
		return err
	}
	return runCampaign(o, rb)
}

// withInput runs the binary with stdin.
func withInput(r benchutil.Runner, stdin string, args ...string) error {
	cmd := exec.Command(r.Bin, args...)
	cmd.Dir = r.Dir
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), "RINGMASTER_DB="+r.DB)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %v: %w", r.Bin, args, err)
	}
	return nil
}

// sample is one second of the run.
type sample struct {
	at                time.Duration // since the run started
	running, finished int
	rss, hwm          int64         // ringmaster's, KiB
	cpu               time.Duration // ringmaster's, so far
	plugRSS           int64
	plugCPU           time.Duration
	plugPID           int
}

func runCampaign(o options, rb benchutil.Runner) error {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, rb.DB, sqlite.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := db.Campaigns(ctx)
	if err != nil {
		return err
	}
	logPath := filepath.Join(o.dir, "run.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	// No background forecasts: this measures the workers (a forecast's
	// cost is make bench-forecast's).
	cmd := exec.Command(rb.Bin, "run", "--workers", strconv.Itoa(o.workers), "--lease", o.lease.String(), "--until-done", "--view", "plain",
		"--forecast-every", "0")
	cmd.Dir = rb.Dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "RINGMASTER_DB="+rb.DB)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	pid := cmd.Process.Pid
	var samples []sample
	var runErr error
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	timeout := time.After(o.limit)
	plugPID := 0
loop:
	for {
		select {
		case runErr = <-done:
			break loop
		case <-timeout:
			_ = cmd.Process.Signal(os.Interrupt)
			<-done
			return fmt.Errorf("the campaign did not finish within %s (see %s)", o.limit, logPath)
		case <-tick.C:
		}
		s := sample{at: time.Since(start)}
		st, err := readProc(pid)
		if err != nil {
			continue // exiting
		}
		s.rss, s.hwm, s.cpu = st.rss, st.hwm, st.cpu
		if plugPID == 0 || !alive(plugPID) {
			plugPID = childOf(pid)
		}
		if plugPID != 0 {
			if ps, err := readProc(plugPID); err == nil {
				s.plugRSS, s.plugCPU, s.plugPID = ps.rss, ps.cpu, plugPID
			}
		}
		counts, err := store.StateCounts(ctx, campName)
		if err != nil {
			return err
		}
		for _, c := range counts {
			switch {
			case c.State == orchestrator.DeviceRunning:
				s.running += c.Devices
			case c.State.Final():
				s.finished += c.Devices
			}
		}
		samples = append(samples, s)
		if len(samples)%10 == 0 {
			fmt.Printf("  %4.0fs: running %5d, finished %5d; ringmaster RSS %s, %.2f cores; plugin RSS %s\n", s.at.Seconds(), s.running, s.finished,
				benchutil.MiB(s.rss), coresOver(samples, 10, func(x sample) time.Duration { return x.cpu }), benchutil.MiB(s.plugRSS))
		}
	}
	wall := time.Since(start)
	if runErr != nil {
		return fmt.Errorf("ringmaster run: %w (see %s)", runErr, logPath)
	}
	if len(samples) < 2 {
		return fmt.Errorf("the run ended before it could be measured")
	}
	return report(ctx, o, store, samples, wall, cmd.ProcessState)
}

func report(ctx context.Context, o options, store *sqlite.Campaigns, samples []sample, wall time.Duration, ps *os.ProcessState) error {
	peak, peakAt := 0, 0
	var hwm, plugPeak int64
	for i, s := range samples {
		if s.running > peak {
			peak, peakAt = s.running, i
		}
		hwm = max(hwm, s.hwm, s.rss)
		plugPeak = max(plugPeak, s.plugRSS)
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok && hwm == 0 {
		hwm = ru.Maxrss
	}
	// The in-flight period: from the first sample with at least 90% of
	// the peak running to the last.
	first, last := -1, -1
	for i, s := range samples {
		if s.running*10 >= peak*9 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	cores := func(a, b int, f func(sample) time.Duration) float64 {
		if b <= a {
			return 0
		}
		return float64(f(samples[b])-f(samples[a])) / float64(samples[b].at-samples[a].at)
	}
	rmCPU := func(s sample) time.Duration { return s.cpu }
	plCPU := func(s sample) time.Duration { return s.plugCPU }
	inflight := cores(first, last, rmCPU)
	whole := cores(0, len(samples)-1, rmCPU)
	var worst10 float64
	for i := range samples {
		for j := i + 1; j < len(samples); j++ {
			if samples[j].at-samples[i].at >= 10*time.Second {
				worst10 = max(worst10, cores(i, j, rmCPU))
				break
			}
		}
	}

	ms, err := store.Members(ctx, campName)
	if err != nil {
		return err
	}
	states := map[string]int{}
	succeeded := 0
	for _, m := range ms {
		states[string(m.State)+" "+string(m.Reason)]++
		if m.State == orchestrator.DeviceSucceeded {
			succeeded++
		}
	}
	keys := make([]string, 0, len(states))
	for k := range states {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	fmt.Printf("\nringmaster run --workers %d over %d devices: done in %s\n", o.workers, len(ms), benchutil.Round(wall))
	fmt.Printf("  peak in flight (running at once):   %d at %s   (target %d)\n", peak, benchutil.Round(samples[peakAt].at), o.devices)
	fmt.Printf("  in flight (>= 90%% of the peak):      %s to %s\n", benchutil.Round(samples[max(first, 0)].at), benchutil.Round(samples[max(last, 0)].at))
	fmt.Printf("  ringmaster peak RSS:                %s   (target <= %d MiB)\n", benchutil.MiB(hwm), o.rssTarget)
	fmt.Printf("  ringmaster CPU while in flight:     %.2f cores   (target <= %g)\n", inflight, o.cpuTarget)
	fmt.Printf("  ringmaster CPU, whole run:          %.2f cores; busiest 10 s %.2f cores\n", whole, worst10)
	fmt.Printf("  executor plugin peak RSS:           %s; CPU while in flight %.2f cores, whole run %.2f\n",
		benchutil.MiB(plugPeak), cores(first, last, plCPU), cores(0, len(samples)-1, plCPU))
	fmt.Printf("  outcomes:\n")
	for _, k := range keys {
		fmt.Printf("    %-40s %d\n", k, states[k])
	}
	var problems []string
	if succeeded != o.devices {
		problems = append(problems, fmt.Sprintf("%d of %d devices succeeded", succeeded, o.devices))
	}
	if peak < o.devices {
		problems = append(problems, fmt.Sprintf("peak in flight %d, want %d", peak, o.devices))
	}
	if hwm > o.rssTarget*1024 {
		problems = append(problems, fmt.Sprintf("ringmaster RSS %s over %d MiB", benchutil.MiB(hwm), o.rssTarget))
	}
	if inflight > o.cpuTarget {
		problems = append(problems, fmt.Sprintf("ringmaster CPU %.2f cores over %g", inflight, o.cpuTarget))
	}
	if len(problems) > 0 {
		return fmt.Errorf("targets missed: %s", strings.Join(problems, "; "))
	}
	fmt.Println("  every target met")
	return nil
}

func coresOver(samples []sample, n int, f func(sample) time.Duration) float64 {
	if len(samples) < 2 {
		return 0
	}
	a, b := samples[max(0, len(samples)-1-n)], samples[len(samples)-1]
	return float64(f(b)-f(a)) / float64(b.at-a.at)
}

// procStat is what /proc says of a process.
type procStat struct {
	rss, hwm int64 // KiB
	cpu      time.Duration
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's times (100 on Linux).
const clockTick = 100

func readProc(pid int) (procStat, error) {
	var st procStat
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return st, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return st, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // utime, field 14
	stt, _ := strconv.ParseInt(f[12], 10, 64)
	st.cpu = time.Duration(ut+stt) * time.Second / clockTick
	sf, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	defer sf.Close()
	sc := bufio.NewScanner(sf)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			st.rss = kb
		case "VmHWM":
			st.hwm = kb
		}
	}
	return st, sc.Err()
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// childOf is a child process of pid (ringmaster's executor plugin), or 0.
// Any of pid's threads may have started it.
func childOf(pid int) int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			c, _ := strconv.Atoi(f[0])
			return c
		}
	}
	return 0
}

// raiseNoFile raises this process's open-file limit to its hard limit, so
// that the subprocesses it starts inherit it.
func raiseNoFile() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}
