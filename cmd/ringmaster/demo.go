package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/internal/safecsv"
	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// demoOptions are the demo's flags.
type demoOptions struct {
	dir     string
	devices int
	orgs    int
	seed    uint64
	scale   float64
	workers int
	view    string
}

func newDemoCmd(a *app) *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo [--dir DIR]",
		Short: "Run the main job end to end on a simulated estate: import, discover, migrate in waves, patch an alert, report",
		Long: `Run Ringmaster's main job end to end against a simulated Windows estate that
speaks real WinRM on loopback addresses, with nothing else to install:

  1. start the estate (about 2,000 devices in a dozen organisations of very
     different sizes, Windows 7 and older Windows 10 builds, with faults:
     compatibility blocks, rollbacks, low disk, slow devices, laptops away);
  2. import it, then discover it (probe every device over WinRM);
  3. run a three-wave Windows 10 22H2 feature-update campaign inside
     maintenance windows, with a live view;
  4. issue a sample High Severity Alert and remediate the exposed devices;
  5. write the HTML report and print where it is.

Simulated time runs --time-scale times faster than the wall (an upgrade of
75 minutes takes about 8 seconds; the maintenance windows open every two
hours for ninety minutes), and the scheduler and playbooks run on the same
clock. The
database, inventory file and report are left in --dir to explore after.`,
		Example: "  ringmaster demo\n  ringmaster demo --dir /tmp/demo --devices 500",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.devices < o.orgs || o.orgs < 1 {
				return usagef("want --devices >= --orgs >= 1")
			}
			if o.scale <= 0 {
				return usagef("--time-scale %v: want a positive number", o.scale)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return a.demo(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "ringmaster-demo", "directory for the demo's database, files and report (its earlier demo files are replaced)")
	f.IntVar(&o.devices, "devices", 2000, "simulated devices")
	f.IntVar(&o.orgs, "orgs", 12, "organisations they belong to")
	f.Uint64Var(&o.seed, "seed", 1, "random seed: the same seed gives the same estate and faults")
	f.Float64Var(&o.scale, "time-scale", 600, "simulated seconds per real second")
	f.IntVar(&o.workers, "workers", 1000, "devices worked on at once")
	f.StringVar(&o.view, "view", "auto", "progress while campaigns run: auto (live on a terminal), live or plain")
	return cmd
}

// The demo estate's logon, and the names it gives things.
const (
	demoUser        = "svc-ringmaster"
	demoPassword    = "Demo-Passw0rd!"
	demoCampaign    = "win10-22h2"
	demoAlert       = "HSA-DEMO-0001"
	demoUpdateShare = `\\dp01\updates$`
)

// demoFiles are what a demo writes into its directory (and replaces).
var demoFiles = []string{"demo.db", "demo.db-wal", "demo.db-shm", "demo.db.key", "estate.csv", "win10-22h2.yaml",
	"alert.yaml", "report.html"}

