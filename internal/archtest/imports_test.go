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
	{"inventory", nil},  // pure domain: standard library only
	{"credential", nil}, // domain and sealing: standard library only
	{"inventory/format", []string{"inventory", "internal/jsontext", "internal/safecsv"}},
	{"inventory/sqlite", []string{"inventory", "internal/jsontext", "internal/sqlmigrate"}},
	{"inventory/synth", []string{"internal/safecsv"}},
	{"playbooks", []string{"inventory", "plugins/sdk", "internal/yamlfile"}}, // the engine runs commands through the SDK contract
	{"playbooks/builtin", []string{"playbooks"}},
	{"plugins", nil},
	// The public SDK depends on nothing of ours; executors on the SDK only.
	{"plugins/sdk", []string{"plugins/sdk/proto"}},
	{"plugins/sdk/proto", nil},
	{"plugins/sdk/conformance", []string{"plugins/sdk", "plugins/sdk/proto"}},
	{"plugins/winrm", []string{"plugins/sdk", "plugins/sdk/proto"}},
	{"plugins/host", []string{"plugins/sdk", "plugins/sdk/proto"}},
	// An example plugin is built as an outside author would: the SDK only.
	{"plugins/examples/ssh", []string{"plugins/sdk", "plugins/sdk/proto"}},
	// The simulated fleet: the device model and the WS-Management front know
	// nothing of each other or of the product; fleetsim wires them.
	{"plugins/winrm/fleetsim/device", nil},
	{"plugins/winrm/fleetsim/wsman", nil},
	{"plugins/winrm/fleetsim", []string{"plugins/winrm/fleetsim/device", "plugins/winrm/fleetsim/wsman"}},
	// The orchestrator's domain (campaigns, waves, windows, the state
	// machine, the controller's decisions, the store contract) knows
	// inventory and playbooks, never storage or River.
	{"orchestrator", []string{"inventory", "playbooks", "internal/yamlfile"}},
	{"orchestrator/sqlite", []string{"orchestrator", "internal/sqlmigrate"}},
	// The scheduler applies the controller's plans on River and runs the
	// engine; it reaches the campaign store (orchestrator.Store), devices
	// and the inventory through interfaces, never a concrete store, and
	// migrates River's tables under sqlmigrate's lock.
	{"orchestrator/scheduler", []string{"inventory", "orchestrator", "playbooks", "plugins/sdk", "internal/sqlmigrate"}},
	// The campaigns application: domain packages only, no store, River,
	// cobra or cmd (forbidden third-party imports are checked below).
	{"campaigns", []string{"inventory", "orchestrator", "playbooks", "alerts"}},
	{"cmd/...", []string{"..."}},
	// Reports compute figures from the domain types only.
	{"report", []string{"inventory", "alerts", "internal/safecsv"}},
	{"report/html", []string{"report"}},
	{"alerts", []string{"inventory", "internal/yamlfile"}},
	{"alerts/sqlite", []string{"alerts", "internal/sqlmigrate"}},
	{"report/sqlite", []string{"report", "internal/sqlmigrate"}},
	{"internal/jsontext", nil},
	{"internal/yamlfile", nil},
	{"internal/sqlmigrate", nil},
	{"internal/safecsv", nil}, // every CSV writer's formula neutralising: standard library only
	{"internal/...", []string{"..."}},
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
