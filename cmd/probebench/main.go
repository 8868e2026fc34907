// Command probebench is the benchmark for `ringmaster probe`: against one
// simulated fleet it times a plain in-process masterzen/winrm loop running
// the executor's facts script on every device (the floor), then
// `ringmaster probe` doing the same through the plugin boundary and the
// inventory, and reports the wall time and CPU each took.
//
//	go run ./cmd/probebench -bin bin/ringmaster -devices 5000 -concurrency 500
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	wr "github.com/masterzen/winrm"

	"github.com/ringmaster-fleet/ringmaster/cmd/internal/benchutil"
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
	rounds := flag.Int("rounds", 3, "alternating rounds of each (medians are compared)")
	flag.Parse()
	if err := run(*bin, *devices, *conc, *rounds); err != nil {
		slog.Error("probebench", "err", err)
		os.Exit(1)
	}
}

func run(bin string, devices, conc, rounds int) error {
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
	sim, err := benchutil.StartSimulator(bin, "--devices", strconv.Itoa(devices), "--orgs", "10", "--seed", "1",
		"--inventory-out", inv, "--first-address", "127.210.1.1", "--idle-conn-timeout", "10s", "--credential-name", "sim")
	if err != nil {
		return err
	}
	defer sim.Stop()
	addrs, err := benchutil.Column(inv, "address")
	if err != nil {
		return err
	}

	// Ringmaster's inventory and credential, set up once.
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

	// The floor: masterzen in this process, the same script on every device.
	floor := func() (time.Duration, time.Duration, int64) {
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
		return time.Since(t0), selfCPU() - cpu0, failed.Load()
	}
	// Ringmaster probe, through the plugin boundary and the inventory.
	probe := func() (time.Duration, time.Duration, string, error) {
		t1 := time.Now()
		st, out, err := sh("", "probe", "-l", "", "--concurrency", strconv.Itoa(conc), "--auth", "basic", "--allow-basic-without-tls")
		if err != nil {
			return 0, 0, "", fmt.Errorf("probe: %v\n%s", err, out)
		}
		ru := st.SysUsage().(*syscall.Rusage)
		return time.Since(t1), time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), strings.TrimSpace(out), nil // probe and its plugin, which it waited for
	}

	// Alternate the two, several rounds, and compare medians: run to run the
	// machine varies by more than the difference being measured.
	fmt.Printf("%d simulated devices, concurrency %d, %d rounds (simulator CPU excluded from both)\n", devices, conc, rounds)
	fmt.Printf("%-7s %-44s %10s %10s\n", "round", "", "wall", "CPU")
	var fw, fc, rw, rc []time.Duration
	for r := 1; r <= rounds; r++ {
		w, c, failed := floor()
		fw, fc = append(fw, w), append(fc, c)
		fmt.Printf("%-7d %-44s %10v %10v   (%d failed)\n", r, "plain masterzen loop, in process (floor)", w.Round(time.Millisecond), c.Round(time.Millisecond), failed)
		w, c, out, err := probe()
		if err != nil {
			return err
		}
		rw, rc = append(rw, w), append(rc, c)
		fmt.Printf("%-7d %-44s %10v %10v   %s\n", r, "ringmaster probe (plugin + inventory)", w.Round(time.Millisecond), c.Round(time.Millisecond), out)
	}
	mfw, mfc, mrw, mrc := median(fw), median(fc), median(rw), median(rc)
	fmt.Printf("medians: floor %v wall %v CPU; ringmaster %v wall %v CPU\n", mfw.Round(time.Millisecond), mfc.Round(time.Millisecond), mrw.Round(time.Millisecond), mrc.Round(time.Millisecond))
	fmt.Printf("overhead: wall %+.1f%%, CPU %+.1f%%   (targets: <= 15%% wall, <= 30%% CPU)\n",
		100*(mrw.Seconds()/mfw.Seconds()-1), 100*(mrc.Seconds()/mfc.Seconds()-1))
	return nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