func (a *app) demo(ctx context.Context, o demoOptions) error {
	began := time.Now()
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	for _, f := range demoFiles {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("demo: replace %s: %w", f, err)
		}
	}
	if err := checkDescriptors(o.devices, false); err != nil {
		return err
	}
	db := filepath.Join(dir, "demo.db")
	clock := device.NewScaledClock(time.Now().UTC(), o.scale)
	a.clock, a.now = clock, clock.Now
	d := &demoRun{a: a, ctx: ctx, db: db, dir: dir, began: began}

	// 1. The estate.
	d.heading("Start a simulated estate of %d devices in %d organisations (time runs %gx faster)", o.devices, o.orgs, o.scale)
	orgs, devices, err := synth.Devices(synth.Options{Devices: o.devices, Orgs: o.orgs, Seed: o.seed, Now: clock.Now().Truncate(24 * time.Hour)})
	if err != nil {
		return err
	}
	var all []synth.Device
	var specs []device.Spec
	for dev := range devices {
		all = append(all, dev)
		// The generated estate is an inventory as found, where many disks
		// are too full for an upgrade; the demo's estate has been cleaned
		// up first, all but the devices the lowdisk fault picks.
		spec := simSpec(dev)
		spec.DiskFreeGB = max(spec.DiskFreeGB, 40)
		specs = append(specs, spec)
	}
	faults, err := fleetsim.ParseFaults("compat=3%,rollback=2%,lowdisk=2%,slow=5%:200ms")
	if err != nil {
		return err
	}
	fleet, err := fleetsim.Start(ctx, fleetsim.Config{Devices: specs, Username: demoUser, Password: demoPassword, Faults: faults,
		Seed: o.seed, Clock: clock, Logger: slog.New(slog.DiscardHandler), FirstAddress: net.IPv4(127, 77, 1, 1),
		IdleConnTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer fleet.Close()
	sizes := make([]string, len(orgs))
	for i, org := range orgs {
		sizes[i] = fmt.Sprintf("%s %d", org.Code, org.Devices)
	}
	d.say("%d devices listening on 127.77.x.y:5985 (WinRM); organisations: %s", len(specs), strings.Join(sizes, ", "))
	d.say("faults: %s; after discovery some laptops leave the network for six simulated hours", faults.String())

	// 2. Import and discover.
	if err := writeDemoEstate(filepath.Join(dir, "estate.csv"), all, fleet); err != nil {
		return err
	}
	steps := []demoStep{
		{title: "Import the inventory (names and addresses only: discovery finds the rest)", args: []string{"inventory", "import", "estate.csv", "--create-orgs"}},
		{title: "Store the estate's WinRM logon, encrypted", stdin: demoPassword + "\n",
			args: []string{"credential", "add", "demo", "--username", demoUser, "--password-stdin"}},
		{title: "Discover every device over WinRM", args: []string{"probe", "-l", "hostname", "--concurrency", "200"}},
		{title: "Where each organisation starts", args: []string{"inventory", "summary"}},
		{title: "Record the day's figures in the daily history (ringmaster run renews them every hour)", args: []string{"report", "snapshot"}},
	}
	if err := d.run(steps...); err != nil {
		return err
	}
	// Laptops away from the network: every 150th device leaves now and
	// comes back six simulated hours later (the campaign defers it, then
	// picks it up again).
	var away []*device.Machine
	for i, ep := range fleet.Endpoints() {
		if i%150 == 75 {
			ep.Machine.SetOnline(false)
			away = append(away, ep.Machine)
		}
	}
	back := clock.After(6 * time.Hour)
	go func() {
		select {
		case <-ctx.Done():
		case <-back:
			for _, m := range away {
				m.SetOnline(true)
			}
		}
	}()
	d.say("%d laptops have left the network for six simulated hours", len(away))

	// 3. The feature-update campaign.
	if err := os.WriteFile(filepath.Join(dir, demoCampaign+".yaml"), []byte(demoCampaignSpec), 0o644); err != nil {
		return err
	}
	run := []string{"run", "--until-done", "--workers", fmt.Sprint(o.workers), "--view", o.view}
	steps = []demoStep{
		{title: "Create the Windows 10 22H2 campaign: pilot, ring 1, the rest, in maintenance windows", args: []string{"campaign", "create", "-f", demoCampaign + ".yaml"}},
		{title: "Start it", args: []string{"campaign", "start", demoCampaign}},
		{title: "Run it until it is done", args: run},
		{title: "The campaign", args: []string{"campaign", "show", demoCampaign}},
		{title: "Migration progress per organisation, from what the devices were observed to be", args: []string{"report", "progress", "--campaign", demoCampaign}},
	}
	if err := d.run(steps...); err != nil {
		return err
	}

	// 4. A High Severity Alert.
	now := clock.Now()
	alert := fmt.Sprintf(demoAlertSpec, demoAlert, now.Format(time.DateOnly), now.AddDate(0, 0, 14).Format(time.DateOnly))
	if err := os.WriteFile(filepath.Join(dir, "alert.yaml"), []byte(alert), 0o644); err != nil {
		return err
	}
	remediation := "remediate-" + strings.ToLower(demoAlert)
	steps = []demoStep{
		{title: "A High Severity Alert is issued (a sample after DejaBlue: deadline in 14 days)", args: []string{"alert", "add", "-f", "alert.yaml"}},
		{title: "Compliance per organisation", args: []string{"report", "alerts", demoAlert}},
		{title: "Remediate the exposed devices", args: []string{"alert", "remediate", demoAlert, "--source", demoUpdateShare, "--pilot-soak", "1h"}},
		{title: "Start the remediation", args: []string{"campaign", "start", remediation}},
		{title: "Run it until it is done", args: run},
		{title: "Compliance now", args: []string{"report", "alerts", demoAlert}},
		{title: "The leadership scorecard", args: []string{"report", "scorecard"}},
		{title: "Write the HTML report", args: []string{"report", "progress", "--campaign", demoCampaign, "-o", "html", "--out", "report.html"}},
	}
	if err := d.run(steps...); err != nil {
		return err
	}

	// 5. Where to look next.
	upgraded := 0
	for _, ep := range fleet.Endpoints() {
		if t := ep.Machine.Truth(); t.Build == device.DefaultMedia.Build {
			upgraded++
		}
	}
	d.heading("Done in %s (%s of simulated time)", time.Since(began).Round(time.Second), clock.Now().Sub(clock.Start).Round(time.Minute))
	d.say("the simulator says %d devices now run Windows 10 22H2; the reports count what the devices were observed to be", upgraded)
	fmt.Fprintf(a.stdout, `
Open the report:  %s
Explore the demo's database (the simulated estate has stopped; reports and
campaign history remain):
  export RINGMASTER_DB=%s
  ringmaster campaign show %s --device HOSTNAME
  ringmaster report progress --by site -l 'org=%s'
  ringmaster report scorecard --sort supported -o csv
`, filepath.Join(dir, "report.html"), db, demoCampaign, orgs[0].Code)
	return nil
}

// demoRun runs the demo's steps as the commands a user would type.
type demoRun struct {
	a       *app
	ctx     context.Context
	db, dir string
	n       int
	began   time.Time
}

// demoStep is one command of the demo.
type demoStep struct {
	title string
	args  []string
	stdin string
}

func (d *demoRun) heading(format string, args ...any) {
	d.n++
	fmt.Fprintf(d.a.stdout, "\n== %d. %s [%s]\n", d.n, fmt.Sprintf(format, args...), time.Since(d.began).Round(time.Second))
}

func (d *demoRun) say(format string, args ...any) {
	fmt.Fprintf(d.a.stdout, "   %s\n", fmt.Sprintf(format, args...))
}

// run runs each step through the command line, in the demo's directory
// and database, and stops at the first that fails.
func (d *demoRun) run(steps ...demoStep) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	if err := os.Chdir(d.dir); err != nil {
		return err
	}
	defer os.Chdir(wd) //nolint:errcheck // back where the user was; nothing to do if it fails
	for _, s := range steps {
		d.heading("%s", s.title)
		fmt.Fprintf(d.a.stdout, "$ ringmaster %s\n", strings.Join(quoteArgs(s.args), " "))
		stdin := d.a.stdin
		d.a.stdin = strings.NewReader(s.stdin)
		root := newRootCmd(d.a)
		root.SetArgs(append([]string{"--db", d.db}, s.args...))
		root.SetIn(d.a.stdin)
		root.SetOut(d.a.stdout)
		root.SetErr(d.a.stderr)
		err := root.ExecuteContext(d.ctx)
		d.a.stdin = stdin
		if err != nil {
			return fmt.Errorf("demo step %d (ringmaster %s): %w", d.n, strings.Join(s.args, " "), err)
		}
	}
	return nil
}

