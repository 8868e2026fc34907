package archtest

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/ringmaster-fleet/ringmaster"

// allowed lists, per package (or package prefix ending in "/..."), the
// packages of this module it may import. Packages not listed may import
// nothing of the module except what a rule of theirs allows.
var rules = []struct {
	pkg   string
	allow []string
}{
	{"errkind", nil},                   // the one error vocabulary: standard library only
	{"inventory", []string{"errkind"}}, // pure domain: the standard library and errkind only
	{"credential", nil},                // domain and sealing: standard library only
	// Who may do what to which organisations (roles, scopes, API tokens),
	// and the trail of the changes made.
	{"access", []string{"errkind", "inventory"}},
	{"audit", []string{"errkind"}},
	{"inventory/format", []string{"inventory", "errkind", "internal/jsontext", "internal/safecsv"}},
	// The SQLite engine implements every domain's store contract.
	{"store/sqlite", []string{"inventory", "credential", "orchestrator", "alerts", "report", "plugins/host", "errkind",
		"notify", "access", "audit", "internal/jsontext", "internal/sqlmigrate", "internal/sqltx", "internal/factsdoc", "internal/cohortrow",
		"internal/tokenrow"}},
	// The PostgreSQL engine implements the same contracts.
	{"store/postgres", []string{"inventory", "credential", "orchestrator", "alerts", "report", "plugins/host", "errkind",
		"notify", "access", "audit", "internal/jsontext", "internal/sqlmigrate", "internal/factsdoc", "internal/cohortrow", "internal/tokenrow"}},
	// Opening a database of either engine, and the stores' types: what
	// each store's consumers (domain and application packages) take of it.
	{"store", []string{"store/sqlite", "store/postgres", "inventory", "credential", "orchestrator", "alerts", "report", "plugins/host",
		"campaigns", "reports", "targets", "discovery", "estate", "credentials", "notify", "access", "audit"}},
	// Moving an estate from one engine to the other (db copy), checked
	// by the reports computed from each.
	{"store/dbcopy", []string{"store", "store/sqlite", "store/postgres", "inventory", "orchestrator", "report", "report/html", "reports"}},
	// The conformance suites hold every engine to what the domain and the
	// application packages consume of it.
	{"store/storetest", []string{"store", "errkind", "inventory", "inventory/format", "inventory/synth", "internal/ctxtest", "credential", "orchestrator", "alerts", "report", "plugins/host",
		"campaigns", "reports", "targets", "discovery", "estate", "credentials", "notify", "access", "audit"}},
	{"inventory/synth", []string{"internal/safecsv"}},
	{"playbooks", []string{"inventory", "plugins/sdk", "internal/yamlfile"}}, // the engine runs commands through the SDK contract
	// The shipped playbooks, and resolving a reference: a file (under the
	// input limit) else a built-in.
	{"playbooks/builtin", []string{"errkind", "playbooks", "internal/inputfile"}},
	{"plugins", nil},
	// The public SDK depends on nothing of ours; executors on the SDK only.
	{"plugins/sdk", []string{"plugins/sdk/proto"}},
	{"plugins/sdk/proto", nil},
	{"plugins/sdk/conformance", []string{"plugins/sdk", "plugins/sdk/proto"}},
	{"plugins/winrm", []string{"plugins/sdk", "plugins/sdk/proto"}},
	{"plugins/host", []string{"plugins/sdk", "plugins/sdk/proto"}},
	// An example plugin is built as an outside author would: the SDK only.
	{"plugins/examples/ssh", []string{"plugins/sdk", "plugins/sdk/proto"}},
	{"plugins/examples/agent", []string{"plugins/sdk", "plugins/sdk/proto"}},
	// The examples' fake servers, in front of the authors' test device.
	{"plugins/examples/ssh/fakessh", []string{"plugins/sdk", "plugins/sdk/testdevice"}},
	{"plugins/examples/agent/fakeagent", []string{"plugins/sdk", "plugins/sdk/testdevice"}},
	// The simulated Windows machine in the SDK's types, for authors' tests.
	{"plugins/sdk/testdevice", []string{"plugins/sdk", "plugins/winrm/fleetsim/device"}},
	// The simulated fleet: the device model and the WS-Management front know
	// nothing of each other or of the product; fleetsim wires them.
	{"plugins/winrm/fleetsim/device", nil},
	{"plugins/winrm/fleetsim/wsman", nil},
	// A generated estate on the fleet, and the demo's scenario.
	{"plugins/winrm/fleetsim/scenario", []string{"plugins/winrm/fleetsim", "plugins/winrm/fleetsim/device", "inventory/synth", "internal/safecsv"}},
	{"plugins/winrm/fleetsim", []string{"plugins/winrm/fleetsim/device", "plugins/winrm/fleetsim/wsman"}},
	// The orchestrator's domain (campaigns, waves, windows, the state
	// machine, the controller's decisions, the store contract) knows
	// inventory and playbooks, never storage or River.
	{"orchestrator", []string{"inventory", "playbooks", "errkind", "internal/yamlfile"}},
	// The scheduler applies the controller's plans on River and runs the
	// engine; it reaches the campaign store (orchestrator.Store), devices
	// and the inventory through interfaces, never a concrete store, and
	// migrates River's tables under sqlmigrate's lock.
	{"orchestrator/scheduler", []string{"errkind", "inventory", "orchestrator", "playbooks", "plugins/sdk", "internal/sqlmigrate"}},
	// The campaigns application: domain packages only, no store, River,
	// cobra or cmd (forbidden third-party imports are checked below).
	{"campaigns", []string{"errkind", "inventory", "orchestrator", "playbooks", "alerts", "access", "forecast"}},
	{"cmd/...", []string{"..."}},
	// The service units' tests read the unit files: nothing of ours.
	{"deploy/systemd", nil},
	// Reports compute figures from the domain types only.
	// (And the campaigns' forecasts, which they show beside progress.)
	{"report", []string{"inventory", "alerts", "playbooks", "forecast", "internal/safecsv"}},
	{"report/html", []string{"report"}},
	{"alerts", []string{"inventory", "internal/yamlfile"}},
	// The reports application: inputs, assembly and the snapshotter, over
	// the domain only (and the campaigns application's count of states);
	// stores come in through its interfaces.
	{"reports", []string{"errkind", "inventory", "alerts", "orchestrator", "report", "report/html", "access", "campaigns", "forecast"}},
	// The HTTP API: the application layer, access and the audit trail;
	// stores come in through their interfaces, never a concrete store.
	{"server", []string{"access", "audit", "campaigns", "estate", "reports", "errkind", "inventory", "inventory/format", "orchestrator", "alerts", "report", "report/html", "metrics", "playbooks", "playbooks/builtin"}},
	// What Prometheus is told: the campaigns' counts, the scheduler's
	// passes and outcomes (through hooks), the API's requests.
	{"metrics", []string{"campaigns", "orchestrator", "playbooks"}},
	// Device -> executor target: the domain, credential sealing, bounded
	// file reads and the executor host (built-in or pinned plugin).
	// (Reacher hands the scheduler's workers a playbooks.Executor.)
	{"targets", []string{"errkind", "inventory", "credential", "playbooks", "plugins/sdk", "plugins/host", "plugins/winrm", "internal/inputfile"}},
	// Probe fan-out and the one probe -> facts mapping: sdk to inventory.
	{"discovery", []string{"inventory", "plugins/sdk"}},
	// The inventory job (import, export, list, remove, summaries,
	// organisations): the domain and its file formats, stores through
	// interfaces.
	{"estate", []string{"errkind", "inventory", "inventory/format"}},
	// Which key seals a new credential, over the domain's sealing.
	{"credentials", []string{"errkind", "credential", "targets"}},
	// Notifications: events derived from the orchestrator's applied plans
	// and the reports' compliance, rendered, signed and sent by HTTP and
	// SMTP; subscriptions and the outbox through its Store. Nothing of
	// the domain imports it: the scheduler and the snapshotter hand it
	// what they decided through functions.
	// (A subscription names an organisation of the inventory.)
	{"notify", []string{"errkind", "inventory", "orchestrator", "report"}},
	// A node: the scheduler, the notifier and the snapshotter run side by
	// side and stopped in order, wired to each other; stores come in
	// through the scheduler's and the application packages' interfaces.
	{"node", []string{"campaigns", "discovery", "inventory", "notify", "orchestrator/scheduler", "playbooks", "plugins/sdk", "reports"}},
	// A minimal SMTP server for tests: standard library only.
	{"internal/smtptest", nil},
	// An OpenID Connect provider for tests: go-jose signs its ID tokens.
	{"internal/oidctest", nil},
	{"internal/npmtest", nil},
	{"internal/browsertest", nil},
	// The plugin registry job: names, pins and standing, over plugins/host.
	{"plugins/registry", []string{"plugins/host", "plugins/sdk"}},
	// The plugin test job: a plugin binary through plugins/host, the kit,
	// and a simulated device to check it against.
	// The forecast: the controller replayed on a virtual clock.
	{"forecast", []string{"orchestrator", "playbooks"}},
	// The plugin skeleton job: a new module's files.
	{"plugins/scaffold", []string{"plugins/host"}},
	{"plugins/certify", []string{"plugins/host", "plugins/sdk", "plugins/sdk/conformance", "plugins/winrm/fleetsim", "plugins/winrm/fleetsim/device"}},
	{"internal/jsontext", nil},
	{"internal/yamlfile", []string{"errkind"}},
	{"internal/sqlmigrate", nil},
	{"internal/sqltx", nil},
	// The rollup's row encoding both engines read cohorts from.
	{"internal/cohortrow", []string{"inventory"}},
	// The API tokens' checks and stored form both engines share.
	{"internal/tokenrow", []string{"access", "errkind"}},
	{"internal/safecsv", nil}, // every CSV writer's formula neutralising: standard library only
	{"internal/inputfile", nil},
	{"internal/archtest", nil},
	// Test helpers: a plugin host for tests, simulated devices behind WinRM.
	{"internal/plugintest", []string{"plugins/host"}},
	{"internal/simtest", []string{"playbooks", "plugins/sdk", "plugins/winrm", "plugins/winrm/fleetsim", "plugins/winrm/fleetsim/device"}},
	// Helpers still to get their own rule; TestNothingImportsUpward keeps
	// them (and everything else) from importing commands.
	{"internal/...", []string{"..."}},
}

