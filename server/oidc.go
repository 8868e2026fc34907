package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"gopkg.in/yaml.v3"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/audit"
	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// OIDC configures sign-in for people with OpenID Connect: the provider,
// this server as its client, and the rules that give a signed-in person a
// role and a scope from the claims of their ID token.
type OIDC struct {
	Issuer       string `yaml:"issuer"`
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"-"` // read from ClientSecretFile
	// ClientSecretFile holds the client's secret (mode 0600).
	ClientSecretFile string `yaml:"client_secret_file"`
	// RedirectURL is this server's /auth/callback as the provider knows it.
	RedirectURL string `yaml:"redirect_url"`
	// Subject names the claim that names a person in the audit trail
	// (default email).
	Subject string `yaml:"subject_claim"`
	// Rules are tried in order; the first that matches gives the role and
	// scope. A person no rule matches is refused.
	Rules []ClaimRule `yaml:"rules"`
	// SessionLife is how long a sign-in lasts (default 8h).
	SessionLife time.Duration `yaml:"session_life"`
}

// ClaimRule gives a role and a scope to a person whose ID token's claim
// Claim holds Value (a string equal to it, or a list containing it).
type ClaimRule struct {
	Claim string       `yaml:"claim"`
	Value string       `yaml:"value"`
	Role  access.Role  `yaml:"role"`
	Scope access.Scope `yaml:"scope"`
}

// ParseOIDC reads an OIDC configuration file (YAML; file names it in
// errors) and the client secret it names.
func ParseOIDC(file string, data []byte) (*OIDC, error) {
	var c OIDC
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", file, err, errkind.Invalid)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: "+format+": %w", append([]any{file}, append(args, errkind.Invalid)...)...)
	}
	switch {
	case !strings.HasPrefix(c.Issuer, "https://") && !strings.HasPrefix(c.Issuer, "http://127.0.0.1") && !strings.HasPrefix(c.Issuer, "http://localhost"):
		return nil, bad("issuer %q: want an https:// URL", c.Issuer)
	case c.ClientID == "":
		return nil, bad("client_id: required")
	case c.RedirectURL == "" || !strings.HasSuffix(c.RedirectURL, "/auth/callback"):
		return nil, bad("redirect_url %q: want this server's URL ending in /auth/callback", c.RedirectURL)
	case len(c.Rules) == 0:
		return nil, bad("rules: none: nobody could sign in")
	case c.SessionLife < 0 || c.SessionLife > 7*24*time.Hour:
		return nil, bad("session_life %s: want at most 168h", c.SessionLife)
	}
	for i, r := range c.Rules {
		if r.Claim == "" || r.Value == "" || r.Scope.IsZero() {
			return nil, bad("rules[%d]: claim, value, role and scope are all required", i)
		}
		if _, err := access.ParseRole(string(r.Role)); err != nil {
			return nil, bad("rules[%d]: %v", i, err)
		}
	}
	if c.ClientSecretFile != "" {
		st, err := os.Stat(c.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("%s: client_secret_file: %w", file, err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return nil, bad("client_secret_file %s: mode %o: want 0600 (others can read it)", c.ClientSecretFile, st.Mode().Perm())
		}
		b, err := os.ReadFile(c.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("%s: client_secret_file: %w", file, err)
		}
		c.ClientSecret = strings.TrimSpace(string(b))
	}
	return &c, nil
}

// signIn is OIDC made ready: the provider discovered, the verifier.
type signIn struct {
	cfg      OIDC
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// sessionCookie holds a signed-in person's session token; flowCookie the
// state, nonce and PKCE verifier of a sign-in under way.
const (
	sessionCookie = "ringmaster_session"
	flowCookie    = "ringmaster_signin"
)

// EnableOIDC discovers the provider and serves /auth/login, /auth/callback
// and /auth/logout; ID tokens of the provider are then also taken as
// bearer tokens.
func (s *Server) EnableOIDC(ctx context.Context, c OIDC) error {
	if c.Subject == "" {
		c.Subject = "email"
	}
	if c.SessionLife == 0 {
		c.SessionLife = 8 * time.Hour
	}
	p, err := oidc.NewProvider(ctx, c.Issuer)
	if err != nil {
		return fmt.Errorf("OpenID Connect provider %s: %w", c.Issuer, err)
	}
	s.oidc = &signIn{cfg: c, verifier: p.Verifier(&oidc.Config{ClientID: c.ClientID, Now: s.cfg.Now}),
		oauth: oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: p.Endpoint(), RedirectURL: c.RedirectURL,
			Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}}
	s.mux.HandleFunc("GET /auth/login", s.login)
	s.mux.HandleFunc("GET /auth/callback", s.callback)
	s.mux.HandleFunc("POST /auth/logout", s.logout)
	return nil
}

type flow struct {
	State, Nonce, Verifier string
}

// login sends the browser to the provider (login_hint passed on).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	f := flow{State: randomText(), Nonce: randomText(), Verifier: oauth2.GenerateVerifier()}
	b, _ := json.Marshal(f)
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: base64.RawURLEncoding.EncodeToString(b), Path: "/auth/",
		MaxAge: 600, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	opts := []oauth2.AuthCodeOption{oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)}
	if hint := r.URL.Query().Get("login_hint"); hint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", hint))
	}
	http.Redirect(w, r, s.oidc.oauth.AuthCodeURL(f.State, opts...), http.StatusFound)
}

// callback finishes a sign-in: the state checked against the flow's
// cookie, the code exchanged with its verifier, the ID token verified
// (issuer, audience, expiry, signature, nonce), and the person given a
// session token by the first rule their claims match. Failures count
// against the client's address as failed sign-ins.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	c := &Call{s: s, From: clientAddr(r), RequestID: requestID()}
	fail := func(err error) {
		s.cfg.Limiter.Fail(c.From, s.cfg.Now())
		writeProblem(w, r, c.RequestID, s.problemOf(r, c, err))
	}
	if wait := s.cfg.Limiter.Blocked(c.From, s.cfg.Now()); wait > 0 {
		writeProblem(w, r, c.RequestID, s.problemOf(r, c, &TooManyError{RetryAfter: wait}))
		return
	}
	var f flow
	ck, err := r.Cookie(flowCookie)
	if err == nil {
		var b []byte
		if b, err = base64.RawURLEncoding.DecodeString(ck.Value); err == nil {
			err = json.Unmarshal(b, &f)
		}
	}
	q := r.URL.Query()
	switch {
	case err != nil || f.State == "" || q.Get("state") != f.State:
		fail(fmt.Errorf("sign-in: no sign-in under way from this browser, or its state does not match: start again at /auth/login: %w", errBadCredentials))
		return
	case q.Get("error") != "":
		fail(fmt.Errorf("sign-in: the provider refused: %s: %w", q.Get("error"), errBadCredentials))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: "", Path: "/auth/", MaxAge: -1})
	tok, err := s.oidc.oauth.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		fail(fmt.Errorf("sign-in: exchange the code: %w: %w", err, errBadCredentials))
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	p, err := s.verifyIDToken(r.Context(), raw, f.Nonce)
	if err != nil {
		fail(err)
		return
	}
	secret, t, err := access.Issuer{Tokens: s.cfg.Tokens, Orgs: s.cfg.Inventory, Now: s.cfg.Now}.Issue(r.Context(),
		access.System(access.SignInPrefix+s.oidc.cfg.Issuer), p.Subject, p.Role, p.Scope, s.oidc.cfg.SessionLife, "OpenID Connect sign-in")
	if err != nil {
		writeProblem(w, r, c.RequestID, s.problemOf(r, c, err))
		return
	}
	e := audit.Entry{At: s.cfg.Now().UTC(), Actor: p.Subject, Via: access.ViaOIDC, TokenID: t.ID, From: c.From, Action: "session.create",
		Target: t.ID, Outcome: audit.Done, Detail: fmt.Sprintf("%s over %s", t.Role, t.Scope)}
	if err := s.cfg.Audit.Append(r.Context(), &e); err != nil {
		writeProblem(w, r, c.RequestID, s.problemOf(r, c, err))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", MaxAge: int(s.oidc.cfg.SessionLife.Seconds()), HttpOnly: true,
		Secure: s.secureCookies(r), SameSite: http.SameSiteLaxMode})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(Whoami{Subject: t.Subject, Role: string(t.Role), Scope: t.Scope.String(), Via: access.ViaOIDC, TokenID: t.ID, Orgs: []string{}})
}

// logout ends the session the cookie names.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if id, _, err := access.SplitToken(ck.Value); err == nil {
			if p, err := access.Authenticate(r.Context(), s.cfg.Tokens, ck.Value, s.cfg.Now()); err == nil {
				s.cfg.Tokens.RevokeToken(r.Context(), id, s.cfg.Now())
				e := audit.Entry{At: s.cfg.Now().UTC(), Actor: p.Subject, Via: p.Via, TokenID: id, From: clientAddr(r), Action: "session.end", Target: id, Outcome: audit.Done}
				s.cfg.Audit.Append(r.Context(), &e)
			}
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

// verifyIDToken checks an ID token of the provider (and its nonce, when
// one is expected) and finds the principal its claims give.
func (s *Server) verifyIDToken(ctx context.Context, raw, nonce string) (access.Principal, error) {
	idt, err := s.oidc.verifier.Verify(ctx, raw)
	if err != nil {
		return access.Principal{}, fmt.Errorf("sign-in: the ID token: %w: %w", err, errBadCredentials)
	}
	if nonce != "" && idt.Nonce != nonce {
		return access.Principal{}, fmt.Errorf("sign-in: the ID token's nonce does not match: %w", errBadCredentials)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return access.Principal{}, fmt.Errorf("sign-in: the ID token's claims: %w: %w", err, errBadCredentials)
	}
	subject, _ := claims[s.oidc.cfg.Subject].(string)
	if subject == "" {
		subject = idt.Subject
	}
	for _, rule := range s.oidc.cfg.Rules {
		if claimHas(claims[rule.Claim], rule.Value) {
			return access.Principal{Subject: subject, Role: rule.Role, Scope: rule.Scope, Via: access.ViaOIDC}, nil
		}
	}
	return access.Principal{}, &access.ForbiddenError{Subject: subject, Need: access.Viewer, Has: "no role",
		What: "sign-in: no rule gives " + subject + " a role"}
}

func claimHas(v any, want string) bool {
	switch v := v.(type) {
	case string:
		return v == want
	case []any:
		return slices.ContainsFunc(v, func(x any) bool { s, _ := x.(string); return s == want })
	}
	return false
}

func randomText() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// errNotJWT says a bearer credential is not a JSON Web Token.
var errNotJWT = errors.New("not a JWT")

// idTokenPrincipal takes a bearer credential that is not an API token as
// an ID token of the provider, when sign-in is configured.
func (s *Server) idTokenPrincipal(ctx context.Context, raw string) (access.Principal, error) {
	if s.oidc == nil || strings.Count(raw, ".") != 2 {
		return access.Principal{}, errNotJWT
	}
	return s.verifyIDToken(ctx, raw, "")
}
