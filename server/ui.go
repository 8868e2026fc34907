package server

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/audit"
	"github.com/ringmaster-fleet/ringmaster/report"
	rhtml "github.com/ringmaster-fleet/ringmaster/report/html"
)

// The dashboard: server-rendered pages under UIPath for people in a
// browser, on the API's authentication, roles and scopes. A page reads
// through the application layer's In methods as an operation does; its
// buttons call the API's operations themselves (ui/static/app.js), so an
// action from the dashboard is checked and audited exactly as one from
// any other client. Every asset is embedded; the pages load nothing from
// elsewhere (the Content-Security-Policy says so).

// UIPath is where the dashboard is served.
const UIPath = "/ui"

//go:embed ui
var uiFiles embed.FS

// uiPages are the dashboard's templates: layout.tmpl, and a template per
// page named for it.
var uiPages = template.Must(template.New("ui").Funcs(uiFuncs()).ParseFS(uiFiles, "ui/*.tmpl"))

// uiCSP allows the pages only their own scripts, styles and the event
// stream of their own origin.
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// view is a page to render: its template, title and data, and who looks.
type view struct {
	Template string
	Title    string
	Data     any
	// AsOf, when not zero, is when the page's figures were computed:
	// the layout says their age.
	AsOf time.Time

	Who    access.Principal
	Now    time.Time
	Nav    string
	SignIn bool // the sign-in page: no navigation
	OIDC   bool
}

// Can says whether the viewer holds role (a page shows the buttons the
// viewer's role allows).
func (v view) Can(role string) bool {
	r, err := access.ParseRole(role)
	return err == nil && v.Who.Role.Has(r)
}

// Age is how old the page's figures are, in words.
func (v view) Age() string { return report.Ago(v.Now, v.AsOf) }

// uiHandler is a page: it reads as c and says what to render.
type uiHandler func(ctx context.Context, c *Call, r *http.Request) (view, error)

// uiRoutes registers the dashboard's pages, its assets and its sign-in.
func (s *Server) uiRoutes() {
	static, _ := fs.Sub(uiFiles, "ui/static")
	files := http.StripPrefix(UIPath+"/static/", http.FileServerFS(static))
	s.mux.Handle("GET "+UIPath+"/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		if r.URL.Path == UIPath+"/static/charts.css" {
			w.Header().Set("Content-Type", "text/css; charset=utf-8")
			w.Write([]byte(rhtml.ChartCSS))
			return
		}
		files.ServeHTTP(w, r)
	}))
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, UIPath+"/", http.StatusFound)
	})
	s.mux.HandleFunc("GET "+UIPath, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, UIPath+"/", http.StatusFound)
	})
	s.mux.HandleFunc("GET "+UIPath+"/signin", s.signInPage)
	s.mux.HandleFunc("POST "+UIPath+"/signin", s.signInToken)
	s.mux.HandleFunc("POST "+UIPath+"/signout", s.signOut)
	s.page("overview", "GET "+UIPath+"/{$}", access.Viewer, s.overviewPage)
	s.page("org", "GET "+UIPath+"/orgs/{code}", access.Viewer, s.orgPage)
	s.page("campaigns", "GET "+UIPath+"/campaigns", access.Viewer, s.campaignsPage)
	s.page("campaign", "GET "+UIPath+"/campaigns/{name}", access.Viewer, s.campaignPage)
	s.page("alert", "GET "+UIPath+"/alerts/{id}", access.Viewer, s.alertPage)
	s.page("device", "GET "+UIPath+"/devices/{hostname}", access.Viewer, s.devicePage)
	s.page("audit", "GET "+UIPath+"/audit", access.Admin, s.auditPage)
}

// page registers a dashboard page: authentication (a browser without a
// session is sent to sign in), the role, the page's metrics, and errors
// as a page saying what went wrong.
func (s *Server) page(id, pattern string, role access.Role, h uiHandler) {
	s.mux.Handle(pattern, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &statusWriter{ResponseWriter: rw, code: http.StatusOK}
		if s.cfg.Metrics != nil {
			start := time.Now()
			defer func() { s.cfg.Metrics.Request("ui-"+id, w.code, time.Since(start)) }()
		}
		ctx := r.Context()
		c := &Call{s: s, From: clientAddr(r), RequestID: requestID()}
		w.Header().Set("X-Request-Id", c.RequestID)
		p, err := s.authenticate(ctx, r, c.From)
		if errors.Is(err, errUnauthenticated) || errors.Is(err, errBadCredentials) {
			if errors.Is(err, errBadCredentials) {
				clearSession(w)
			}
			http.Redirect(w, r, UIPath+"/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if err == nil {
			c.Principal = p
			err = p.Require(role, "the "+id+" page")
		}
		var v view
		if err == nil {
			v, err = h(ctx, c, r)
		}
		status := http.StatusOK
		if err != nil {
			pr := s.problemOf(r, c, err)
			status, v = pr.Status, view{Template: "error", Title: pr.Title, Data: pr}
		}
		v.Who, v.Now, v.Nav, v.OIDC = c.Principal, s.cfg.Wall(), id, s.oidc != nil
		s.render(w, r, status, v)
	}))
}

// render writes v in the layout. Pages are rendered into a buffer first,
// so a template's failure is an error page rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, v view) {
	var b bytes.Buffer
	if err := uiPages.ExecuteTemplate(&b, v.Template, v); err != nil {
		s.cfg.Log.Error("dashboard: render", "page", v.Template, "path", r.URL.Path, "err", err)
		http.Error(w, "the page could not be drawn; the server's log says why", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	if !v.AsOf.IsZero() {
		// How old the page's figures are (RFC 9111), as the API's
		// cached reports say.
		h.Set("Age", strconv.Itoa(max(0, int(v.Now.Sub(v.AsOf).Seconds()))))
	}
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// signInPage offers the ways in: an API token pasted, or the OpenID
// Connect provider when one is configured.
func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, view{Template: "signin", Title: "Sign in", SignIn: true, OIDC: s.oidc != nil, Now: s.cfg.Wall(),
		Data: signInData{Next: safeNext(r.URL.Query().Get("next"))}})
}

