package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/audit"
	"github.com/ringmaster-fleet/ringmaster/internal/oidctest"
	"github.com/ringmaster-fleet/ringmaster/server"
)

// signInFixture is a server with sign-in through an in-process provider
// knowing alice (national admins' group), bob (RA's desktop team) and eve
// (no group Ringmaster knows).
func signInFixture(t *testing.T) (*fixture, *oidctest.Provider) {
	t.Helper()
	return signInOn(t, newFixture(t))
}

// signInOn enables signInFixture's sign-in on f.
func signInOn(t *testing.T, f *fixture) (*fixture, *oidctest.Provider) {
	t.Helper()
	p, err := oidctest.Start("ringmaster", "client-secret", f.http.URL+"/auth/callback", map[string]map[string]any{
		"alice": {"email": "alice@nhs.example", "groups": []string{"ringmaster-national-admins"}},
		"bob":   {"email": "bob@ra.nhs.example", "groups": []string{"staff", "ra-desktop"}},
		"eve":   {"email": "eve@elsewhere.example", "groups": []string{"staff"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	p.Now = func() time.Time { return f.now }
	cfg := server.OIDC{Issuer: p.Issuer(), ClientID: "ringmaster", ClientSecret: "client-secret", RedirectURL: f.http.URL + "/auth/callback",
		Rules: []server.ClaimRule{
			{Claim: "groups", Value: "ringmaster-national-admins", Role: access.Admin, Scope: access.EstateScope()},
			{Claim: "groups", Value: "ra-desktop", Role: access.Operator, Scope: access.OrgScope("RA")},
		}}
	if err := f.srv.EnableOIDC(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return f, p
}

// browser signs user in through the provider and returns a client holding
// the session cookie, with the callback's status and body.
func browser(t *testing.T, f *fixture, user string) (*http.Client, int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(f.http.URL + "/auth/login?login_hint=" + user)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return c, resp.StatusCode, string(b)
}

func TestSignIn(t *testing.T) {
	f, p := signInFixture(t)
	bob, status, body := browser(t, f, "bob")
	if status != ok || !strings.Contains(body, `"subject":"bob@ra.nhs.example"`) || !strings.Contains(body, `"scope":"org:RA"`) {
		t.Fatalf("bob's sign-in: %d %s", status, body)
	}
	get := func(c *http.Client, method, path string, h map[string]string) (int, string) {
		req, _ := http.NewRequest(method, f.http.URL+path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := get(bob, "GET", "/api/v1/whoami", nil); status != ok || !strings.Contains(body, `"via":"oidc"`) || !strings.Contains(body, `"role":"operator"`) {
		t.Fatalf("bob's session: %d %s", status, body)
	}
	if status, body := get(bob, "GET", "/api/v1/orgs", nil); status != ok || strings.Contains(body, `"RB"`) || !strings.Contains(body, `"RA"`) {
		t.Fatalf("bob's organisations: %d %s", status, body)
	}
	if status, body := get(bob, "POST", "/api/v1/campaigns/national/retry", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}); status != forbidden {
		t.Fatalf("a cross-site change with bob's cookie: %d %s, want 403", status, body)
	}
	if status, body := get(bob, "POST", "/api/v1/campaigns/national/retry", map[string]string{"Sec-Fetch-Site": "same-origin"}); status != ok {
		t.Fatalf("bob's retry from the server's own page: %d %s", status, body)
	}
	es, err := f.trail.List(context.Background(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range es {
		if e.Actor == "bob@ra.nhs.example" && e.Via == access.ViaOIDC {
			actions = append(actions, e.Action+" "+e.Outcome)
		}
	}
	if strings.Join(actions, ", ") != "session.create done, campaign.retry done" {
		t.Errorf("bob's audit trail: %v", actions)
	}
	if status, _ := get(bob, "POST", "/auth/logout", nil); status != http.StatusNoContent {
		t.Fatalf("logout: %d", status)
	}
	// The cookie jar forgot the cookie; the session token is revoked too.
	var session string
	for _, e := range es {
		if e.Action == "session.create" {
			session = e.TokenID
		}
	}
	tk, err := f.tokens.Token(context.Background(), session)
	if err != nil || tk.RevokedAt.IsZero() {
		t.Fatalf("after logout the session token is %+v %v, want revoked", tk, err)
	}

	// eve signs in at the provider but no rule gives her a role.
	if _, status, body := browser(t, f, "eve"); status != forbidden || !strings.Contains(body, "no rule gives eve@elsewhere.example a role") {
		t.Fatalf("eve's sign-in: %d %s", status, body)
	}
	// An unknown user is refused by the provider.
	if _, status, _ := browser(t, f, "mallory"); status != http.StatusUnauthorized {
		t.Fatalf("mallory's sign-in: %d", status)
	}

	// The provider's ID tokens are bearer tokens too; an expired one is not.
	idt, err := p.IDToken("alice", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if status, body, _ := f.do("GET", "/api/v1/whoami", idt, ""); status != ok || !strings.Contains(string(body), `"role":"admin"`) {
		t.Fatalf("alice's ID token: %d %s", status, body)
	}
	old, err := p.IDToken("alice", "", -time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if status, body, _ := f.do("GET", "/api/v1/whoami", old, ""); status != http.StatusUnauthorized {
		t.Fatalf("an expired ID token: %d %s", status, body)
	}
}

// TestSignInState refuses a callback that no sign-in from this browser
// started, and a forged code.
func TestSignInState(t *testing.T) {
	f, _ := signInFixture(t)
	for _, path := range []string{"/auth/callback?code=x&state=y", "/auth/callback"} {
		resp, err := http.Get(f.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var prob server.Problem
		json.NewDecoder(resp.Body).Decode(&prob)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(prob.Detail, "start again at /auth/login") {
			t.Fatalf("%s: %d %+v", path, resp.StatusCode, prob)
		}
	}
}

func TestParseOIDC(t *testing.T) {
	good := "issuer: https://login.example\nclient_id: ringmaster\nredirect_url: https://rm.example/auth/callback\n" +
		"rules:\n  - {claim: groups, value: admins, role: admin, scope: estate}\n  - {claim: groups, value: rxx, role: viewer, scope: \"org:RXX\"}\n"
	c, err := server.ParseOIDC("oidc.yaml", []byte(good))
	if err != nil || len(c.Rules) != 2 || c.Rules[1].Scope.String() != "org:RXX" || c.Rules[0].Role != access.Admin {
		t.Fatalf("ParseOIDC = %+v, %v", c, err)
	}
	for _, tt := range []struct{ name, src, says string }{
		{"http issuer", strings.Replace(good, "https://login", "http://login", 1), "issuer"},
		{"no client", strings.Replace(good, "client_id: ringmaster\n", "", 1), "client_id"},
		{"bad redirect", strings.Replace(good, "/auth/callback", "/cb", 1), "redirect_url"},
		{"bad role", strings.Replace(good, "role: viewer", "role: god", 1), "rules[1]"},
		{"bad scope", strings.Replace(good, "org:RXX", "everything", 1), "oidc.yaml"},
		{"unknown field", good + "colour: red\n", "colour"},
		{"no rules", "issuer: https://login.example\nclient_id: x\nredirect_url: https://rm.example/auth/callback\n", "rules"},
	} {
		if _, err := server.ParseOIDC("oidc.yaml", []byte(tt.src)); err == nil || !strings.Contains(err.Error(), tt.says) || !strings.Contains(err.Error(), "oidc.yaml") {
			t.Errorf("%s: %v, want an error naming oidc.yaml and %s", tt.name, err, tt.says)
		}
	}
}
