package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/plugins/examples/agent/fakeagent"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/conformance"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/testdevice"
)

const token = "Agent-T0ken-5ecret"

// startAgent serves a fake agent for dev and returns a target with working
// credentials.
func startAgent(t *testing.T, dev *testdevice.Device, useTLS bool) (*fakeagent.Server, sdk.Target) {
	t.Helper()
	start := fakeagent.Start
	if useTLS {
		start = fakeagent.StartTLS
	}
	a, err := start(dev, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a, sdk.Target{Hostname: dev.Facts().Hostname, Address: a.Addr, HTTPS: useTLS, CACertPEM: a.CACertPEM,
		Password: token, ConnectTimeout: 5 * time.Second}
}

func TestConformance(t *testing.T) {
	_, good := startAgent(t, testdevice.New(testdevice.Spec{}), false)
	bad, unreachable := good, good
	bad.Password = "wrong-agent-token"
	unreachable.Address = "127.0.0.1:1" // nothing listens on port 1
	conformance.Run(t, conformance.Harness{Executor: New(), Target: good, Unreachable: unreachable, BadCredentials: bad})
}

func TestProbeFacts(t *testing.T) {
	dev := testdevice.New(testdevice.Spec{Hostname: "ws42.rxx.nhs.uk", Build: "10.0.19044", UBR: 4291,
		Serial: "CZC9876XYZ", Manufacturer: "HP", Model: "EliteDesk 800 G6", KBs: []string{"KB5034441", "KB5031356"}})
	_, target := startAgent(t, dev, false)
	before := time.Now()
	res, err := New().Probe(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	got, want := res.Facts, dev.Facts()
	slices.Sort(got.KBs)
	slices.Sort(want.KBs)
	if got.Hostname != want.Hostname || got.OSBuild != want.OSBuild || got.UBR != want.UBR || got.Serial != want.Serial ||
		got.Model != want.Model || got.Manufacturer != want.Manufacturer || got.OSCaption != want.OSCaption || !slices.Equal(got.KBs, want.KBs) {
		t.Errorf("facts\n got %+v\nwant %+v", got, want)
	}
	if res.ObservedAt.Before(before) || res.ObservedAt.After(time.Now()) {
		t.Errorf("ObservedAt %v is not the time of the probe", res.ObservedAt)
	}
}

func TestHTTPS(t *testing.T) {
	dev := testdevice.New(testdevice.Spec{})
	a, good := startAgent(t, dev, true)
	plain, err := fakeagent.Start(dev, token)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	tweak := func(f func(*sdk.Target)) sdk.Target { c := good; f(&c); return c }
	for _, tc := range []struct {
		name   string
		target sdk.Target
		want   sdk.Kind // "" = success
	}{
		{"trusted CA", good, ""},
		{"verified as another of the certificate's names", tweak(func(t *sdk.Target) { t.TLSServerName = "example.com" }), ""},
		{"skip verify", tweak(func(t *sdk.Target) { t.CACertPEM, t.InsecureSkipVerify = nil, true }), ""},
		{"unknown CA", tweak(func(t *sdk.Target) { t.CACertPEM = nil }), sdk.TLS},
		{"wrong name", tweak(func(t *sdk.Target) { t.TLSServerName = "pc9.rxx.nhs.uk" }), sdk.TLS},
		{"CACertPEM holds no certificate", tweak(func(t *sdk.Target) { t.CACertPEM = []byte("not PEM") }), sdk.TLS},
		{"HTTPS spoken to a plain agent", tweak(func(t *sdk.Target) { t.Address = plain.Addr }), sdk.Protocol},
		{"HTTP spoken to an HTTPS agent", tweak(func(t *sdk.Target) { t.HTTPS = false }), sdk.Protocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := New().Exec(context.Background(), tc.target, sdk.Command{Shell: sdk.PowerShell, Script: "Write-Output 'over tls'"}, nil)
			if sdk.KindOf(err) != tc.want {
				t.Fatalf("kind %q (%v), want %q", sdk.KindOf(err), err, tc.want)
			}
			if err == nil && strings.TrimSpace(string(res.Stdout)) != "over tls" {
				t.Errorf("stdout %q", res.Stdout)
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Errorf("the error reveals the token: %v", err)
			}
		})
	}
	if _, err := New().Probe(context.Background(), good); err != nil {
		t.Errorf("probe over HTTPS at %s: %v", a.URL, err)
	}
}

// TestErrorKinds puts agents that misbehave in front of the executor.
func TestErrorKinds(t *testing.T) {
	ndjsonHeader := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
	}
	lines := func(ls ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			ndjsonHeader(w)
			for _, l := range ls {
				fmt.Fprintln(w, l)
			}
		}
	}
	for _, tc := range []struct {
		name     string
		handler  http.HandlerFunc
		want     sdk.Kind // "" = success
		exit     int
		stdout   string
		contains string // in the error's text
	}{
		{name: "401 echoing the token", want: sdk.AuthFailed, exit: -1, handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":"bad token `+r.Header.Get("Authorization")+`"}`, http.StatusUnauthorized)
		}},
		{name: "403", want: sdk.AuthFailed, exit: -1, handler: func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"error":"forbidden"}`, http.StatusForbidden)
		}},
		{name: "html page", want: sdk.Protocol, exit: -1, contains: "content type", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>It works!</html>")
		}},
		{name: "garbage line", want: sdk.Protocol, exit: -1, stdout: "a", contains: "not an event",
			handler: lines(`{"stream":"stdout","data":"a"}`, `*** garbage ***`, `{"exit_code":0}`)},
		{name: "JSON that is not an object", want: sdk.Protocol, exit: -1, handler: lines(`["stdout","a"]`)},
		{name: "unknown stream", want: sdk.Protocol, exit: -1, handler: lines(`{"stream":"stdlog","data":"a"}`, `{"exit_code":0}`)},
		{name: "stream ends without an exit code", want: sdk.Protocol, exit: -1, stdout: "partial\n", contains: "without the command's exit code",
			handler: lines(`{"stream":"stdout","data":"partial\n"}`)},
		{name: "server closes mid-stream", want: sdk.Unreachable, exit: -1, stdout: "partial\n", contains: "broke mid-command",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				ndjsonHeader(w)
				fmt.Fprintln(w, `{"stream":"stdout","data":"partial\n"}`)
				_ = http.NewResponseController(w).Flush()
				conn, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					panic(err)
				}
				conn.Close() // the chunked body never ends
			}},
		{name: "agent busy", want: sdk.Unreachable, exit: -1, handler: func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
		}},
		{name: "no API here", want: sdk.Protocol, exit: -1, contains: "base_path", handler: http.NotFound},
		{name: "redirect not followed", want: sdk.Protocol, exit: -1, contains: "302", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere.invalid/v1/commands", http.StatusFound)
		}},
		{name: "command refused", want: sdk.Internal, exit: -1, contains: "unsupported interpreter", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"unsupported interpreter"}`)
		}},
		{name: "error event", want: sdk.Internal, exit: -1, contains: "powershell.exe missing",
			handler: lines(`{"error":"powershell.exe missing"}`)},
		{name: "agent's timeout", want: sdk.TimedOut, exit: -1, stdout: "before\n",
			handler: lines(`{"stream":"stdout","data":"before\n"}`, `{"exit_code":-1,"duration_ms":1000,"timed_out":true}`)},
		{name: "non-zero exit", want: sdk.CommandFailed, exit: 7, stdout: "out\n",
			handler: lines(`{"stream":"stdout","data":"out\n"}`, `{"stream":"stderr","data":"err\n"}`, `{"exit_code":7,"duration_ms":12}`)},
		{name: "unknown events skipped", want: "", exit: 0, stdout: "ok\n",
			handler: lines(`{"keepalive":true}`, ``, `{"stream":"stdout","data":"ok\n"}`, `{"exit_code":0,"duration_ms":3}`, `trailing ignored`)},
		{name: "headers too slow", want: sdk.TimedOut, exit: -1, handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the client leaving
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			target := sdk.Target{Hostname: "pc1.rxx.nhs.uk", Address: srv.Listener.Addr().String(), Password: token,
				ConnectTimeout: 500 * time.Millisecond}
			res, err := New().Exec(context.Background(), target, sdk.Command{Shell: sdk.PowerShell, Script: "Write-Output x"}, nil)
			if sdk.KindOf(err) != tc.want {
				t.Fatalf("kind %q (%v), want %q", sdk.KindOf(err), err, tc.want)
			}
			if res.ExitCode != tc.exit || string(res.Stdout) != tc.stdout {
				t.Errorf("result exit %d stdout %q, want %d %q", res.ExitCode, res.Stdout, tc.exit, tc.stdout)
			}
			if tc.want == sdk.CommandFailed {
				var se *sdk.Error
				if !errors.As(err, &se) || se.ExitCode != tc.exit || string(res.Stderr) != "err\n" || res.Duration != 12*time.Millisecond {
					t.Errorf("command failed: %v, stderr %q, duration %v", err, res.Stderr, res.Duration)
				}
			}
			if err != nil && !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not say %q", err, tc.contains)
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Errorf("the error reveals the token: %v", err)
			}
		})
	}
}

