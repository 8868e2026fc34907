package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/scenario"
)

// Default credentials of the simulated fleet (a test tool's, not a secret).
const (
	simDefaultUser     = "ringmaster"
	simDefaultPassword = "Simulated-Passw0rd"
)

func newSimulateCmd(a *app) *cobra.Command {
	var (
		o                                      synth.Options
		scale                                  float64
		faults, user, password, credName       string
		inventoryOut, truthOut, caOut, control string
		https                                  bool
		firstAddr                              string
		idleConn                               time.Duration
		minDisk                                float64
	)
	cmd := &cobra.Command{
		Use:   "simulate --devices N [flags]",
		Short: "Run a simulated Windows estate that speaks real WinRM on loopback",
		Long: `Run a simulated Windows estate: every device is its own WinRM endpoint on its
own loopback address (127.x.y.z), port 5985 (HTTP) and, with --https, 5986
(HTTPS, certificates from a CA the simulator generates; --ca-out writes it).
Devices accept Basic and NTLM (Negotiate) logons with --username/--password
(default user "` + simDefaultUser + `", password "` + simDefaultPassword + `"), run a documented
set of cmd and PowerShell commands, upgrade and patch as Windows does, and
reboot, in simulated time (--time-scale simulated seconds per real second).

Faults (--faults, deterministic under --seed), as kind=share[,kind=share...]:
  unreachable, badcreds, slow (slow=5%:800ms), drop, http500, malformed,
  compat, rollback, hang, lowdisk.

It prints one line starting with "ready" when every endpoint listens, and
stops on SIGINT or SIGTERM, writing --truth-out (what really happened on each
device) on the way out. While it runs, GET /truth on the control address
returns the same JSON.`,
		Example: `  ringmaster simulate --devices 200 --orgs 6 --seed 7 --time-scale 600 \
    --faults unreachable=2%,compat=5%,rollback=3% --https --ca-out fleet-ca.pem \
    --inventory-out fleet.csv --truth-out truth.json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if synth.CheckSize(o.Devices, o.Orgs) != nil {
				return usagef("want --devices >= --orgs >= 1")
			}
			if o.Devices > fleetsim.MaxDevices {
				return usagef("--devices %d: at most %d", o.Devices, fleetsim.MaxDevices)
			}
			if scale <= 0 {
				return usagef("--time-scale %v: want a positive number", scale)
			}
			spec, err := fleetsim.ParseFaults(faults)
			if err != nil {
				return usageError{err}
			}
			first := net.ParseIP(firstAddr)
			if first == nil {
				return usagef("--first-address %q: not an IP address", firstAddr)
			}
			if _, err := fleetsim.AddressIndex(first); err != nil {
				return usagef("--first-address: %v", err)
			}
			if err := scenario.CheckDescriptors(o.Devices, https); err != nil {
				return err
			}
			o.Now = a.now().UTC().Truncate(24 * time.Hour)
			if minDisk < 0 {
				return usagef("--min-free-disk-gb %v: want zero or more", minDisk)
			}
			fleet, err := scenario.Start(cmd.Context(), scenario.Config{Synth: o, MinDiskFreeGB: minDisk, Fleet: fleetsim.Config{
				Username: user, Password: password, HTTPS: https, Faults: spec, Seed: o.Seed,
				Clock: device.NewScaledClock(a.now(), scale), Logger: a.log, FirstAddress: first, IdleConnTimeout: idleConn,
			}})
			if err != nil {
				return err
			}
			defer fleet.Close()
			ctl, err := fleet.ServeControl(control)
			if err != nil {
				return err
			}
			if caOut != "" {
				if err := os.WriteFile(caOut, fleet.CACertPEM(), 0o644); err != nil {
					return fmt.Errorf("--ca-out: %w", err)
				}
			}
			if inventoryOut != "" {
				if err := a.writeTo(inventoryOut, func(w io.Writer) error { return fleet.WriteInventory(w, https, credName) }); err != nil {
					return err
				}
			}
			fmt.Fprintf(a.stdout, "ready devices=%d orgs=%d first=%s control=http://%s/truth https=%v faults=%q\n",
				len(fleet.Devices), len(fleet.Orgs), fleet.Endpoints()[0].Address(https), ctl, https, spec.String())
			<-cmd.Context().Done()
			a.log.Info("simulator stopping")
			if truthOut != "" {
				b, err := json.MarshalIndent(fleet.Truth(), "", "  ")
				if err != nil {
					return err
				}
				if err := os.WriteFile(truthOut, append(b, '\n'), 0o644); err != nil {
					return fmt.Errorf("--truth-out: %w", err)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Devices, "devices", 100, "number of simulated devices")
	f.IntVar(&o.Orgs, "orgs", 5, "number of organisations they belong to")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed: the same seed gives the same estate and faults")
	f.Float64Var(&scale, "time-scale", 60, "simulated seconds per real second (an upgrade takes about 75 simulated minutes)")
	f.StringVar(&faults, "faults", "", "faults to seed, e.g. unreachable=2%,slow=5%:800ms,compat=5%")
	f.StringVar(&user, "username", simDefaultUser, "user name every device accepts")
	f.StringVar(&password, "password", simDefaultPassword, "password every device accepts")
	f.StringVar(&credName, "credential-name", "simulated", "credential name written into --inventory-out")
	f.BoolVar(&https, "https", false, "also listen on 5986 with HTTPS (twice the file descriptors)")
	f.StringVar(&inventoryOut, "inventory-out", "", "write the devices as an importable inventory CSV")
	f.StringVar(&truthOut, "truth-out", "", "write the ground truth as JSON on exit")
	f.StringVar(&caOut, "ca-out", "", "write the simulator's CA certificate (PEM)")
	f.DurationVar(&idleConn, "idle-conn-timeout", 120*time.Second, "close keep-alive connections idle this long (HTTP.sys's default is 120s)")
	f.StringVar(&firstAddr, "first-address", "127.1.1.1", "loopback address of the first device; the others follow (127.x.y.z)")
	f.Float64Var(&minDisk, "min-free-disk-gb", 0, "raise every device's free disk space to at least this (an estate cleaned up before its upgrade; lowdisk faults still apply)")
	f.StringVar(&control, "control", "127.0.0.1:0", "address of the control API (GET /truth, GET /ca.pem)")
	return cmd
}
