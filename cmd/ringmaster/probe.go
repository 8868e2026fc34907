package main

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/discovery"
	"github.com/ringmaster-fleet/ringmaster/targets"
)

func newProbeCmd(a *app) *cobra.Command {
	var (
		o           targetFlags
		selector    string
		concurrency int
		timeout     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "probe -l SELECTOR",
		Short: "Probe devices now and store what they report",
		Long: `Probe the selected devices concurrently through their executor (WinRM) and
store the observed facts (OS, build, UBR, KBs, disk, memory, model, pending
reboot) in the inventory, each with the time it was observed. Progress is
shown on a terminal; a summary of the failures by kind (unreachable,
auth_failed, tls, ...) ends the run. The exit status is 0 when at least one
device answered, 1 when none did.`,
		Example: `  ringmaster probe -l org=RXX
  ringmaster probe -l 'release=1909,site in ("Leeds General")' --concurrency 200 --ca-file estate-ca.pem`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if concurrency < 1 {
				return usagef("--concurrency %d: want at least 1", concurrency)
			}
			sel, err := parseSelector(selector)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			s, err := a.inventory(ctx)
			if err != nil {
				return err
			}
			devices, err := discovery.Select(ctx, s, sel)
			if err != nil {
				return err
			}
			if len(devices) == 0 {
				fmt.Fprintln(a.stderr, "no devices match")
				return nil
			}
			resolver, err := a.resolver(ctx, o)
			if err != nil {
				return err
			}
			reaches, err := resolver.Reaches(ctx, devices)
			if err != nil {
				return err
			}
			reach := targets.TargetsOf(reaches)
			// Each organisation's executor, started once.
			xs := resolver.Executors()
			defer xs.Close()
			var done atomic.Int64
			stopProgress := a.progress(&done, len(devices))
			sum, err := discovery.Probe(ctx, xs.Prober(reaches), s, reach, discovery.Options{Concurrency: concurrency, Timeout: timeout,
				Progress: func(int) { done.Add(1) }, Logger: a.log})
			stopProgress()
			if err != nil && !errors.Is(err, discovery.ErrNoneAnswered) {
				return err
			}
			fmt.Fprintf(a.stdout, "probed %s: %s\n", plural(len(devices), "device", "devices"), sum)
			return err
		},
	}
	o.register(cmd)
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "devices to probe")
	cmd.Flags().IntVar(&concurrency, "concurrency", 100, "devices probed at once")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up on a device after this long")
	return cmd
}

// progress shows "probed N/M" on a terminal until stopped.
func (a *app) progress(done *atomic.Int64, total int) func() {
	f, ok := a.stderr.(*os.File)
	if !ok {
		return func() {}
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return func() {}
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			fmt.Fprintf(f, "\rprobed %d/%d", done.Load(), total)
			select {
			case <-stop:
				fmt.Fprintf(f, "\rprobed %d/%d\n", done.Load(), total)
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(stop); <-finished }
}
