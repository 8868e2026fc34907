package alerts_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/internal/ctxtest"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

func dejablue(t *testing.T) *alerts.Alert {
	t.Helper()
	data, err := os.ReadFile("testdata/dejablue.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, err := alerts.Parse("dejablue.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSatisfyingFollowsSupersedence(t *testing.T) {
	a := dejablue(t)
	if got := a.Satisfying("10.0.18363"); !slices.Equal(got, []string{"KB4512508", "KB4517389", "KB4524570"}) {
		t.Errorf("1909 satisfied by %v", got)
	}
	if got := a.Satisfying("10.0.19045"); got != nil {
		t.Errorf("22H2 is not in the alert, got %v", got)
	}
	if got := a.Required(); !slices.Equal(got, []string{"10.0.17763=KB4511553", "10.0.18362=KB4512508", "10.0.18363=KB4512508", "6.1.7601=KB4512506"}) {
		t.Errorf("required %v", got)
	}
}

func TestCheck(t *testing.T) {
	a := dejablue(t)
	at := time.Date(2019, 8, 20, 0, 0, 0, 0, time.UTC)
	dev := func(build, kbs string) *inventory.Device {
		d := &inventory.Device{Hostname: "pc"}
		if build != "" {
			d.Facts.Set(inventory.FactOSBuild, build, at)
		}
		if kbs != "-" {
			d.Facts.Set(inventory.FactKBs, kbs, at)
		}
		return d
	}
	tests := []struct {
		name string
		d    *inventory.Device
		want alerts.Standing
	}{
		{"named update", dev("10.0.18363", "KB4512508"), alerts.Compliant},
		{"a later cumulative update", dev("10.0.18363", "KB4524570;KB4500000"), alerts.Compliant},
		{"security-only on Windows 7", dev("6.1.7601", "KB4512486"), alerts.Compliant},
		{"missing", dev("10.0.17763", "KB4512508"), alerts.Exposed},
		{"no updates at all", dev("10.0.17763", ""), alerts.Exposed},
		{"build not in the alert", dev("10.0.19045", ""), alerts.NotAffected},
		{"updates never observed", dev("10.0.17763", "-"), alerts.Unknown},
		{"build never observed", dev("", "KB4512508"), alerts.Unknown},
	}
	for _, tt := range tests {
		if got := a.Check(tt.d); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	_, err := alerts.Parse("bad.yaml", []byte("id: 'HSA 1'\ntitle: ''\nissued: 2019-13-01\ndeadline: 2019-08-01\nremediation:\n  \"10.0\": [KB1]\nsupersedence:\n  KB4512508: [nope]\n"))
	if err == nil {
		t.Fatal("a bad alert was accepted")
	}
	for _, want := range []string{"bad.yaml:1: id", "bad.yaml:2: title is required", "bad.yaml:3: issued \"2019-13-01\"",
		"bad.yaml:6: remediation: \"10.0\" is not a build", "bad.yaml:6: remediation 10.0: \"KB1\"", "bad.yaml:8: supersedence: \"nope\""} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// alertYAML writes an alert's header and then body.
func alertYAML(body func(b *strings.Builder)) []byte {
	var b strings.Builder
	b.WriteString("id: HSA-BIG\ntitle: big\nissued: 2019-08-13\ndeadline: 2019-08-27\n")
	body(&b)
	return []byte(b.String())
}

// kbList is n updates from KB5000000 as a flow sequence.
func kbList(from, n int) string {
	kbs := make([]string, n)
	for i := range kbs {
		kbs[i] = fmt.Sprintf("KB%07d", 5000000+from+i)
	}
	return "[" + strings.Join(kbs, ", ") + "]"
}

// builds writes n builds, each remediated by its own update.
func builds(b *strings.Builder, n int) {
	b.WriteString("remediation:\n")
	for i := range n {
		fmt.Fprintf(b, "  \"10.0.%d\": [KB%07d]\n", i, 4000000+i)
	}
}

// TestParseLimits checks that lists within the documented limits are
// taken, and that a list over one is refused with its file and line.
func TestParseLimits(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string // "" for accepted
	}{
		{"1,000 builds", alertYAML(func(b *strings.Builder) { builds(b, 1000) }), ""},
		{"1,001 builds", alertYAML(func(b *strings.Builder) { builds(b, 1001) }),
			"big.yaml:5: remediation names 1001 builds; at most 1000 are allowed"},
		{"10,000 updates for a build", alertYAML(func(b *strings.Builder) {
			b.WriteString("remediation:\n  \"10.0.18363\": " + kbList(0, 10000) + "\n")
		}), ""},
		{"10,001 updates for a build", alertYAML(func(b *strings.Builder) {
			b.WriteString("remediation:\n  \"10.0.17763\": [KB4511553]\n  \"10.0.18363\": " + kbList(0, 10001) + "\n")
		}), "big.yaml:7: remediation 10.0.18363: 10001 updates named; at most 10000 are allowed per build"},
		{"10,001 superseded updates", alertYAML(func(b *strings.Builder) {
			b.WriteString("remediation:\n  \"10.0.18363\": [KB4512508]\nsupersedence:\n")
			for i := range 10001 {
				fmt.Fprintf(b, "  KB%07d: [KB4512508]\n", 5000000+i)
			}
		}), "big.yaml:7: supersedence names 10001 updates; at most 10000 are allowed"},
		{"1,001 later updates for one", alertYAML(func(b *strings.Builder) {
			b.WriteString("remediation:\n  \"10.0.18363\": [KB4512508]\nsupersedence:\n  KB4512508: [KB4517389]\n  KB4517389: " + kbList(0, 1001) + "\n")
		}), "big.yaml:9: supersedence KB4517389: 1001 later updates named; at most 1000 are allowed per update"},
		{"supersedence fanning out from every build", alertYAML(func(b *strings.Builder) {
			// Each of 1,000 builds reaches the same 2,000 updates: 2 million
			// steps to follow, from a file of 90 KB.
			builds(b, 1000)
			b.WriteString("supersedence:\n")
			for i := range 1000 {
				fmt.Fprintf(b, "  KB%07d: [KB4900000, KB4900001]\n", 4000000+i)
			}
			b.WriteString("  KB4900000: " + kbList(0, 1000) + "\n  KB4900001: " + kbList(1000, 1000) + "\n")
		}), "big.yaml:1006: following supersedence from every build's updates takes more than 2000000 steps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := alerts.Parse("big.yaml", tt.data)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want == "" && len(a.Satisfying(slices.Sorted(maps.Keys(a.Remediation))[0])) == 0:
				t.Fatal("no satisfying update")
			case tt.want != "" && err == nil:
				t.Fatalf("accepted, want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error lacks %q:\n%v", tt.want, err)
			}
		})
	}
}

// TestParseProblemLines checks that a bad update is reported on its own
// line, and that a file with many problems gets a readable error.
func TestParseProblemLines(t *testing.T) {
	_, err := alerts.Parse("a.yaml", []byte("id: HSA-1\ntitle: t\nissued: 2019-08-13\ndeadline: 2019-08-27\nremediation:\n  \"10.0.18363\":\n    - KB4512508\n    - KB12\nsupersedence:\n  KB4512508:\n    - KB4517389\n    - nope\n"))
	for _, want := range []string{`a.yaml:8: remediation 10.0.18363: "KB12"`, `a.yaml:12: supersedence: "nope"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	bad := make([]string, 500)
	for i := range bad {
		bad[i] = fmt.Sprintf("KB%d", i)
	}
	_, err = alerts.Parse("a.yaml", alertYAML(func(b *strings.Builder) {
		b.WriteString("remediation:\n  \"10.0.18363\": [" + strings.Join(bad, ", ") + "]\n")
	}))
	if err == nil {
		t.Fatal("500 bad updates accepted")
	}
	if lines := strings.Count(err.Error(), "\n"); lines > 51 || !strings.Contains(err.Error(), "and 450 more problems") {
		t.Fatalf("%d lines, want 50 problems and a count of the rest:\n%.2000s", lines, err)
	}
}

// TestParseStopsWhenCancelled checks that parsing a large alert gives up,
// with the context's error, when the context is cancelled part way.
func TestParseStopsWhenCancelled(t *testing.T) {
	data := alertYAML(func(b *strings.Builder) { builds(b, 1000) })
	if _, err := alerts.ParseContext(context.Background(), "big.yaml", data); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2, 3, 10} {
		if _, err := alerts.ParseContext(ctxtest.NewCountdown(context.Background(), n), "big.yaml", data); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled at the %d-th look: %v, want context.Canceled", n, err)
		}
	}
}

// TestSampleAlerts reads the sample alerts (also the fuzzer's seeds) and
// checks what satisfies a build in each.
func TestSampleAlerts(t *testing.T) {
	tests := []struct {
		file, build string
		want        []string
	}{
		{"dejablue.yaml", "6.1.7601", []string{"KB4512486", "KB4512506"}},
		{"bluekeep.yaml", "6.1.7601", []string{"KB4499164", "KB4499175", "KB4503292", "KB4507449"}},
		{"printnightmare.yaml", "10.0.19042", []string{"KB5004237", "KB5004945", "KB5005033", "KB5005565"}},
		{"supersedence-cycle.yaml", "10.0.18363", []string{"KB4528760", "KB4532693", "KB4535996"}},
	}
	for _, tt := range tests {
		data, err := os.ReadFile("testdata/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		a, err := alerts.Parse(tt.file, data)
		if err != nil {
			t.Errorf("%s: %v", tt.file, err)
			continue
		}
		if got := a.Satisfying(tt.build); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %s satisfied by %v, want %v", tt.file, tt.build, got, tt.want)
		}
	}
}

func TestBuilds(t *testing.T) {
	for _, tc := range []struct {
		remediation map[string][]string
		want        []string
	}{
		{map[string][]string{"6.1.7601": {"KB1"}, "10.0.18363": {"KB2"}, "10.0.17763": {"KB3"}}, []string{"10.0.17763", "10.0.18363", "6.1.7601"}},
		{map[string][]string{"10.0.19045": {"KB1"}}, []string{"10.0.19045"}},
		{nil, []string{}},
	} {
		a := &alerts.Alert{Remediation: tc.remediation}
		if got := a.Builds(); !slices.Equal(got, tc.want) {
			t.Errorf("Builds of %v = %v, want %v", tc.remediation, got, tc.want)
		}
	}
	if got := dejablue(t).Builds(); !slices.Equal(got, []string{"10.0.17763", "10.0.18362", "10.0.18363", "6.1.7601"}) {
		t.Errorf("dejablue's builds: %v", got)
	}
}