// Packages nobody outside cmd/ may import (tests aside): the commands, the
// benchmark programs beside them, what used to hold the benchmarks, and the
// storage engines, which cmd/ringmaster's wiring opens and hands to the
// application packages through their interfaces.
var topOnly = []string{"cmd/...", "internal/tools/...", "store/..."}

// The domain packages: they know nothing of storage, HTTP, WinRM or the
// command line.
var domain = []string{"errkind", "inventory", "credential", "orchestrator", "playbooks", "plugins/sdk", "alerts", "report", "report/html", "access", "audit", "forecast"}

// The application packages: a Go API per job a user does, called by the
// CLI and the server alike; stores come in through their interfaces.
var application = []string{"campaigns", "reports", "targets", "discovery", "estate", "credentials", "plugins/registry", "plugins/certify", "plugins/scaffold", "notify"}

// foreign lists, for each kind of package, the imports from outside the
// module it may not use directly.
var foreign = []struct {
	kind string
	pkgs []string
	deny []string
}{
	{"domain", domain, []string{"store/...", "database/sql", "modernc.org/sqlite/...", "github.com/riverqueue/...", "net/http/...", "net/smtp",
		"github.com/masterzen/winrm/...", "github.com/spf13/cobra/...", "github.com/spf13/pflag/..."}},
	{"application", application, []string{"store/...", "database/sql", "modernc.org/sqlite/...", "github.com/riverqueue/...",
		"github.com/spf13/cobra/...", "github.com/spf13/pflag/...", "os/exec"}},
}

