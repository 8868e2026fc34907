package server_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/access"
)

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so a test sees each one.
func (f *fixture) browser() *http.Client {
	f.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get fetches path with c, returning the status, body and headers.
func (f *fixture) get(c *http.Client, path string) (int, string, http.Header) {
	f.t.Helper()
	res, err := c.Get(f.http.URL + path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return res.StatusCode, string(b), res.Header
}

// signIn signs c in with an API token through the sign-in form.
func (f *fixture) signIn(c *http.Client, token, next string) (int, string, http.Header) {
	f.t.Helper()
	res, err := c.PostForm(f.http.URL+"/ui/signin", url.Values{"token": {token}, "next": {next}})
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

// TestDashboardSignIn: a browser without a session is sent to sign in and
// back to where it was going, never to another site; a wrong token is
// refused on the form and counted by the limiter; sign-in and sign-out
// are in the audit trail, and signing out ends the session.
func TestDashboardSignIn(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	code, _, h := f.get(b, "/ui/orgs/RA")
	if code != http.StatusSeeOther || h.Get("Location") != "/ui/signin?next=%2Fui%2Forgs%2FRA" {
		t.Fatalf("without a session: %d to %q, want 303 to the sign-in", code, h.Get("Location"))
	}
	code, body, _ := f.get(b, "/ui/signin?next=%2Fui%2Forgs%2FRA")
	if code != http.StatusOK || !strings.Contains(body, `name="next" value="/ui/orgs/RA"`) || !strings.Contains(body, `<label for="token">`) {
		t.Fatalf("the sign-in page: %d\n%s", code, body)
	}
	code, body, _ = f.signIn(b, "rm_nosuch.secret", "/ui/orgs/RA")
	if code != http.StatusUnauthorized || !strings.Contains(body, "That token is not valid") {
		t.Fatalf("a wrong token: %d\n%s", code, body)
	}
	tok := f.token("ra-viewer", access.Viewer, "org:RA")
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/api/v1/whoami", "/ui/\\evil"} {
		code, _, h = f.signIn(b, tok, next)
		if code != http.StatusSeeOther || h.Get("Location") != "/ui/" {
			t.Errorf("next %q: %d to %q, want 303 to /ui/", next, code, h.Get("Location"))
		}
	}
	code, _, h = f.signIn(b, tok, "/ui/orgs/RA")
	if code != http.StatusSeeOther || h.Get("Location") != "/ui/orgs/RA" {
		t.Fatalf("sign-in: %d to %q", code, h.Get("Location"))
	}
	if e := f.lastAudit(); e.Action != "session.create" || e.Actor != "ra-viewer" {
		t.Errorf("the trail's last entry is %+v, want the sign-in", e)
	}
	if code, body, _ := f.get(b, "/ui/orgs/RA"); code != http.StatusOK || !strings.Contains(body, "Alpha Hospitals NHS Trust") {
		t.Fatalf("signed in: %d\n%s", code, body)
	}
	// The cookie holds a session token of its own, never the API token.
	u, _ := url.Parse(f.http.URL)
	for _, ck := range b.Jar.Cookies(u) {
		if strings.Contains(ck.Value, tok) || strings.Contains(tok, ck.Value) {
			t.Errorf("the session cookie %s holds the API token", ck.Name)
		}
	}
	// The session cookie works on the API too (EventSource and the
	// buttons' calls), and a change with it from another site is refused.
	req, _ := http.NewRequest("POST", f.http.URL+"/api/v1/campaigns/ra-only/start", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site change with the session: %d, want 403", res.StatusCode)
	}
	res, err = b.PostForm(f.http.URL+"/ui/signout", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if e := f.lastAudit(); e.Action != "session.end" || e.Actor != "ra-viewer" {
		t.Errorf("the trail's last entry is %+v, want the sign-out", e)
	}
	if code, _, _ := f.get(b, "/ui/orgs/RA"); code != http.StatusSeeOther {
		t.Errorf("after signing out: %d, want 303 to the sign-in", code)
	}
	// An API token signed in and out stays valid: signing out of the
	// dashboard is not revoking the token.
	if code, _, _ := f.do("GET", "/api/v1/whoami", tok, ""); code != http.StatusOK {
		t.Errorf("the token after signing out: %d", code)
	}
	// A session ends with its API token: revoked, the browser is asked
	// to sign in again.
	b = f.browser()
	if code, _, _ := f.signIn(b, tok, "/ui/"); code != http.StatusSeeOther {
		t.Fatalf("sign in again: %d", code)
	}
	admin := f.token("admin", access.Admin, "estate")
	id, _, _ := access.SplitToken(tok)
	if code, body, _ := f.do("DELETE", "/api/v1/tokens/"+id, admin, ""); code != http.StatusOK {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if code, _, h := f.get(b, "/ui/orgs/RA"); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/ui/signin") {
		t.Errorf("after its API token was revoked, the session gets %d to %q, want the sign-in", code, h.Get("Location"))
	}
}

// TestDashboardScopes runs every page as a viewer of the estate, of a
// region and of one organisation (and the audit page as an admin): each
// sees what its scope covers and not one name, hostname or code of the
// organisations outside it; every page has the security headers and the
// figures' age.
func TestDashboardScopes(t *testing.T) {
	f := newFixture(t)
	pages := []struct {
		path string
		want [3]int // estate, region:north, org:RA
		has  string
	}{
		{"/ui/", [3]int{200, 200, 200}, "Alpha Hospitals NHS Trust"},
		{"/ui/?sort=alert:HSA-1&q=alpha", [3]int{200, 200, 200}, "Alpha Hospitals NHS Trust"},
		{"/ui/?sort=nonsense", [3]int{400, 400, 400}, "query parameter sort"},
		{"/ui/?q=zzz", [3]int{200, 200, 200}, "No organisation matches."},
		{"/ui/orgs/RA", [3]int{200, 200, 200}, "ra-main"},
		{"/ui/orgs/RA?forecast", [3]int{200, 200, 200}, "Forecast finish of campaign <a href=\"/ui/campaigns/national\">national</a>"},
		{"/ui/orgs/RB", [3]int{200, 200, 404}, "rb-main"},
		{"/ui/orgs/RC", [3]int{200, 404, 404}, "rc-main"},
		{"/ui/campaigns", [3]int{200, 200, 200}, "national"},
		{"/ui/campaigns/national", [3]int{200, 200, 200}, "pilot"},
		{"/ui/campaigns/ra-only", [3]int{200, 200, 200}, "ra-only"},
		{"/ui/alerts/HSA-1", [3]int{200, 200, 200}, "ra-01.nhs.uk"},
		{"/ui/alerts/HSA-9", [3]int{404, 404, 404}, "HSA-9"},
		{"/ui/devices/ra-01.nhs.uk", [3]int{200, 200, 200}, "national"},
		{"/ui/devices/rc-01.nhs.uk", [3]int{200, 404, 404}, "rc-main"},
		{"/ui/audit", [3]int{403, 403, 403}, ""},
	}
	scopes := []string{"estate", "region:north", "org:RA"}
	// What each scope must never see: the others' names and hostnames.
	hidden := [3][]string{nil, {"Charlie Care Partnership", "rc-0", "rc-main"}, {"Charlie Care Partnership", "Bravo Community Trust", "rc-0", "rb-0", "rc-main", "rb-main"}}
	for i, scope := range scopes {
		b := f.browser()
		if code, _, _ := f.signIn(b, f.token("viewer-"+scope, access.Viewer, scope), "/ui/"); code != http.StatusSeeOther {
			t.Fatalf("%s: sign-in %d", scope, code)
		}
		for _, p := range pages {
			code, body, h := f.get(b, p.path)
			if code != p.want[i] {
				t.Errorf("%s %s: %d, want %d\n%s", scope, p.path, code, p.want[i], body)
				continue
			}
			if h.Get("Content-Security-Policy") == "" || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
				t.Errorf("%s %s: headers %v", scope, p.path, h)
			}
			if code == http.StatusOK && !strings.Contains(body, p.has) {
				t.Errorf("%s %s: no %q in\n%s", scope, p.path, p.has, body)
			}
			for _, name := range hidden[i] {
				// A page not found may repeat what was asked for.
				if strings.Contains(body, name) && !strings.Contains(p.path, name) {
					t.Errorf("%s %s: shows %q, outside its scope", scope, p.path, name)
				}
			}
			if code == http.StatusOK && p.path == "/ui/" && !strings.Contains(body, "Figures computed") {
				t.Errorf("%s %s: the figures' age is not said", scope, p.path)
			}
		}
	}
	admin := f.browser()
	f.signIn(admin, f.token("admin", access.Admin, "estate"), "/ui/")
	if code, body, _ := f.get(admin, "/ui/audit?actor=viewer-org:RA"); code != http.StatusOK || !strings.Contains(body, "session.create") {
		t.Errorf("the audit page as an admin: %d\n%s", code, body)
	}
	if code, _, _ := f.get(admin, "/ui/audit?days=0"); code != http.StatusBadRequest {
		t.Errorf("audit days=0: %d, want 400", code)
	}
	// The assets are served, and nothing else under them.
	for path, want := range map[string]int{"/ui/static/app.js": 200, "/ui/static/app.css": 200, "/ui/static/charts.css": 200, "/ui/static/nope.js": 404} {
		if code, _, _ := f.get(admin, path); code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
}
