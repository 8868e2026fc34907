// Command simbench is the benchmark behind `make bench-sim`: it starts
// `ringmaster simulate` with a large fleet in its own process, drives it
// with plain masterzen/winrm clients running `hostname` in a loop at
// several concurrencies, and reports commands per second and the
// simulator's CPU time per command (read from /proc, so the clients' own
// CPU is not counted).
//
//	go run ./cmd/simbench -bin bin/ringmaster -devices 10000
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/masterzen/winrm"

	"github.com/ringmaster-fleet/ringmaster/cmd/internal/benchutil"
)

func main() {
	bin := flag.String("bin", "bin/ringmaster", "ringmaster binary")
	devices := flag.Int("devices", 10000, "simulated devices")
	levels := flag.String("concurrency", "1,50,500", "client concurrencies to measure")
	dur := flag.Duration("duration", 10*time.Second, "how long to measure each concurrency")
	flag.Parse()
	if err := run(*bin, *devices, *levels, *dur); err != nil {
		slog.Error("simbench", "err", err)
		os.Exit(1)
	}
}

func run(bin string, devices int, levels string, dur time.Duration) error {
	dir, err := os.MkdirTemp("", "ringmaster-simbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	inv := filepath.Join(dir, "fleet.csv")
	start := time.Now()
	sim, err := benchutil.StartSimulator(bin, "--devices", strconv.Itoa(devices), "--orgs", "20", "--seed", "1",
		"--inventory-out", inv, "--first-address", "127.200.1.1",
		// Each client keeps its connection alive; with 10,000 devices that is
		// 10,000 descriptors beside the listeners unless idle ones are closed.
		"--idle-conn-timeout", "5s")
	if err != nil {
		return err
	}
	defer sim.Stop()
	cmd := sim.Cmd
	fmt.Printf("simulator: %d devices listening after %v, RSS %d MiB\n", devices, time.Since(start).Round(time.Millisecond), rssMiB(cmd.Process.Pid))
	addrs, err := benchutil.Column(inv, "address")
	if err != nil {
		return err
	}
	clients := make([]*winrm.Client, len(addrs))
	for i, a := range addrs {
		host, port, _ := strings.Cut(a, ":")
		p, _ := strconv.Atoi(port)
		c, err := winrm.NewClient(winrm.NewEndpoint(host, p, false, false, nil, nil, nil, 30*time.Second), "ringmaster", "Simulated-Passw0rd")
		if err != nil {
			return err
		}
		clients[i] = c
	}
	// What the simulator burns with no load (timers, garbage collection),
	// so the per-command figure can be given net of it too.
	idle0 := cpuTime(cmd.Process.Pid)
	time.Sleep(3 * time.Second)
	idleRate := (cpuTime(cmd.Process.Pid) - idle0) / 3
	fmt.Printf("simulator idle CPU: %v per second\n", idleRate)
	fmt.Printf("%-12s %12s %10s %14s %16s %16s\n", "concurrency", "commands", "errors", "commands/s", "sim CPU/command", "net of idle")
	for _, l := range strings.Split(levels, ",") {
		conc, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil || conc < 1 {
			return fmt.Errorf("-concurrency %q", l)
		}
		cpu0 := cpuTime(cmd.Process.Pid)
		var next, ok, failed atomic.Int64
		var firstErr atomic.Value
		ctx, cancel := context.WithTimeout(context.Background(), dur)
		var wg sync.WaitGroup
		t0 := time.Now()
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					c := clients[int(next.Add(1))%len(clients)]
					code, err := c.RunWithContext(context.Background(), "hostname", io.Discard, io.Discard)
					if err != nil || code != 0 {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Sprintf("exit %d: %v", code, err))
						continue
					}
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		cancel()
		elapsed := time.Since(t0)
		cpu := cpuTime(cmd.Process.Pid) - cpu0
		n := ok.Load()
		perCmd, net := time.Duration(0), time.Duration(0)
		if n > 0 {
			perCmd = cpu / time.Duration(n)
			net = max(0, cpu-time.Duration(elapsed.Seconds()*float64(idleRate))) / time.Duration(n)
		}
		fmt.Printf("%-12d %12d %10d %14.0f %16v %16v\n", conc, n, failed.Load(), float64(n)/elapsed.Seconds(), perCmd.Round(time.Microsecond), net.Round(time.Microsecond))
		if e := firstErr.Load(); e != nil {
			fmt.Printf("  first error: %s\n", e)
		}
	}
	fmt.Println("(each command is one masterzen Run: Create, Command, Receive, Signal and Delete, five requests)")
	return nil
}

// cpuTime is the process's user+system CPU time from /proc/PID/stat.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

func rssMiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb / 1024
		}
	}
	return 0
}
