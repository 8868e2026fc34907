package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Headers of a webhook request.
const (
	HeaderSignature = "X-Ringmaster-Signature" // "sha256=" + hex HMAC-SHA256 over timestamp + "." + body
	HeaderTimestamp = "X-Ringmaster-Timestamp" // Unix seconds, inside the signature
	HeaderEvent     = "X-Ringmaster-Event"     // the event's type
	HeaderDelivery  = "X-Ringmaster-Delivery"  // the event's key: the same for a retry
)

// Sign is the signature header's value for a body sent at ts (Unix
// seconds): HMAC-SHA256 with secret over ts, ".", and the body.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a received webhook as a receiver should: the signature
// matches (compared in constant time) and the timestamp is within
// tolerance of now, so a recorded request cannot be replayed later.
func Verify(secret []byte, ts, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook: bad timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("webhook: timestamp too old or in the future")
	}
	if !hmac.Equal([]byte(Sign(secret, ts, body)), []byte(signature)) {
		return errors.New("webhook: signature does not match")
	}
	return nil
}

// Render is a webhook's body for an event in a format.
func Render(e Event, f Format) ([]byte, error) {
	if f == FormatTeams || f == FormatSlack {
		return json.Marshal(struct {
			Text string `json:"text"`
		}{Text: "Ringmaster: " + e.Title() + "\n" + e.Summary})
	}
	return json.Marshal(e)
}

// maxSecret bounds a secret file.
const maxSecret = 4096

// readSecret reads a secret file at send time: a regular file, not
// readable by group or others (on systems where the mode says so), its
// surrounding white space trimmed. Errors name the file, never the content.
func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, secretError(path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, secretError(path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, secretError(path, errors.New("not a regular file"))
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, secretError(path, fmt.Errorf("mode %04o: group or others may read it (chmod 600 %s)", st.Mode().Perm(), path))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecret+1))
	if err != nil {
		return nil, secretError(path, err)
	}
	if len(b) > maxSecret {
		return nil, secretError(path, errors.New("longer than 4 KiB"))
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, secretError(path, errors.New("empty"))
	}
	return b, nil
}

// Sender delivers one event to one subscription.
type Sender interface {
	Send(ctx context.Context, s Subscription, e Event) error
}

// Poster sends webhooks: one POST, signed when the subscription has a
// secret, within Timeout, following no redirect (a 3xx fails the attempt:
// a redirect could carry the signed body elsewhere).
type Poster struct {
	Client  *http.Client  // default: a client with Timeout and no redirects
	Timeout time.Duration // default 10s
	Now     func() time.Time
}

// Send posts the event.
func (p *Poster) Send(ctx context.Context, s Subscription, e Event) error {
	body, err := Render(e, s.Format)
	if err != nil {
		return err
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	client := p.Client
	if client == nil {
		client = &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("webhook: bad URL") // the URL may be a secret: not repeated
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Ringmaster-Notify/1")
	req.Header.Set(HeaderEvent, string(e.Type))
	req.Header.Set(HeaderDelivery, e.Key)
	if s.SecretFile != "" {
		secret, err := readSecret(s.SecretFile)
		if err != nil {
			return err
		}
		now := time.Now
		if p.Now != nil {
			now = p.Now
		}
		ts := strconv.FormatInt(now().Unix(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign(secret, ts, body))
	}
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error repeats the URL, which may hold a token: keep only why.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook to %s: %v", s.Target(), err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // drained for reuse only
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook to %s: %s", s.Target(), resp.Status)
	}
	return nil
}

// Mailer sends emails over SMTP: STARTTLS when the server offers it, and
// required unless the subscription allows plain text; AUTH PLAIN (only
// over TLS, or to localhost) when it names a user; a plain-text body.
type Mailer struct {
	TLS     *tls.Config   // base TLS settings (tests add their CA); ServerName is set per server
	Timeout time.Duration // the whole conversation (default 30s)
	Hello   string        // the EHLO name (default "localhost")
	Now     func() time.Time
}

// Send mails the event.
func (m *Mailer) Send(ctx context.Context, s Subscription, e Event) error {
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	fail := func(err error) error { return fmt.Errorf("email to %s: %w", s.Target(), err) }
	host, _, err := net.SplitHostPort(s.SMTP)
	if err != nil {
		return fail(err)
	}
	var password []byte
	if s.Username != "" {
		if password, err = readSecret(s.PasswordFile); err != nil {
			return fail(err)
		}
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", s.SMTP)
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return fail(err)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	hello := m.Hello
	if hello == "" {
		hello = "localhost"
	}
	if err := c.Hello(hello); err != nil {
		return fail(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if m.TLS != nil {
			cfg = m.TLS.Clone()
		}
		cfg.ServerName = host
		if err := c.StartTLS(cfg); err != nil {
			return fail(fmt.Errorf("STARTTLS: %w", err))
		}
	} else if !s.AllowPlain {
		return fail(errors.New("the server does not offer STARTTLS (allow plain text with --smtp-allow-plain only on a trusted network)"))
	}
	if s.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fail(errors.New("the server offers no AUTH"))
		}
		// PlainAuth itself refuses to send the password without TLS,
		// but to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.Username, string(password), host)); err != nil {
			return fail(fmt.Errorf("AUTH: %w", err))
		}
	}
	if err := c.Mail(s.From); err != nil {
		return fail(err)
	}
	if err := c.Rcpt(s.To); err != nil {
		return fail(err)
	}
	w, err := c.Data()
	if err != nil {
		return fail(err)
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	if _, err := w.Write(Message(s.From, s.To, e, now())); err != nil {
		return fail(err)
	}
	if err := w.Close(); err != nil {
		return fail(err)
	}
	if err := c.Quit(); err != nil {
		return fail(err)
	}
	return nil
}

// Message is the plain-text email of an event, with CRLF line ends.
func Message(from, to string, e Event, now time.Time) []byte {
	clean := func(s string) string { return strings.Map(dropControl, s) }
	var b strings.Builder
	h := func(k, v string) { b.WriteString(k + ": " + clean(v) + "\r\n") }
	h("From", from)
	h("To", to)
	h("Subject", "[Ringmaster] "+e.Title())
	h("Date", now.Format(time.RFC1123Z))
	sum := sha256.Sum256([]byte(e.Key + "\x00" + to))
	h("Message-ID", "<"+hex.EncodeToString(sum[:12])+"@ringmaster>")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "8bit")
	h("X-Ringmaster-Event", string(e.Type))
	b.WriteString("\r\n")
	line := func(s string) { b.WriteString(clean(s) + "\r\n") }
	line(e.Summary)
	line("")
	line("Event:    " + string(e.Type))
	if e.Campaign != "" {
		line("Campaign: " + e.Campaign)
	}
	if e.Wave != "" {
		line("Wave:     " + e.Wave)
	}
	if e.Alert != "" {
		line("Alert:    " + e.Alert)
	}
	if len(e.Orgs) > 0 {
		line("Organisations: " + strings.Join(e.Orgs, ", "))
	}
	keys := make([]string, 0, len(e.Counts))
	for k := range e.Counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		line(fmt.Sprintf("  %-14s %d", k+":", e.Counts[k]))
	}
	line("Time:     " + e.Time.UTC().Format(time.RFC3339))
	line("Key:      " + e.Key)
	return []byte(b.String())
}

func dropControl(r rune) rune {
	if r < 0x20 || r == 0x7f {
		return -1
	}
	return r
}

// CheckSecretFile reports whether a secret file can be used (as sending
// will read it), naming the file only.
func CheckSecretFile(path string) error {
	_, err := readSecret(path)
	return err
}