func TestImportDirection(t *testing.T) {
	touchSources(t)
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		rule, ok := ruleFor(pkg)
		if !ok {
			t.Errorf("package %s has no import rule: add one to this test", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			if !allowed(rule, dep) {
				t.Errorf("%s imports %s, which the layout forbids (allowed: %v)", pkg, dep, rule)
			}
		}
	}
}

// imports lists every package of the module with what it imports
// directly, module packages without the module prefix.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	touchSources(t)
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		for _, imp := range fields[1:] {
			m[pkg] = append(m[pkg], strings.TrimPrefix(imp, module+"/"))
		}
		if _, ok := m[pkg]; !ok {
			m[pkg] = nil
		}
	}
	return m
}

// TestNothingImportsUpward: the commands and benchmark programs are the
// top of the graph; nothing else imports them. (Package store opens either
// engine, and the conformance suites name its stores' types: store
// packages may import one another, as their rules say.)
func TestNothingImportsUpward(t *testing.T) {
	for pkg, deps := range imports(t) {
		if allowed([]string{"cmd/..."}, pkg) {
			continue
		}
		for _, dep := range deps {
			if allowed(topOnly, dep) && !(allowed([]string{"store/..."}, pkg) && allowed([]string{"store/..."}, dep)) {
				t.Errorf("%s imports %s: only commands may", pkg, dep)
			}
		}
	}
}

