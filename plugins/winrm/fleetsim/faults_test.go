package fleetsim_test

import (
	"context"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

func TestParseFaults(t *testing.T) {
	spec, err := fleetsim.ParseFaults("unreachable=2%, slow=5%:800ms,compat=0.1")
	if err != nil {
		t.Fatal(err)
	}
	if spec.Share["unreachable"] != 0.02 || spec.Share["slow"] != 0.05 || spec.Share["compat"] != 0.1 || spec.Latency != 800*time.Millisecond {
		t.Fatalf("parsed %+v", spec)
	}
	if got := spec.String(); got != "unreachable=2%,slow=5%:800ms,compat=10%" {
		t.Errorf("String() = %q", got)
	}
	for _, bad := range []string{"gremlins=5%", "slow", "compat=150%", "compat=5%:1s", "slow=5%:soon", "compat=1%,compat=2%"} {
		if _, err := fleetsim.ParseFaults(bad); err == nil {
			t.Errorf("ParseFaults(%q) accepted", bad)
		}
	}
}

// faultFleet gives each of the first devices one transport fault.
func faultFleet(t *testing.T, kind string) *fleetsim.Fleet {
	t.Helper()
	return startFleet(t, fleetsim.Config{Devices: specs()[:1], Seed: 1,
		Faults: fleetsim.FaultSpec{Share: map[string]float64{kind: 1}, Latency: 300 * time.Millisecond}})
}

func TestTransportFaults(t *testing.T) {
	ctx := context.Background()
	t.Run("badcreds", func(t *testing.T) {
		f := faultFleet(t, fleetsim.FaultBadCreds)
		if _, _, _, err := client(t, f, 0, false, testPass).RunWithContextWithString(ctx, "hostname", ""); err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("err = %v, want 401", err)
		}
	})
	t.Run("slow", func(t *testing.T) {
		f := faultFleet(t, fleetsim.FaultSlow)
		start := time.Now()
		if _, _, _, err := client(t, f, 0, false, testPass).RunWithContextWithString(ctx, "hostname", ""); err != nil {
			t.Fatal(err)
		}
		// Create, Command, Send, Receive, Signal, Delete: each delayed.
		if d := time.Since(start); d < 5*300*time.Millisecond {
			t.Fatalf("took %v, want at least 1.5s of injected latency", d)
		}
	})
	t.Run("drop", func(t *testing.T) {
		f := faultFleet(t, fleetsim.FaultDrop)
		_, _, code, err := client(t, f, 0, false, testPass).RunWithContextWithString(ctx, "hostname", "")
		if err == nil || !strings.Contains(err.Error(), "EOF") || code != 16001 {
			t.Fatalf("code %d, err %v; want masterzen's 16001 with an EOF", code, err)
		}
	})
	t.Run("http500", func(t *testing.T) {
		f := faultFleet(t, fleetsim.FaultHTTP500)
		failed := 0
		for range 10 {
			if _, _, _, err := client(t, f, 0, false, testPass).RunWithContextWithString(ctx, "hostname", ""); err != nil {
				failed++
			}
		}
		if failed == 0 {
			t.Fatal("no command failed with every third request answering 500")
		}
	})
	t.Run("malformed", func(t *testing.T) {
		f := faultFleet(t, fleetsim.FaultMalformed)
		failed := 0
		for range 10 {
			if _, _, _, err := client(t, f, 0, false, testPass).RunWithContextWithString(ctx, "hostname", ""); err != nil {
				failed++
			}
		}
		if failed == 0 {
			t.Fatal("no command failed with every third response cut short")
		}
	})
}

func TestFaultsAreDeterministic(t *testing.T) {
	many := make([]device.Spec, 200)
	for i := range many {
		many[i] = specs()[i%3]
		many[i].Hostname = strings.Replace(many[i].Hostname, "00000", "0"+string(rune('a'+i%26))+string(rune('a'+i/26)), 1)
	}
	spec, _ := fleetsim.ParseFaults("unreachable=5%,compat=10%,rollback=3%,slow=2%")
	assign := func(seed uint64) []map[string]bool {
		f := startFleet(t, fleetsim.Config{Devices: many, Faults: spec, Seed: seed})
		defer f.Close()
		var out []map[string]bool
		for _, ep := range f.Endpoints() {
			out = append(out, maps.Clone(ep.Faults))
		}
		return out
	}
	a, b, c := assign(9), assign(9), assign(10)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed assigned faults differently")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds assigned the same faults")
	}
	count := map[string]int{}
	for _, m := range a {
		for k := range m {
			count[k]++
		}
	}
	if count["unreachable"] != 10 || count["compat"] != 20 || count["rollback"] != 6 || count["slow"] != 4 {
		t.Fatalf("fault counts %v", count)
	}
}