// TestRequest checks what the executor sends, and that it streams each
// chunk as it arrives: the agent sends the exit only once the executor has
// passed on the first chunk.
func TestRequest(t *testing.T) {
	passedOn := make(chan struct{})
	var got struct {
		path, auth string
		body       map[string]any
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.path, got.auth = r.URL.Path, r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &got.body)
		w.Header().Set("Content-Type", "application/x-ndjson; charset=utf-8")
		fmt.Fprintln(w, `{"stream":"stdout","data":"first\n"}`)
		_ = http.NewResponseController(w).Flush()
		select {
		case <-passedOn:
		case <-time.After(5 * time.Second):
			fmt.Fprintln(w, `{"error":"the first chunk was not passed on before the stream ended"}`)
			return
		}
		fmt.Fprintln(w, `{"exit_code":0,"duration_ms":5}`)
	}))
	defer srv.Close()
	target := sdk.Target{Address: srv.Listener.Addr().String(), Username: "ignored", Password: token,
		Options: map[string]string{"base_path": "/mgmt/agent/"}}
	var once bool
	res, err := New().Exec(context.Background(), target, sdk.Command{Shell: sdk.Cmd, Script: "more", Stdin: []byte("in\x00put"), Timeout: time.Minute},
		func(c sdk.Chunk) {
			if !once && c.Stream == sdk.Stdout && string(c.Data) == "first\n" {
				once = true
				close(passedOn)
			}
		})
	if err != nil || string(res.Stdout) != "first\n" {
		t.Fatalf("exec: %q %v", res.Stdout, err)
	}
	if got.path != "/mgmt/agent/v1/commands" || got.auth != "Bearer "+token {
		t.Errorf("request to %q with Authorization %q", got.path, got.auth)
	}
	want := map[string]any{"shell": "cmd", "script": "more", "stdin": base64.StdEncoding.EncodeToString([]byte("in\x00put")), "timeout_ms": float64(60000)}
	if fmt.Sprint(got.body) != fmt.Sprint(want) {
		t.Errorf("request body %v, want %v", got.body, want)
	}
}