// quoteArgs quotes arguments a shell would split or interpret.
func quoteArgs(args []string) []string {
	out := slices.Clone(args)
	for i, s := range out {
		if strings.ContainsAny(s, ` \$'"()*?`) {
			out[i] = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return out
}

// writeDemoEstate writes the inventory as IT ops would export it from a
// directory: names, organisations, sites and addresses, no facts.
func writeDemoEstate(path string, all []synth.Device, fleet *fleetsim.Fleet) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := writeDemoRows(f, all, fleet); err != nil {
		f.Close()
		return fmt.Errorf("demo: %s: %w", path, err)
	}
	return f.Close()
}

func writeDemoRows(w io.Writer, all []synth.Device, fleet *fleetsim.Fleet) error {
	cw := safecsv.NewWriter(w)
	_ = cw.Write([]string{"hostname", "org", "org_name", "org_timezone", "site", "address", "credential"})
	for i, dev := range all {
		_ = cw.Write([]string{dev.Hostname, dev.Org, dev.OrgName, dev.OrgTimeZone, dev.Site, fleet.Endpoints()[i].Address(false), "demo"})
	}
	cw.Flush()
	return cw.Error()
}

// demoCampaignSpec is the demo's feature-update campaign: a pilot ring, a
// third of the rest, then everyone, inside windows that open every
// two hours for ninety minutes (compressed nights), at most 250 devices per
// site at once (a site's link to the media share).
const demoCampaignSpec = `name: win10-22h2
playbook: win10-feature-update
params:
  media_source: '\\dp01\media$\Win10_22H2'
target: 'build<10.0.19045'
caps: {per_site: 250}
windows:
  default: {cron: '0 */2 * * *', duration: 90m}
defer: {backoff: 30m, max_backoff: 2h}
waves:
  - {name: pilot, count: 25, soak: 30m, max_failure_percent: 20}
  - {name: ring1, percent: 30, soak: 15m, max_failure_percent: 15}
  - {name: rest, max_failure_percent: 15}
`

// demoAlertSpec is a sample alert (id, issued, deadline filled in), after
// DejaBlue (CVE-2019-1181/1182, August 2019): the updates that fixed it on
// each build, and the later cumulative updates that supersede them. Devices
// the campaign moved to 22H2 are not affected; those it could not are.
const demoAlertSpec = `id: %s
title: Sample alert after DejaBlue - Remote Desktop Services remote code execution
issued: %s
deadline: %s
remediation:
  "6.1.7601": [KB4512506, KB4512486]
  "10.0.14393": [KB4512517]
  "10.0.15063": [KB4512507]
  "10.0.16299": [KB4512516]
  "10.0.17134": [KB4512501]
  "10.0.17763": [KB4511553]
  "10.0.18362": [KB4512508]
  "10.0.18363": [KB4512508]
supersedence:
  KB4512508: [KB4517389]
  KB4517389: [KB4524570]
`
