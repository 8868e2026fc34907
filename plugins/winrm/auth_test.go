package winrm_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm"
)

// impostor is a host on a device's address that is not the device: it
// answers every request with 401 and the schemes it names, and keeps every
// Authorization header it was sent.
type impostor struct {
	*httptest.Server
	mu      sync.Mutex
	headers []string
}

func newImpostor(t *testing.T, tls bool, schemes ...string) *impostor {
	t.Helper()
	im := &impostor{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		im.mu.Lock()
		im.headers = append(im.headers, r.Header.Get("Authorization"))
		im.mu.Unlock()
		for _, s := range schemes {
			w.Header().Add("WWW-Authenticate", s)
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
	if tls {
		im.Server = httptest.NewTLSServer(h)
	} else {
		im.Server = httptest.NewServer(h)
	}
	t.Cleanup(im.Close)
	return im
}

func (im *impostor) sent() []string {
	im.mu.Lock()
	defer im.mu.Unlock()
	return append([]string(nil), im.headers...)
}

// TestCredentialsWithheld: whatever a host asks for, the password goes
// only where the configured scheme and transport allow it.
func TestCredentialsWithheld(t *testing.T) {
	const secret = "Domain-Pa55word!"
	tests := []struct {
		name     string
		tls      bool
		schemes  []string
		auth     string
		insecure bool
		options  map[string]string
		wantKind sdk.Kind
		wantReqs bool // whether the host is contacted at all
	}{
		{name: "default scheme, host offers only Basic", schemes: []string{`Basic realm="WSMAN"`}, auth: "", wantKind: sdk.AuthFailed, wantReqs: true},
		{name: "ntlm, host offers only Basic", schemes: []string{`Basic realm="WSMAN"`}, auth: "ntlm", wantKind: sdk.AuthFailed, wantReqs: true},
		{name: "ntlm, host offers Basic and Digest over TLS", tls: true, insecure: true, schemes: []string{"Digest realm=x", "Basic"}, auth: "ntlm", wantKind: sdk.AuthFailed, wantReqs: true},
		{name: "ntlm, host offers nothing", auth: "ntlm", wantKind: sdk.AuthFailed, wantReqs: true},
		{name: "basic over plain HTTP", schemes: []string{"Basic"}, auth: "basic", wantKind: sdk.Internal},
		{name: "basic over unverified TLS", tls: true, insecure: true, schemes: []string{"Basic"}, auth: "basic", wantKind: sdk.Internal},
	}
	x := winrm.New(winrm.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im := newImpostor(t, tt.tls, tt.schemes...)
			tg := sdk.Target{Hostname: "pc1.rxx.nhs.uk", Address: strings.TrimPrefix(strings.TrimPrefix(im.URL, "http://"), "https://"),
				HTTPS: tt.tls, InsecureSkipVerify: tt.insecure, Auth: tt.auth, Username: `RXX\svc-ringmaster`, Password: secret,
				ConnectTimeout: 5 * time.Second, Options: tt.options}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for _, op := range []struct {
				name string
				call func() error
			}{
				{"exec", func() error {
					_, err := x.Exec(ctx, tg, sdk.Command{Shell: sdk.PowerShell, Script: "hostname"}, nil)
					return err
				}},
				{"probe", func() error { _, err := x.Probe(ctx, tg); return err }},
			} {
				err := op.call()
				if !sdk.IsKind(err, tt.wantKind) {
					t.Errorf("%s: err = %v, want kind %s", op.name, err, tt.wantKind)
				}
				if err != nil && strings.Contains(err.Error(), secret) {
					t.Errorf("%s: the error holds the password: %v", op.name, err)
				}
			}
			sent := im.sent()
			if tt.wantReqs && len(sent) == 0 {
				t.Error("the host was never contacted: the test proves nothing")
			}
			if !tt.wantReqs && len(sent) != 0 {
				t.Errorf("the host was contacted %d times; the target should have been refused before connecting", len(sent))
			}
			for _, h := range sent {
				if scheme, _, _ := strings.Cut(h, " "); strings.EqualFold(scheme, "Basic") {
					t.Errorf("sent Authorization %q", h)
				}
			}
		})
	}
}

// TestSchemeRefusedIsTyped: callers can tell withheld credentials from a
// wrong password.
func TestSchemeRefusedIsTyped(t *testing.T) {
	im := newImpostor(t, false, "Basic")
	tg := sdk.Target{Address: strings.TrimPrefix(im.URL, "http://"), Username: "u", Password: "p", ConnectTimeout: 5 * time.Second}
	_, err := winrm.New(winrm.Options{}).Exec(context.Background(), tg, sdk.Command{Script: "hostname"}, nil)
	if !errors.Is(err, winrm.ErrSchemeRefused) {
		t.Fatalf("err = %v, want ErrSchemeRefused", err)
	}
	if !strings.Contains(err.Error(), `"Basic"`) {
		t.Errorf("error %q does not say what the host asked for", err)
	}
}
