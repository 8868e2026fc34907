package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/scenario"
	"github.com/ringmaster-fleet/ringmaster/store"
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
	serve   string
	listen  string
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
			if synth.CheckSize(o.devices, o.orgs) != nil {
				return usagef("want --devices >= --orgs >= 1")
			}
			if o.scale <= 0 {
				return usagef("--time-scale %v: want a positive number", o.scale)
			}
			if o.serve != "auto" && o.serve != "always" && o.serve != "never" {
				return usagef("--serve %q: want auto, always or never", o.serve)
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
	f.StringVar(&o.serve, "serve", "auto", "serve the dashboard on the demo's database at the end: auto (until Ctrl-C on a terminal; elsewhere, check that it answers and stop), always, never")
	f.StringVar(&o.listen, "listen", "127.0.0.1:8420", "where the dashboard is served at the end (loopback)")
	return cmd
}

// demoFiles are what a demo writes into its directory (and replaces).
var demoFiles = []string{"demo.db", "demo.db-wal", "demo.db-shm", "demo.db.key", "estate.csv", "win10-22h2.yaml",
	"alert.yaml", "report.html"}

func (a *app) demo(ctx context.Context, o demoOptions) error {
	began := time.Now()
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	// The demo's own SQLite file, unless --db names a PostgreSQL database:
	// then that one, which must be empty (checked before any file is
	// replaced). Either way its credential is sealed with the demo's own
	// key file, never a key file of the same database's nodes.
	db, shown := filepath.Join(dir, "demo.db"), ""
	if where := a.dbFile(); store.IsPostgres(where) {
		if err := a.demoEmpty(ctx); err != nil {
			return err
		}
		db, shown = where, "the PostgreSQL database you named with --db"
	}
	a.keyPath = filepath.Join(dir, "demo.db.key")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	for _, f := range demoFiles {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("demo: replace %s: %w", f, err)
		}
	}
	if err := scenario.CheckDescriptors(o.devices, false); err != nil {
		return err
	}
	clock := device.NewScaledClock(time.Now().UTC(), o.scale)
	a.clock, a.now = clock, clock.Now
	d := &demoRun{a: a, ctx: ctx, db: db, dir: dir, began: began}

	// 1. The estate.
	d.heading("Start a simulated estate of %d devices in %d organisations (time runs %gx faster)", o.devices, o.orgs, o.scale)
	faults, err := fleetsim.ParseFaults(scenario.DemoFaults)
	if err != nil {
		return err
	}
	est, err := scenario.Start(ctx, scenario.Config{Synth: synth.Options{Devices: o.devices, Orgs: o.orgs, Seed: o.seed, Now: clock.Now().Truncate(24 * time.Hour)},
		MinDiskFreeGB: scenario.DemoMinDiskFreeGB, Fleet: fleetsim.Config{Username: scenario.DemoUser, Password: scenario.DemoPassword, Faults: faults,
			Seed: o.seed, Clock: clock, Logger: slog.New(slog.DiscardHandler), FirstAddress: net.IPv4(127, 77, 1, 1), IdleConnTimeout: 10 * time.Second}})
	if err != nil {
		return err
	}
	defer est.Close()
	sizes := make([]string, len(est.Orgs))
	for i, org := range est.Orgs {
		sizes[i] = fmt.Sprintf("%s %d", org.Code, org.Devices)
	}
	d.say("%d devices listening on 127.77.x.y:5985 (WinRM); organisations: %s", len(est.Devices), strings.Join(sizes, ", "))
	d.say("faults: %s; after discovery some laptops leave the network for six simulated hours", faults.String())

	// 2. Import and discover.
	if err := writeDemoEstate(filepath.Join(dir, "estate.csv"), est); err != nil {
		return err
	}
	steps := []demoStep{
		{title: "Import the inventory (names and addresses only: discovery finds the rest)", args: []string{"inventory", "import", "estate.csv", "--create-orgs"}},
		{title: "Store the estate's WinRM logon, encrypted", stdin: scenario.DemoPassword + "\n",
			args: []string{"credential", "add", "demo", "--username", scenario.DemoUser, "--password-stdin"}},
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
	away := est.TakeAway(ctx, clock, 150, 75, 6*time.Hour)
	d.say("%d laptops have left the network for six simulated hours", away)

	// 3. The feature-update campaign.
	if err := os.WriteFile(filepath.Join(dir, scenario.DemoCampaign+".yaml"), []byte(scenario.DemoCampaignSpec), 0o644); err != nil {
		return err
	}
	run := []string{"run", "--until-done", "--workers", fmt.Sprint(o.workers), "--view", o.view}
	steps = []demoStep{
		{title: "Create the Windows 10 22H2 campaign: pilot, ring 1, the rest, in maintenance windows", args: []string{"campaign", "create", "-f", scenario.DemoCampaign + ".yaml"}},
		{title: "Start it", args: []string{"campaign", "start", scenario.DemoCampaign}},
		{title: "Run it until it is done", args: run},
		{title: "The campaign", args: []string{"campaign", "show", scenario.DemoCampaign}},
		{title: "Migration progress per organisation, from what the devices were observed to be", args: []string{"report", "progress", "--campaign", scenario.DemoCampaign}},
	}
	if err := d.run(steps...); err != nil {
		return err
	}

	// 4. A High Severity Alert.
	if err := os.WriteFile(filepath.Join(dir, "alert.yaml"), []byte(scenario.DemoAlertSpec(clock.Now())), 0o644); err != nil {
		return err
	}
	remediation := "remediate-" + strings.ToLower(scenario.DemoAlert)
	steps = []demoStep{
		{title: "A High Severity Alert is issued (a sample after DejaBlue: deadline in 14 days)", args: []string{"alert", "add", "-f", "alert.yaml"}},
		{title: "Compliance per organisation", args: []string{"report", "alerts", scenario.DemoAlert}},
		{title: "Remediate the exposed devices", args: []string{"alert", "remediate", scenario.DemoAlert, "--source", scenario.DemoUpdateShare, "--pilot-soak", "1h"}},
		{title: "Start the remediation", args: []string{"campaign", "start", remediation}},
		{title: "Run it until it is done", args: run},
		{title: "Compliance now", args: []string{"report", "alerts", scenario.DemoAlert}},
		{title: "The leadership scorecard", args: []string{"report", "scorecard"}},
		{title: "Write the HTML report", args: []string{"report", "progress", "--campaign", scenario.DemoCampaign, "-o", "html", "--out", "report.html"}},
	}
	if err := d.run(steps...); err != nil {
		return err
	}

	// 5. Where to look next.
	upgraded := est.Upgraded(device.DefaultMedia.Build)
	d.heading("Done in %s (%s of simulated time)", time.Since(began).Round(time.Second), clock.Now().Sub(clock.Start).Round(time.Minute))
	d.say("the simulator says %d devices now run Windows 10 22H2; the reports count what the devices were observed to be", upgraded)
	if shown != "" {
		fmt.Fprintf(a.stdout, `
Open the report:  %s
Explore the demo's database, %s (the simulated estate has
stopped; reports and campaign history remain), with the same --db or
$RINGMASTER_DB:
  ringmaster campaign show %s --device HOSTNAME
  ringmaster report progress --by site -l 'org=%s'
`, filepath.Join(dir, "report.html"), shown, scenario.DemoCampaign, est.Orgs[0].Code)
		return nil
	}
	fmt.Fprintf(a.stdout, `
Open the report:  %s
Explore the demo's database (the simulated estate has stopped; reports and
campaign history remain):
  export RINGMASTER_DB=%s
  ringmaster campaign show %s --device HOSTNAME
  ringmaster report progress --by site -l 'org=%s'
  ringmaster report scorecard --sort supported -o csv
`, filepath.Join(dir, "report.html"), db, scenario.DemoCampaign, est.Orgs[0].Code)
	return d.serve(o, clock, est.Orgs[0].Code)
}