// TestBasePathAndText runs the fake agent under a base path, and checks
// output that is not ASCII arrives whole.
func TestBasePathAndText(t *testing.T) {
	dev := testdevice.New(testdevice.Spec{})
	srv := httptest.NewServer(http.StripPrefix("/agent", fakeagent.Handler(dev, token)))
	defer srv.Close()
	target := sdk.Target{Address: srv.Listener.Addr().String(), Password: token, Options: map[string]string{"base_path": "/agent"}}
	res, err := New().Exec(context.Background(), target, sdk.Command{Shell: sdk.PowerShell, Script: "Write-Output 'Café 東京'"}, nil)
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "Café 東京" {
		t.Fatalf("exec: %q %v", res.Stdout, err)
	}
	target.Options = nil
	if _, err := New().Exec(context.Background(), target, sdk.Command{Shell: sdk.PowerShell, Script: "Write-Output x"}, nil); !sdk.IsKind(err, sdk.Protocol) {
		t.Errorf("without the base path: kind %q (%v), want protocol", sdk.KindOf(err), err)
	}
}

// TestAgentClose: closing the fake agent stops a command in progress, and
// the executor says the device went away.
func TestAgentClose(t *testing.T) {
	a, target := startAgent(t, testdevice.New(testdevice.Spec{}), false)
	time.AfterFunc(300*time.Millisecond, a.Close)
	start := time.Now()
	_, err := New().Exec(context.Background(), target, sdk.Command{Shell: sdk.PowerShell, Script: "Start-Sleep -Seconds 120"}, nil)
	if !sdk.IsKind(err, sdk.Unreachable) || time.Since(start) > 10*time.Second {
		t.Fatalf("after %v: kind %q (%v), want unreachable", time.Since(start), sdk.KindOf(err), err)
	}
}

func TestTargetValidation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target sdk.Target
		want   sdk.Kind
	}{
		{"no token", sdk.Target{Address: "127.0.0.1:1"}, sdk.AuthFailed},
		{"no address", sdk.Target{Password: token}, sdk.Internal},
		{"relative base path", sdk.Target{Address: "127.0.0.1:1", Password: token, Options: map[string]string{"base_path": "agent"}}, sdk.Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New().Exec(context.Background(), tc.target, sdk.Command{Shell: sdk.PowerShell, Script: "Write-Output x"}, nil)
			if sdk.KindOf(err) != tc.want {
				t.Errorf("kind %q (%v), want %q", sdk.KindOf(err), err, tc.want)
			}
		})
	}
	if _, err := New().Exec(context.Background(), sdk.Target{Address: "127.0.0.1:1", Password: token},
		sdk.Command{Shell: "bash", Script: "true"}, nil); !sdk.IsKind(err, sdk.Internal) {
		t.Errorf("unknown shell: kind %q (%v), want internal", sdk.KindOf(err), err)
	}
	for _, tc := range []struct {
		target sdk.Target
		want   string
	}{
		{sdk.Target{Hostname: "pc1.rxx.nhs.uk"}, "http://pc1.rxx.nhs.uk:8080/v1/commands"},
		{sdk.Target{Hostname: "pc1.rxx.nhs.uk", HTTPS: true}, "https://pc1.rxx.nhs.uk:8443/v1/commands"},
		{sdk.Target{Address: "10.1.2.3:9000", HTTPS: true, Options: map[string]string{"base_path": "/a/"}}, "https://10.1.2.3:9000/a/v1/commands"},
		{sdk.Target{Address: "fe80::1"}, "http://[fe80::1]:8080/v1/commands"},
	} {
		if got, err := commandsURL(tc.target); err != nil || got != tc.want {
			t.Errorf("commandsURL(%+v) = %q, %v; want %q", tc.target, got, err, tc.want)
		}
	}
}