// TestForeignImports: domain packages use no storage, HTTP, WinRM or
// command line; application packages no command line and no database.
func TestForeignImports(t *testing.T) {
	all := imports(t)
	for _, f := range foreign {
		for _, pkg := range f.pkgs {
			deps, ok := all[pkg]
			if !ok {
				t.Errorf("%s package %s does not exist: update this test", f.kind, pkg)
			}
			for _, dep := range deps {
				if allowed(f.deny, dep) {
					t.Errorf("%s package %s imports %s", f.kind, pkg, dep)
				}
			}
		}
	}
}

// TestApplicationBuildsWithoutCLI: counting indirect dependencies too (an
// application package reaches cobra through nothing it imports), the
// application packages build without the commands and their flag
// libraries, and the domain without the application packages.
func TestApplicationBuildsWithoutCLI(t *testing.T) {
	touchSources(t)
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	cli := []string{module + "/cmd/...", "github.com/spf13/cobra/...", "github.com/spf13/pflag/..."}
	var app []string
	for _, pkg := range application {
		app = append(app, module+"/"+pkg+"/...")
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		var deny []string
		switch {
		case allowed(application, pkg):
			deny = cli
		case allowed(domain, pkg):
			deny = app
		}
		for _, dep := range fields[1:] {
			if allowed(deny, dep) {
				t.Errorf("%s depends on %s, which the layout forbids", pkg, dep)
			}
		}
	}
}

func ruleFor(pkg string) ([]string, bool) {
	for _, r := range rules {
		if match(r.pkg, pkg) {
			return r.allow, true
		}
	}
	return nil, false
}

func allowed(allow []string, dep string) bool {
	for _, a := range allow {
		if a == "..." || match(a, dep) {
			return true
		}
	}
	return false
}

func match(pattern, pkg string) bool {
	if p, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == p || strings.HasPrefix(pkg, p+"/")
	}
	return pattern == pkg
}

// touchSources stats every Go file of the module, so that go test's cache
// (which records the files a test opens or stats) reruns this test when
// any of them changes; the import graph itself comes from a subprocess.
func touchSources(t *testing.T) {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			_, err = os.Stat(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
