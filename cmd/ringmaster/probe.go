package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/sqlite"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
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
			s, err := a.open(ctx)
			if err != nil {
				return err
			}
			var devices []*inventory.Device
			for d, err := range s.Devices(ctx, sel) {
				if err != nil {
					return err
				}
				devices = append(devices, d)
			}
			if len(devices) == 0 {
				fmt.Fprintln(a.stderr, "no devices match")
				return nil
			}
			resolver, err := a.resolver(ctx, o)
			if err != nil {
				return err
			}
			targets := make([]sdk.Target, len(devices))
			for i, d := range devices {
				if targets[i], err = resolver.Target(ctx, d); err != nil {
					return err
				}
			}
			x, err := resolver.StartExecutor(ctx)
			if err != nil {
				return err
			}
			defer x.Close()

			// Probes run concurrently; what they observe is stored as it
			// arrives, in batches, by one writer (SQLite has one).
			var next, done atomic.Int64
			var wg sync.WaitGroup
			found := make(chan sqlite.Observation, 512)
			writeErr := make(chan error, 1)
			go func() {
				var batch []sqlite.Observation
				var err error
				for o := range found {
					batch = append(batch, o)
					if len(batch) == 256 && err == nil {
						err = s.RecordObservations(ctx, batch)
						batch = batch[:0]
					}
				}
				if err == nil {
					err = s.RecordObservations(ctx, batch)
				}
				writeErr <- err
			}()
			var mu sync.Mutex
			counts := map[string]int{}
			ok := 0
			stopProgress := a.progress(&done, len(devices))
			for range min(concurrency, len(devices)) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1) - 1)
						if i >= len(devices) || ctx.Err() != nil {
							return
						}
						pctx, cancel := context.WithTimeout(ctx, timeout)
						res, err := x.Probe(pctx, targets[i])
						cancel()
						done.Add(1)
						mu.Lock()
						if err != nil {
							kind := string(sdk.KindOf(err))
							if kind == "" {
								kind = "error"
							}
							counts[kind]++
						} else {
							ok++
						}
						mu.Unlock()
						if err != nil {
							a.log.Debug("probe failed", "device", devices[i].Hostname, "err", err)
							continue
						}
						found <- sqlite.Observation{Hostname: devices[i].Hostname, Facts: toFacts(res), Seen: res.ObservedAt}
					}
				}()
			}
			wg.Wait()
			close(found)
			stopProgress()
			if err := <-writeErr; err != nil {
				return err
			}
			kinds := make([]string, 0, len(counts))
			for k := range counts {
				kinds = append(kinds, k)
			}
			sort.Strings(kinds)
			parts := []string{fmt.Sprintf("%d answered", ok)}
			for _, k := range kinds {
				parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
			}
			fmt.Fprintf(a.stdout, "probed %s: %s\n", plural(len(devices), "device", "devices"), strings.Join(parts, ", "))
			if ok == 0 {
				return fmt.Errorf("no device answered")
			}
			return nil
		},
	}
	o.register(cmd)
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "devices to probe")
	cmd.Flags().IntVar(&concurrency, "concurrency", 100, "devices probed at once")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up on a device after this long")
	return cmd
}

// toFacts turns what a probe reported into inventory facts observed then.
func toFacts(r sdk.ProbeResult) inventory.Facts {
	var f inventory.Facts
	at := r.ObservedAt
	set := func(fact inventory.Fact, v string) {
		if v != "" {
			_ = f.Set(fact, v, at) // a malformed value is left unobserved
		}
	}
	pf := r.Facts
	set(inventory.FactManufacturer, pf.Manufacturer)
	set(inventory.FactModel, pf.Model)
	set(inventory.FactOSCaption, pf.OSCaption)
	set(inventory.FactOSEdition, pf.OSEdition)
	set(inventory.FactOSBuild, pf.OSBuild)
	set(inventory.FactUBR, strconv.Itoa(pf.UBR))
	_ = f.Set(inventory.FactKBs, strings.Join(pf.KBs, ";"), at) // "" records: none installed
	set(inventory.FactDiskFreeGB, strconv.FormatFloat(pf.DiskFreeGB, 'f', -1, 64))
	set(inventory.FactRAMGB, strconv.FormatFloat(pf.RAMGB, 'f', -1, 64))
	return f
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
