package notify_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/smtptest"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/notify"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

var ctx = context.Background()

// clock is a hand-moved wall clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// receiver is a webhook endpoint: it answers each request with the next of
// codes (200 once they run out) and keeps what it received.
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	codes []int
	got   []request
}

type request struct {
	header http.Header
	body   []byte
	code   int
}

func newReceiver(t *testing.T, codes ...int) *receiver {
	r := &receiver{codes: codes}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		code := http.StatusOK
		if len(r.codes) > 0 {
			code, r.codes = r.codes[0], r.codes[1:]
		}
		r.got = append(r.got, request{req.Header.Clone(), body, code})
		r.mu.Unlock()
		if code >= 300 && code < 400 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

func secretFile(t *testing.T, secret string) string {
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func openStore(t *testing.T, path string, now func() time.Time) (*sqlite.DB, *sqlite.Notifications) {
	t.Helper()
	db, err := sqlite.Open(ctx, path, sqlite.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	s, err := db.Notifications(ctx)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db, s
}

var halted = notify.Event{Key: "upgrade/pilot/halted/7", Type: notify.WaveHalted, Time: time.Date(2027, 1, 12, 20, 0, 0, 0, time.UTC),
	Campaign: "upgrade", Wave: "pilot", Orgs: []string{"RAA", "RBB"}, Counts: map[string]int{"devices": 11, "failed": 3},
	Summary: "Campaign upgrade: wave pilot halted: 3 of 11 devices failed, above max_failure_percent 20."}

// TestWebhookSignedRetriedOnceAcrossRestart: a signed JSON webhook fails
// with a 500, the process stops, the same event is emitted again after a
// restart, and the retry after the backoff delivers it: two requests, the
// same delivery key, each signature valid, and nothing sent a third time.
func TestWebhookSignedRetriedOnceAcrossRestart(t *testing.T) {
	rcv := newReceiver(t, http.StatusInternalServerError)
	clk := &clock{t: time.Date(2027, 1, 12, 20, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "r.db")
	secret := "s3cret-for-signing"

	db, store := openStore(t, path, clk.Now)
	sub, err := store.AddSubscription(ctx, notify.Subscription{Channel: notify.Webhook, URL: rcv.URL + "/hook", Format: notify.FormatJSON,
		SecretFile: secretFile(t, secret)})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := notify.New(notify.Config{Store: store, Now: clk.Now, Webhook: &notify.Poster{Now: clk.Now}})
	if err := n.Emit(ctx, halted); err != nil {
		t.Fatal(err)
	}
	if k, err := n.Deliver(ctx); err != nil || k != 1 {
		t.Fatalf("first attempt: %d, %v", k, err)
	}
	db.Close()

	clk.Advance(10 * time.Second)
	db, store = openStore(t, path, clk.Now)
	defer db.Close()
	n, _ = notify.New(notify.Config{Store: store, Now: clk.Now, Webhook: &notify.Poster{Now: clk.Now}})
	if err := n.Emit(ctx, halted); err != nil { // the same event seen again after the restart
		t.Fatal(err)
	}
	if k, _ := n.Deliver(ctx); k != 0 {
		t.Fatalf("a delivery was due before its backoff: %d", k)
	}
	clk.Advance(notify.DefaultBackoff(1))
	if k, err := n.Deliver(ctx); err != nil || k != 1 {
		t.Fatalf("retry: %d, %v", k, err)
	}
	clk.Advance(24 * time.Hour)
	if k, _ := n.Deliver(ctx); k != 0 {
		t.Fatalf("delivered again: %d", k)
	}
	if p, _ := store.Pending(ctx); p[sub.ID] != 0 {
		t.Errorf("pending after delivery: %v", p)
	}
	got := rcv.requests()
	if len(got) != 2 || got[0].code != 500 || got[1].code != 200 {
		t.Fatalf("requests %+v, want a 500 then a 200", got)
	}
	for _, r := range got {
		if r.header.Get(notify.HeaderDelivery) != halted.Key || r.header.Get(notify.HeaderEvent) != "wave_halted" {
			t.Errorf("headers %v", r.header)
		}
		ts, sig := r.header.Get(notify.HeaderTimestamp), r.header.Get(notify.HeaderSignature)
		if err := notify.Verify([]byte(secret), ts, sig, r.body, clk.Now(), 48*time.Hour); err != nil {
			t.Errorf("signature: %v", err)
		}
		if err := notify.Verify([]byte("another"), ts, sig, r.body, clk.Now(), 48*time.Hour); err == nil {
			t.Error("a signature verified with the wrong secret")
		}
		if err := notify.Verify([]byte(secret), ts, sig, append(r.body, ' '), clk.Now(), 48*time.Hour); err == nil {
			t.Error("a changed body verified")
		}
		if err := notify.Verify([]byte(secret), ts, sig, r.body, clk.Now().Add(time.Hour), 5*time.Minute); err == nil {
			t.Error("a replay an hour later verified")
		}
		var e notify.Event
		if err := json.Unmarshal(r.body, &e); err != nil || e.Key != halted.Key || e.Type != notify.WaveHalted ||
			e.Campaign != "upgrade" || e.Wave != "pilot" || e.Counts["failed"] != 3 || len(e.Orgs) != 2 || e.Summary == "" {
			t.Errorf("body %s: %+v, %v", r.body, e, err)
		}
		if strings.Contains(string(r.body), "http") {
			t.Errorf("the summary carries a link: %s", r.body)
		}
	}
}

// TestWebhookTeamsBodyAndNoRedirect: the teams and slack formats post
// {"text": ...} and nothing else; a redirect is not followed, fails the
// attempt and is retried; giving up leaves nothing pending.
func TestWebhookTeamsBodyAndNoRedirect(t *testing.T) {
	rcv := newReceiver(t, http.StatusFound, http.StatusFound)
	clk := &clock{t: time.Date(2027, 1, 12, 20, 0, 0, 0, time.UTC)}
	_, store := openStore(t, filepath.Join(t.TempDir(), "r.db"), clk.Now)
	teams, _ := store.AddSubscription(ctx, notify.Subscription{Org: "RAA", Channel: notify.Webhook, URL: rcv.URL + "/teams?token=abc", Format: notify.FormatTeams})
	slack, _ := store.AddSubscription(ctx, notify.Subscription{Org: "RZZ", Channel: notify.Webhook, URL: rcv.URL + "/slack", Format: notify.FormatSlack})
	n, _ := notify.New(notify.Config{Store: store, Now: clk.Now, MaxAttempts: 2})
	other := halted
	other.Key, other.Orgs = "other", []string{"RZZ"}
	if err := n.Emit(ctx, halted, other); err != nil {
		t.Fatal(err)
	}
	if k, _ := n.Deliver(ctx); k != 2 { // both answer 302
		t.Fatalf("attempted %d", k)
	}
	clk.Advance(time.Hour)
	if k, _ := n.Deliver(ctx); k != 2 {
		t.Fatalf("retried %d", k)
	}
	got := rcv.requests()
	if len(got) != 4 {
		t.Fatalf("%d requests (a redirect followed?)", len(got))
	}
	for _, r := range got {
		var body map[string]any
		if err := json.Unmarshal(r.body, &body); err != nil || len(body) != 1 {
			t.Fatalf("body %s", r.body)
		}
		text, _ := body["text"].(string)
		if !strings.HasPrefix(text, "Ringmaster: ") || !strings.Contains(text, "wave pilot of campaign upgrade halted") {
			t.Errorf("text %q", text)
		}
		if r.header.Get(notify.HeaderSignature) != "" {
			t.Error("signed without a secret")
		}
	}
	if p, _ := store.Pending(ctx); p[teams.ID]+p[slack.ID] != 0 {
		t.Errorf("pending after giving up: %v", p)
	}
	if s := teams.String(); strings.Contains(s, "token") || strings.Contains(s, "/teams") {
		t.Errorf("a subscription shows its URL: %s", s)
	}
}

// TestRouting: an organisation's subscription receives the events of its
// organisation only, a national one every event.
func TestRouting(t *testing.T) {
	rcv := newReceiver(t)
	clk := &clock{t: time.Now()}
	_, store := openStore(t, filepath.Join(t.TempDir(), "r.db"), clk.Now)
	national, _ := store.AddSubscription(ctx, notify.Subscription{Channel: notify.Webhook, URL: rcv.URL})
	raa, _ := store.AddSubscription(ctx, notify.Subscription{Org: "RAA", Channel: notify.Webhook, URL: rcv.URL})
	rcc, _ := store.AddSubscription(ctx, notify.Subscription{Org: "RCC", Channel: notify.Webhook, URL: rcv.URL})
	n, _ := notify.New(notify.Config{Store: store, Now: clk.Now})
	if err := n.Emit(ctx, halted); err != nil {
		t.Fatal(err)
	}
	p, _ := store.Pending(ctx)
	if p[national.ID] != 1 || p[raa.ID] != 1 || p[rcc.ID] != 0 {
		t.Errorf("pending %v: want national and RAA, not RCC", p)
	}
}

// TestEmailOverSTARTTLSWithAuth sends an email through the test server:
// STARTTLS, AUTH PLAIN, the headers and the plain-text body.
func TestEmailOverSTARTTLSWithAuth(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{User: "ringmaster", Password: "mail-pa55"})
	m := &notify.Mailer{TLS: &tls.Config{RootCAs: srv.Roots, MinVersion: tls.VersionTLS12}}
	sub := notify.Subscription{ID: 3, Org: "RAA", Channel: notify.Email, To: "oncall@raa.nhs.uk", From: "ringmaster@nhs.uk", SMTP: srv.Addr,
		Username: "ringmaster", PasswordFile: secretFile(t, "mail-pa55")}
	if err := sub.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := m.Send(ctx, sub, halted); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Wait(1, 5*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	got := msgs[0]
	if !got.TLS || got.User != "ringmaster" || got.From != "ringmaster@nhs.uk" || len(got.To) != 1 || got.To[0] != "oncall@raa.nhs.uk" {
		t.Errorf("envelope %+v", got)
	}
	head, body, ok := strings.Cut(got.Data, "\r\n\r\n")
	if !ok {
		t.Fatalf("no header end in %q", got.Data)
	}
	for _, want := range []string{"From: ringmaster@nhs.uk", "To: oncall@raa.nhs.uk", "Subject: [Ringmaster] wave pilot of campaign upgrade halted",
		"Content-Type: text/plain; charset=utf-8", "MIME-Version: 1.0", "Date: ", "Message-ID: <"} {
		if !strings.Contains(head, want) {
			t.Errorf("headers lack %q:\n%s", want, head)
		}
	}
	for _, want := range []string{halted.Summary, "Campaign: upgrade", "Wave:     pilot", "Organisations: RAA, RBB", "failed:", "Key:      " + halted.Key} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

// TestEmailRefusesPlainText: without STARTTLS the mail is refused unless
// the subscription allows plain text; a wrong password fails.
func TestEmailRefusesPlainText(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{NoTLS: true})
	m := &notify.Mailer{}
	sub := notify.Subscription{Channel: notify.Email, To: "a@b.uk", From: "r@b.uk", SMTP: srv.Addr}
	if err := m.Send(ctx, sub, halted); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("sent without STARTTLS: %v", err)
	}
	sub.AllowPlain = true
	if err := m.Send(ctx, sub, halted); err != nil {
		t.Errorf("allowed plain text: %v", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
	auth := smtptest.Start(t, smtptest.Options{User: "u", Password: "right"})
	m.TLS = &tls.Config{RootCAs: auth.Roots, MinVersion: tls.VersionTLS12}
	sub = notify.Subscription{Channel: notify.Email, To: "a@b.uk", From: "r@b.uk", SMTP: auth.Addr, Username: "u", PasswordFile: secretFile(t, "wrong")}
	err := m.Send(ctx, sub, halted)
	if err == nil || strings.Contains(err.Error(), "wrong") {
		t.Errorf("a wrong password: %v", err)
	}
}

// TestSecretFileRules: a secret file others may read is refused, and no
// error repeats a secret.
func TestSecretFileRules(t *testing.T) {
	rcv := newReceiver(t)
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("visible-secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := (&notify.Poster{}).Send(ctx, notify.Subscription{Channel: notify.Webhook, URL: rcv.URL, SecretFile: path}, halted)
	if err == nil || strings.Contains(err.Error(), "visible-secret") || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("err %v", err)
	}
	if len(rcv.requests()) != 0 {
		t.Error("sent unsigned")
	}
}

func TestValidate(t *testing.T) {
	for _, s := range []notify.Subscription{
		{Channel: notify.Webhook, URL: "ftp://x"},
		{Channel: notify.Webhook, URL: "https://user:pw@x/"},
		{Channel: notify.Webhook, URL: "https://x/", Format: "xml"},
		{Channel: notify.Email, To: "not an address", SMTP: "h:25"},
		{Channel: notify.Email, To: "a@b.uk", SMTP: "h"},
		{Channel: notify.Email, To: "a@b.uk", SMTP: "h:25", Username: "u"},
		{Channel: "pager"},
		{Org: "R A", Channel: notify.Webhook, URL: "https://x/"},
	} {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v valid", s)
		}
	}
}

// cancelling sends successfully, cancelling the context during its first
// send (a stop arriving while a delivery is in flight).
type cancelling struct {
	cancel func()
	sent   []string
}

func (c *cancelling) Send(_ context.Context, s notify.Subscription, _ notify.Event) error {
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
	c.sent = append(c.sent, s.Target())
	return nil
}

// TestStopMidBatch: a send that succeeded while the process was stopping
// is recorded as delivered, not sent again, and the rest of the batch is
// due again at once, not leased for minutes.
func TestStopMidBatch(t *testing.T) {
	clk := &clock{t: time.Date(2027, 1, 12, 20, 0, 0, 0, time.UTC)}
	_, store := openStore(t, filepath.Join(t.TempDir(), "r.db"), clk.Now)
	for _, u := range []string{"https://a.example/", "https://b.example/"} {
		if _, err := store.AddSubscription(ctx, notify.Subscription{Channel: notify.Webhook, URL: u}); err != nil {
			t.Fatal(err)
		}
	}
	stopping, stop := context.WithCancel(ctx)
	send := &cancelling{cancel: stop}
	n, _ := notify.New(notify.Config{Store: store, Now: clk.Now, Webhook: send})
	if err := n.Emit(ctx, halted); err != nil {
		t.Fatal(err)
	}
	if k, err := n.Deliver(stopping); k != 1 || err == nil {
		t.Fatalf("stopped delivery: %d, %v; want 1 made and the context's error", k, err)
	}
	if k, err := n.Deliver(ctx); k != 1 || err != nil { // at once: no lease held
		t.Fatalf("after the stop: %d, %v", k, err)
	}
	if k, _ := n.Deliver(ctx); k != 0 {
		t.Fatalf("delivered again: %d", k)
	}
	if len(send.sent) != 2 || send.sent[0] == send.sent[1] {
		t.Errorf("sent %v, want each subscription once", send.sent)
	}
}

// orgs is an inventory of organisations by code.
type orgs []string

func (o orgs) Organisations(context.Context) ([]inventory.Organisation, error) {
	out := make([]inventory.Organisation, len(o))
	for i, code := range o {
		out[i] = inventory.Organisation{Code: code}
	}
	return out, nil
}

// TestPrepareAndSubscribe: secret files are made absolute and checked,
// settings validated, and an organisation the inventory lacks refused,
// each as a typed error; what passes is stored.
func TestPrepareAndSubscribe(t *testing.T) {
	dir := t.TempDir()
	private, public := filepath.Join(dir, "private"), filepath.Join(dir, "public")
	if err := os.WriteFile(private, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(public, []byte("s3cret"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	store, err := sqlite.Open(ctx, filepath.Join(dir, "n.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	outbox, err := store.Notifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hook := notify.Subscription{Channel: notify.Webhook, URL: "https://hooks.example/x"}
	with := func(f func(*notify.Subscription)) notify.Subscription { s := hook; f(&s); return s }
	for _, tc := range []struct {
		name    string
		s       notify.Subscription
		request bool   // a *RequestError from Prepare
		unknown string // an *UnknownOrgError for this organisation from Subscribe
		secret  string // the secret file stored
	}{
		{name: "national", s: hook},
		{name: "an organisation the inventory has", s: with(func(s *notify.Subscription) { s.Org = "RXX" })},
		{name: "signed, its secret made absolute", s: with(func(s *notify.Subscription) { s.SecretFile = "private" }), secret: private},
		{name: "a secret others may read", s: with(func(s *notify.Subscription) { s.SecretFile = "public" }), request: true},
		{name: "a missing secret", s: with(func(s *notify.Subscription) { s.SecretFile = "nowhere" }), request: true},
		{name: "a missing SMTP password", s: notify.Subscription{Channel: notify.Email, To: "a@b.uk", SMTP: "h:25", PasswordFile: "nowhere"}, request: true},
		{name: "invalid settings", s: with(func(s *notify.Subscription) { s.URL = "ftp://x" }), request: true},
		{name: "an unknown organisation", s: with(func(s *notify.Subscription) { s.Org = "RZZ" }), unknown: "RZZ"},
		{name: "codes as the inventory writes them", s: with(func(s *notify.Subscription) { s.Org = "rxx" }), unknown: "rxx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			err := s.Prepare()
			var bad *notify.RequestError
			if got := errors.As(err, &bad); got != tc.request || (err != nil && !got) {
				t.Fatalf("Prepare: %v, want a request error %v", err, tc.request)
			}
			if tc.request {
				return
			}
			added, err := notify.Subscribe(ctx, outbox, orgs{"RXX", "RYY"}, s)
			var unknown *notify.UnknownOrgError
			if tc.unknown != "" {
				if !errors.As(err, &unknown) || unknown.Org != tc.unknown {
					t.Fatalf("Subscribe: %v, want organisation %s unknown", err, tc.unknown)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := outbox.Subscription(ctx, added.ID)
			if err != nil || got.Org != s.Org || got.SecretFile != tc.secret {
				t.Errorf("stored %+v, %v; want org %q secret %q", got, err, s.Org, tc.secret)
			}
		})
	}
}
