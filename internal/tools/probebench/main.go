// Command probebench is the benchmark for `ringmaster probe`: against one
// simulated fleet it times a plain in-process masterzen/winrm loop running
// the executor's facts script on every device (the floor), then
// `ringmaster probe` doing the same through the plugin boundary and the
// inventory, and reports the wall time and CPU each took.
//
//	go run ./internal/tools/probebench -bin bin/ringmaster -devices 5000 -concurrency 500
package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	wr "github.com/masterzen/winrm"

	"github.com/ringmaster-fleet/ringmaster/plugins/winrm"
)

const (
	user = "ringmaster"
	pass = "Simulated-Passw0rd"
)

func main() {
	bin := flag.String("bin", "bin/ringmaster", "ringmaster binary")
	devices := flag.Int("devices", 5000, "simulated devices")
	conc := flag.Int("concurrency", 500, "devices probed at once")
	flag.Parse()
	if err := run(*bin, *devices, *conc); err != nil {
		slog.Error("probebench", "err", err)
		os.Exit(1)
	}
}

func run(bin string, devices, conc int) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ringmaster-probebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	inv := filepath.Join(dir, "fleet.csv")
	sim := exec.Command(bin, "simulate", "--devices", strconv.Itoa(devices), "--orgs", "10", "--seed", "1",
		"--inventory-out", inv, "--first-address", "127.210.1.1", "--idle-conn-timeout", "10s", "--credential-name", "sim")
	stdout, err := sim.StdoutPipe()
	if err != nil {
		return err
	}
	sim.Stderr = os.Stderr
	if err := sim.Start(); err != nil {
		return err
	}
	defer func() {
		_ = sim.Process.Signal(os.Interrupt)
		_ = sim.Wait()
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || !strings.HasPrefix(line, "ready") {
		return fmt.Errorf("simulator did not get ready: %q %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	addrs, err := column(inv, "address")
	if err != nil {
		return err
	}

	// The floor: masterzen in this process, the same script on every device.
	cpu0 := selfCPU()
	t0 := time.Now()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(addrs) {
					return
				}
				host, port, _ := strings.Cut(addrs[i], ":")
				p, _ := strconv.Atoi(port)
				params := *wr.DefaultParameters
				c, err := wr.NewClientWithParameters(wr.NewEndpoint(host, p, false, false, nil, nil, nil, 30*time.Second), user, pass, &params)
				if err == nil {
					_, _, _, err = c.RunWithContextWithString(context.Background(), wr.Powershell(winrm.FactsScript), "")
				}
				if err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	floorWall, floorCPU := time.Since(t0), selfCPU()-cpu0

	// Ringmaster: inventory, credential, then probe through the plugin.
	env := append(os.Environ(), "RINGMASTER_DB="+filepath.Join(dir, "rm.db"), "RINGMASTER_KEY_FILE="+filepath.Join(dir, "rm.key"))
	sh := func(stdin string, args ...string) (*os.ProcessState, string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return cmd.ProcessState, string(out), err
	}
	if _, out, err := sh("", "inventory", "import", inv, "--create-orgs"); err != nil {
		return fmt.Errorf("import: %v\n%s", err, out)
	}
	if _, out, err := sh(pass, "credential", "add", "sim", "--username", user, "--password-stdin"); err != nil {
		return fmt.Errorf("credential: %v\n%s", err, out)
	}
	t1 := time.Now()
	st, out, err := sh("", "probe", "-l", "", "--concurrency", strconv.Itoa(conc), "--auth", "basic")
	if err != nil {
		return fmt.Errorf("probe: %v\n%s", err, out)
	}
	rmWall := time.Since(t1)
	ru := st.SysUsage().(*syscall.Rusage)
	rmCPU := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()) // probe and its plugin, which it waited for

	fmt.Printf("%d simulated devices, concurrency %d (simulator CPU excluded from both)\n", devices, conc)
	fmt.Printf("%-44s %10s %10s\n", "", "wall", "CPU")
	fmt.Printf("%-44s %10v %10v   (%d failed)\n", "plain masterzen loop, in process (floor)", floorWall.Round(time.Millisecond), floorCPU.Round(time.Millisecond), failed.Load())
	fmt.Printf("%-44s %10v %10v   %s", "ringmaster probe (plugin + inventory)", rmWall.Round(time.Millisecond), rmCPU.Round(time.Millisecond), out)
	fmt.Printf("overhead: wall %+.1f%%, CPU %+.1f%%   (targets: <= 15%% wall, <= 30%% CPU)\n",
		100*(rmWall.Seconds()/floorWall.Seconds()-1), 100*(rmCPU.Seconds()/floorCPU.Seconds()-1))
	return nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func column(path, name string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	col := -1
	for i, h := range rows[0] {
		if h == name {
			col = i
		}
	}
	if col < 0 {
		return nil, fmt.Errorf("%s has no %s column", path, name)
	}
	var out []string
	for _, r := range rows[1:] {
		out = append(out, r[col])
	}
	return out, nil
}