// serve ends the demo with the dashboard on its database: tokens for an
// organisation's viewer and the estate's operator, the server, and its
// address. On a terminal (or with --serve always) it serves until
// interrupted; elsewhere (CI) it checks that the dashboard answers the
// viewer with its organisation's page, and stops.
func (d *demoRun) serve(o demoOptions, clock *device.ScaledClock, org string) error {
	if o.serve == "never" {
		return nil
	}
	wait := o.serve == "always" || isTerminal(d.a.stdout)
	listen := o.listen
	if !wait {
		listen = "127.0.0.1:0" // a check only: any free port
	}
	// From here time runs at the wall's pace again, from where the
	// simulation left it: a session lasts as long as it says.
	end, at := clock.Now(), time.Now()
	d.a.clock, d.a.now = nil, func() time.Time { return end.Add(time.Since(at)) }
	d.heading("Serve the dashboard on the demo's database")
	viewer, err := d.capture("token", "create", "demo-viewer-"+strings.ToLower(org), "--role", "viewer", "--scope", "org:"+org, "--expires", "168h",
		"--note", "the demo's viewer of one organisation")
	if err != nil {
		return err
	}
	operator, err := d.capture("token", "create", "demo-operator", "--role", "approver", "--scope", "estate", "--expires", "168h",
		"--note", "the demo's operator of the whole estate")
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(d.ctx)
	out := d.a.stdout // the server's command prints through its own
	addr := make(chan string, 1)
	var served error
	done := make(chan struct{})
	go func() {
		defer close(done)
		served = d.command(ctx, addrWriter{out, addr}, "serve", "--listen", listen, "--run-campaigns=false")
	}()
	// However this returns, the server has stopped first.
	defer func() { stop(); <-done }()
	var base string
	select {
	case base = <-addr:
	case <-done:
		return fmt.Errorf("demo: serve the dashboard: %w", served)
	case <-time.After(30 * time.Second):
		return errors.New("demo: the dashboard's server did not start within 30s")
	}
	if !wait {
		if err := checkDashboard(ctx, base, viewer, org); err != nil {
			return err
		}
		fmt.Fprintf(out, "   the dashboard answered %s's viewer with its organisation's page at %s/ui/orgs/%s\n", org, base, org)
		stop()
		<-done
		return ignoreCanceled(served)
	}
	fmt.Fprintf(out, `
Open the dashboard:  %s/ui/
Sign in with a token (each lasts a week; revoke with ringmaster token revoke ID):
  %s's viewer (sees only %s):  %s
  the estate's operator (approves waves):  %s
Press Ctrl-C to stop serving.
`, base, org, org, viewer, operator)
	<-done
	return ignoreCanceled(served)
}