type signInData struct {
	Next  string
	Error string
}

// signInToken signs a browser in with an API token: the token is checked
// as a bearer token is (failures count against the address), and the
// browser is given a session token of its own, with the same role and
// scope, for at most sessionLife and never past the API token's life, in
// an HttpOnly cookie. The API token itself never goes into the cookie; the
// session ends when the browser signs out or the API token is revoked.
func (s *Server) signInToken(w http.ResponseWriter, r *http.Request) {
	from := clientAddr(r)
	if err := s.csrf.Check(r); err != nil {
		http.Error(w, "a sign-in from another site is refused", http.StatusForbidden)
		return
	}
	next := safeNext(r.PostFormValue("next"))
	fail := func(status int, msg string) {
		s.render(w, r, status, view{Template: "signin", Title: "Sign in", SignIn: true, OIDC: s.oidc != nil, Now: s.cfg.Wall(),
			Data: signInData{Next: next, Error: msg}})
	}
	if wait := s.cfg.Limiter.Blocked(from, s.cfg.Now()); wait > 0 {
		fail(http.StatusTooManyRequests, (&TooManyError{RetryAfter: wait}).Error())
		return
	}
	p, err := access.Authenticate(r.Context(), s.cfg.Tokens, strings.TrimSpace(r.PostFormValue("token")), s.cfg.Now())
	if err != nil {
		s.cfg.Limiter.Fail(from, s.cfg.Now())
		s.cfg.Log.Info("refused a sign-in", "from", from) // never the token
		if errors.Is(err, access.ErrBadToken) {
			fail(http.StatusUnauthorized, "That token is not valid: it may be mistyped, expired or revoked.")
			return
		}
		fail(http.StatusInternalServerError, "The sign-in could not be checked: "+err.Error())
		return
	}
	parent, err := s.cfg.Tokens.Token(r.Context(), p.TokenID)
	if err != nil || parent.Session() {
		// A session's own token does not open another session.
		fail(http.StatusUnauthorized, "That token is not valid: it may be mistyped, expired or revoked.")
		return
	}
	life := min(sessionLife, parent.ExpiresAt.Sub(s.cfg.Now()))
	by := p
	by.Subject = access.SessionPrefix + p.TokenID
	secret, t, err := s.issuer().Issue(r.Context(), by, p.Subject, p.Role, p.Scope, life, "dashboard sign-in with API token "+p.TokenID)
	if err != nil {
		fail(http.StatusInternalServerError, "The sign-in could not be made: "+err.Error())
		return
	}
	e := audit.Entry{At: s.cfg.Now().UTC(), Actor: p.Subject, Via: p.Via, TokenID: p.TokenID, From: from, Action: "session.create",
		Target: t.ID, Outcome: audit.Done, Detail: fmt.Sprintf("dashboard sign-in with API token %s: %s over %s", p.TokenID, p.Role, p.Scope)}
	if err := s.cfg.Audit.Append(r.Context(), &e); err != nil {
		s.cfg.Tokens.RevokeToken(r.Context(), t.ID, s.cfg.Now())
		fail(http.StatusInternalServerError, "The sign-in could not be recorded in the audit trail: "+err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", MaxAge: int(life.Seconds()), HttpOnly: true,
		Secure: s.secureCookies(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// sessionLife bounds a dashboard session made with an API token.
const sessionLife = 12 * time.Hour

// secureCookies says whether the session cookie is sent over HTTPS only:
// always, unless this request came in plain HTTP to a loopback address
// (a proxy terminating TLS on the same host says so with
// X-Forwarded-Proto).
func (s *Server) secureCookies(r *http.Request) bool {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return true
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	ip := net.ParseIP(host)
	return host != "localhost" && (ip == nil || !ip.IsLoopback())
}

// signOut forgets the browser's session and revokes its session token
// (the API token it was made with stays valid).
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if err := s.csrf.Check(r); err != nil {
		http.Error(w, "a sign-out from another site is refused", http.StatusForbidden)
		return
	}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if p, err := access.Authenticate(r.Context(), s.cfg.Tokens, ck.Value, s.cfg.Now()); err == nil {
			if t, err := s.cfg.Tokens.Token(r.Context(), p.TokenID); err == nil && t.Session() {
				s.cfg.Tokens.RevokeToken(r.Context(), p.TokenID, s.cfg.Now())
			}
			e := audit.Entry{At: s.cfg.Now().UTC(), Actor: p.Subject, Via: p.Via, TokenID: p.TokenID, From: clientAddr(r), Action: "session.end", Target: p.TokenID, Outcome: audit.Done}
			s.cfg.Audit.Append(r.Context(), &e)
		}
	}
	clearSession(w)
	http.Redirect(w, r, UIPath+"/signin", http.StatusSeeOther)
}

func clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1})
}

// safeNext keeps a page to return to after signing in only when it is one
// of the dashboard's own: never another site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, UIPath+"/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return UIPath + "/"
	}
	return next
}

func uiFuncs() template.FuncMap {
	f := template.FuncMap{}
	for k, v := range rhtml.Funcs() {
		f[k] = v
	}
	f["ago"] = report.Ago
	f["when"] = func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	f["whenp"] = func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	}
	f["path"] = url.PathEscape
	f["add"] = func(a, b int) int { return a + b }
	f["query"] = url.QueryEscape
	return f
}
