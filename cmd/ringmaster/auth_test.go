package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNoPasswordToImpostor: a host answering on a device's address that
// asks for Basic authentication (a stale DNS record, a reused address, a
// compromised PC) gets no password from exec, probe or run under the
// default settings, and --auth basic without TLS is refused up front.
func TestNoPasswordToImpostor(t *testing.T) {
	const secret = "Domain-Secret-1"
	var (
		mu   sync.Mutex
		seen []string
	)
	im := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="WSMAN"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer im.Close()
	requests := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}

	s := newScript(t)
	addr := strings.TrimPrefix(im.URL, "http://")
	if err := os.WriteFile("d.csv", []byte("hostname,org,address\npc1.rxx.nhs.uk,RXX,"+addr+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.run("org", "add", "RXX", "--name", "Example", "--timezone", "Europe/London")
	s.run("inventory", "import", "d.csv")
	env := func(k string) string { return s.env[k] }
	call := func(ctx context.Context, stdin string, argv ...string) (string, string, int) {
		var o, e bytes.Buffer
		code := run(ctx, argv, strings.NewReader(stdin), &o, &e, env)
		return o.String(), e.String(), code
	}
	bg := context.Background()
	if _, e, code := call(bg, secret+"\n", "credential", "add", "svc", "--username", `RXX\svc`, "--password-stdin"); code != 0 {
		t.Fatal(e)
	}
	s.run("org", "set-credential", "RXX", "svc")

	if _, e, code := call(bg, "", "exec", "pc1.rxx.nhs.uk", "--", "hostname"); code != 1 || !strings.Contains(e, "auth_failed") || !strings.Contains(e, "credentials not sent") {
		t.Errorf("exec: %d %q", code, e)
	}
	if o, e, code := call(bg, "", "probe", "-l", "org=RXX"); code != 1 || !strings.Contains(o, "1 auth_failed") {
		t.Errorf("probe: %d %q %q", code, o, e)
	}
	before := len(requests())
	if err := os.WriteFile("c.yaml", []byte("name: discover-rxx\nplaybook: discover\ntarget: 'org=RXX'\nwaves:\n  - {name: all}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{{"campaign", "create", "-f", "c.yaml"}, {"campaign", "start", "discover-rxx"}} {
		if _, e, code := call(bg, "", argv...); code != 0 {
			t.Fatalf("%s: %s", argv, e)
		}
	}
	// Run until the device's job has reached the impostor and finished.
	ctx, cancel := context.WithCancel(bg)
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		call(ctx, "", "run", "--view", "plain", "--workers", "1")
	}()
	deadline := time.Now().Add(2 * time.Minute)
	var last string
	for {
		o, _, _ := call(bg, "", "campaign", "show", "discover-rxx", "--device", "pc1.rxx.nhs.uk")
		last = o
		if len(requests()) > before && (strings.Contains(o, "failed") || strings.Contains(o, "deferred") || strings.Contains(o, "unreachable")) {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-ran
			t.Fatalf("run did not reach the device in 2 minutes; it saw %d requests; the device:\n%s", len(requests())-before, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-ran

	for i, h := range requests() {
		if scheme, _, _ := strings.Cut(h, " "); strings.EqualFold(scheme, "Basic") {
			t.Errorf("request %d carried Authorization %q", i, h)
		}
	}
	if _, e, code := call(bg, "", "exec", "pc1.rxx.nhs.uk", "--auth", "basic", "--", "hostname"); code != 2 || !strings.Contains(e, "--allow-basic-without-tls") {
		t.Errorf("exec --auth basic over HTTP: %d %q", code, e)
	}
	n := len(requests())
	_, e, _ := call(bg, "", "exec", "pc1.rxx.nhs.uk", "--auth", "basic", "--allow-basic-without-tls", "--", "hostname")
	if !strings.Contains(e, "warning: --allow-basic-without-tls") || len(requests()) == n {
		t.Errorf("forced basic: no warning or no request: %q", e)
	}
}