// capture runs a command of the demo's database and returns what it
// printed.
func (d *demoRun) capture(args ...string) (string, error) {
	var out strings.Builder
	if err := d.command(d.ctx, &out, args...); err != nil {
		return "", fmt.Errorf("demo: ringmaster %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(out.String()), nil
}

// command runs one command line on the demo's database, printing to out.
func (d *demoRun) command(ctx context.Context, out io.Writer, args ...string) error {
	root := newRootCmd(d.a)
	root.SetArgs(append([]string{"--db", d.db}, args...))
	root.SetIn(strings.NewReader(""))
	root.SetOut(out)
	root.SetErr(d.a.stderr)
	stdout := d.a.stdout
	d.a.stdout = out
	defer func() { d.a.stdout = stdout }()
	return root.ExecuteContext(ctx)
}

// addrWriter passes serve's output on and sends the address it announces.
type addrWriter struct {
	w    io.Writer
	addr chan<- string
}

var servedAt = regexp.MustCompile(`(https?://[^/\s]+)/`)

func (a addrWriter) Write(p []byte) (int, error) {
	if m := servedAt.FindSubmatch(p); m != nil {
		select {
		case a.addr <- string(m[1]):
		default:
		}
	}
	return a.w.Write(p)
}

// checkDashboard asks for an organisation's page as its viewer and checks
// that it is the page of that organisation.
func checkDashboard(ctx context.Context, base, token, org string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/ui/orgs/"+org, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("demo: the dashboard: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("demo: the dashboard: %w", err)
	}
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "<h1>"+org+" ") {
		return fmt.Errorf("demo: the dashboard answered %s's viewer with %d, not its page: %.300s", org, res.StatusCode, b)
	}
	return nil
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// demoEmpty refuses a database that already holds organisations: the
// demo imports an estate of its own and would mix the two.
func (a *app) demoEmpty(ctx context.Context) error {
	inv, err := a.inventory(ctx)
	if err != nil {
		return err
	}
	defer a.close() // the steps open it again, as commands a user types
	orgs, err := inv.Organisations(ctx)
	if err != nil {
		return err
	}
	if len(orgs) > 0 {
		return usagef("demo: the database %s already holds %s; the demo needs an empty one", a.db.Where(), plural(len(orgs), "organisation", "organisations"))
	}
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

// writeDemoEstate writes the estate's inventory as exported from a
// directory (scenario.Estate.WriteDirectory) to path.
func writeDemoEstate(path string, est *scenario.Estate) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := est.WriteDirectory(f, "demo"); err != nil {
		f.Close()
		return fmt.Errorf("demo: %s: %w", path, err)
	}
	return f.Close()
}
