package fleetsim_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
)

// systemPython is Debian's interpreter, where apt's python3-winrm lives.
const systemPython = "/usr/bin/python3"

// TestPywinrm drives the simulator with pywinrm (Debian's python3-winrm),
// an independent implementation of the protocol: Basic over HTTP and NTLM
// over verified HTTPS. CI installs it; elsewhere the test is skipped unless
// RINGMASTER_REQUIRE_PYWINRM is set.
func TestPywinrm(t *testing.T) {
	if err := exec.Command(systemPython, "-c", "import winrm").Run(); err != nil {
		if os.Getenv("RINGMASTER_REQUIRE_PYWINRM") != "" {
			t.Fatalf("pywinrm is required but not importable: %v (apt-get install python3-winrm)", err)
		}
		t.Skip("pywinrm not installed (apt-get install python3-winrm)")
	}
	f := startFleet(t, fleetsim.Config{HTTPS: true})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, f.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	ep := f.Endpoints()[0]
	for _, c := range []struct{ url, transport string }{
		{"http://" + ep.Address(false) + "/wsman", "basic"},
		{"https://" + ep.Address(true) + "/wsman", "ntlm"},
		{"https://" + ep.Address(true) + "/wsman", "basic"},
	} {
		out, err := exec.Command(systemPython, "testdata/pywinrm_client.py", c.url, c.transport, testUser, testPass, ca).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", c.transport, c.url, err, out)
		}
		var got map[string][]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: %v\n%s", c.transport, err, out)
		}
		want := map[string][]any{
			"cmd":  {"PC000001\r\n", "", 0.0},
			"exit": {"", "", 4.0},
			"ps":   {"10.0.19045\r\n", "", 0.0},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s %s:\n got %v\nwant %v", c.transport, c.url, got, want)
		}
	}
}
