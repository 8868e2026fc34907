package wsman

import (
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/Azure/go-ntlmssp"
)

// ntlmLeg sends one Authorization header on a given connection's transport.
func ntlmLeg(t *testing.T, tr *http.Transport, url, auth string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/wsman", strings.NewReader(envelopeFor(url)))
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	req.Header.Set("Authorization", auth)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func envelopeFor(url string) string {
	return strings.Replace(strings.Replace(strings.Replace(strings.Replace(strings.Replace(strings.Replace(envelope,
		"%s", url+"/wsman", 1), "%s", actionCreate, 1), "%s", ShellURI, 1), "%s", "PT60S", 1), "%s", "", 1), "%s", createBody, 1)
}

func TestNTLMLegsMustShareAConnection(t *testing.T) {
	creds := &Credentials{Username: "admin", Password: "pw", Computer: "PC1"}
	s := NewServer(fakeHost{}, creds, Options{})
	ts := httptest.NewUnstartedServer(s)
	ts.Config.ConnState = creds.ConnState
	ts.Start()
	defer ts.Close()

	negotiate, err := ntlmssp.NewNegotiateMessage("", "")
	if err != nil {
		t.Fatal(err)
	}
	// Each transport holds its own single keep-alive connection.
	newTransport := func() *http.Transport {
		return &http.Transport{MaxConnsPerHost: 1, DialContext: (&net.Dialer{}).DialContext}
	}
	handshake := func(second *http.Transport, password string) int {
		first := newTransport()
		defer first.CloseIdleConnections()
		resp := ntlmLeg(t, first, ts.URL, "Negotiate "+base64.StdEncoding.EncodeToString(negotiate))
		if resp.StatusCode != 401 {
			t.Fatalf("negotiate leg: %d", resp.StatusCode)
		}
		_, tok, _ := strings.Cut(resp.Header.Get("WWW-Authenticate"), " ")
		challenge, err := base64.StdEncoding.DecodeString(tok)
		if err != nil || len(challenge) == 0 {
			t.Fatalf("no challenge in %q", resp.Header.Get("WWW-Authenticate"))
		}
		authenticate, err := ntlmssp.ProcessChallenge(challenge, "admin", password, true)
		if err != nil {
			t.Fatal(err)
		}
		if second == nil {
			second = first
		}
		return ntlmLeg(t, second, ts.URL, "Negotiate "+base64.StdEncoding.EncodeToString(authenticate)).StatusCode
	}
	if code := handshake(nil, "pw"); code != 200 {
		t.Fatalf("three legs on one connection: %d, want 200", code)
	}
	other := newTransport()
	defer other.CloseIdleConnections()
	if code := handshake(other, "pw"); code != 401 {
		t.Fatalf("authenticate leg on another connection: %d, want 401", code)
	}
	if code := handshake(nil, "wrong"); code != 401 {
		t.Fatalf("wrong password: %d, want 401", code)
	}
}
