package winrm

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
	wr "github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// OptionAllowBasicWithoutTLS is the sdk.Target option ("true") that lets
// Basic authentication send the password where anyone on the path can read
// it: over plain HTTP, or over TLS whose certificate is not verified. It
// exists for lab networks; the CLI sets it only from a flag that says so.
const OptionAllowBasicWithoutTLS = "allow_basic_without_tls"

// maxResponse bounds one WS-Management response. Windows caps an envelope
// at MaxEnvelopeSizekb (500 KB by default; the client asks for 150 KB), so
// anything near this is a host that is not WinRM.
const maxResponse = 16 << 20

// ErrSchemeRefused is wrapped by the error returned when a server asks for
// an authentication scheme other than the one configured: the credentials
// were not sent.
var ErrSchemeRefused = errors.New("authentication scheme refused")

// schemeError says what a server offered when it was not the configured
// scheme. Its text never holds a credential.
type schemeError struct {
	want    string   // the configured scheme
	offered []string // the schemes the server's 401 named
}

func (e *schemeError) Error() string {
	offered := "none"
	if len(e.offered) > 0 {
		offered = strings.Join(e.offered, ", ")
	}
	return fmt.Sprintf("the server asked for %s authentication, not %s: credentials not sent (a host on this address that is not the device, or WinRM configured without %s)", offered, e.want, e.want)
}

func (e *schemeError) Unwrap() error { return ErrSchemeRefused }

// statusError is a non-200 answer, with the start of its body.
type statusError struct {
	code int
	body string
}

// Error keeps the text masterzen/winrm uses ("http error 401: ...") so logs
// read the same as before.
func (e *statusError) Error() string { return fmt.Sprintf("http error %d: %s", e.code, e.body) }

// transport is the HTTP side of one WinRM session: masterzen/winrm's
// Transporter, written here because the library's own transports choose
// the scheme from what the server asks for. Its Basic transport sends the
// password before being asked; its NTLM transport (go-ntlmssp's Negotiator)
// answers a 401 offering Basic with the password in clear. So a host that
// answers on a device's address (a stale DNS record, a reused address, a
// compromised PC) could collect domain passwords across the fleet. This
// transport speaks exactly one scheme, the configured one, and refuses to
// send anything else:
//
//   - ntlm: NTLMv2 inside Negotiate (or NTLM) as MS-WSMV and MS-NLMP
//     describe; the password itself never leaves. A 401 that does not offer
//     Negotiate or NTLM fails with ErrSchemeRefused.
//   - basic: the password in the Authorization header, so only over TLS
//     whose certificate is verified, unless OptionAllowBasicWithoutTLS.
//
// NTLM authenticates a connection, not a request: after the handshake the
// kept-alive connection carries later requests with no header, and a 401 on
// one of them (the connection was replaced) starts a new handshake.
type transport struct {
	scheme   string // "basic" or "ntlm"
	user     string
	password string
	dial     func(network, addr string) (net.Conn, error)

	url    string
	client *http.Client
	// post serialises NTLM requests: NTLM authenticates one connection,
	// and a request sent beside a handshake would take the connection the
	// challenge came on, leaving the handshake's last leg a new one.
	post   sync.Mutex
	mu     sync.Mutex
	authed bool // an NTLM handshake succeeded on the kept-alive connection

	connect time.Duration // the session's connect timeout, for a new one like it
	answers atomic.Int64  // responses received in the current operation
}

// begin starts counting an operation's answers.
func (t *transport) begin() { t.answers.Store(0) }

// answered is how many responses the current operation has received: none
// means the host saw nothing of it that it answered.
func (t *transport) answered() int64 { return t.answers.Load() }

var _ wr.Transporter = (*transport)(nil)

// Transport implements wr.Transporter: it builds the HTTP client for the
// endpoint. No proxy: WinRM goes straight to the device, and a proxy taken
// from the environment would be one more party to hand credentials to.
func (t *transport) Transport(ep *wr.Endpoint) error {
	tc := &tls.Config{
		InsecureSkipVerify: ep.Insecure, //nolint:gosec // only when a target explicitly says so
		ServerName:         ep.TLSServerName,
		MinVersion:         tls.VersionTLS12,
	}
	if len(ep.CACert) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ep.CACert) {
			return errors.New("the CA certificate holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	scheme := "http"
	if ep.HTTPS {
		scheme = "https"
	}
	t.url = scheme + "://" + net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port)) + "/wsman"
	t.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           func(_ context.Context, network, addr string) (net.Conn, error) { return t.dial(network, addr) },
			TLSClientConfig:       tc,
			ResponseHeaderTimeout: ep.Timeout,
			TLSHandshakeTimeout:   ep.Timeout,
			MaxIdleConnsPerHost:   1,
			IdleConnTimeout:       90 * time.Second,
		},
		// A redirect would resend the request, and its credentials, to
		// wherever the answer points.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return nil
}

// Post implements wr.Transporter.
func (t *transport) Post(_ *wr.Client, m *soap.SoapMessage) (string, error) {
	body := []byte(m.String())
	url := t.url
	switch t.scheme {
	case "basic":
		resp, err := t.send(url, body, "Basic "+base64.StdEncoding.EncodeToString([]byte(t.user+":"+t.password)), nil)
		if err != nil {
			return "", err
		}
		return read(resp)
	default:
		return t.postNTLM(url, body)
	}
}

func (t *transport) postNTLM(url string, body []byte) (string, error) {
	t.post.Lock()
	defer t.post.Unlock()
	t.mu.Lock()
	authed := t.authed
	t.mu.Unlock()
	if authed {
		resp, err := t.send(url, body, "", nil)
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusUnauthorized {
			return read(resp)
		}
		offered := challenges(resp)
		drain(resp)
		if !offers(offered, "Negotiate") && !offers(offered, "NTLM") {
			return "", &schemeError{want: "NTLM (Negotiate)", offered: names(offered)}
		}
		t.mu.Lock()
		t.authed = false
		t.mu.Unlock()
	}
	resp, err := t.handshake(url, body)
	if errors.Is(err, errLegsApart) {
		// The challenge's connection closed before the last leg (the
		// server, a proxy or a restarting listener closed it): the server
		// never saw the password, so one more handshake costs no failed
		// logon against the account's lockout.
		resp, err = t.handshake(url, body)
	}
	if err != nil {
		return "", err
	}
	if resp.StatusCode == http.StatusOK {
		t.mu.Lock()
		t.authed = true
		t.mu.Unlock()
	}
	return read(resp)
}

// handshake runs NTLM's three legs on one connection: negotiate, the
// server's challenge, authenticate (carrying the request the second time).
func (t *transport) handshake(url string, body []byte) (*http.Response, error) {
	user, domain, domainNeeded := ntlmssp.GetDomain(t.user)
	negotiate, err := ntlmssp.NewNegotiateMessage(domain, "")
	if err != nil {
		return nil, fmt.Errorf("ntlm: %w", err)
	}
	scheme := "Negotiate"
	var challenged, answered net.Conn // the connections the challenge came on and the last leg went on
	resp, err := t.send(url, body, scheme+" "+base64.StdEncoding.EncodeToString(negotiate), &challenged)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusUnauthorized {
		return resp, nil // not asked to authenticate: the answer stands
	}
	offered := challenges(resp)
	drain(resp)
	token, ok := challengeToken(offered, scheme)
	if !ok && offers(offered, "NTLM") {
		// A server that speaks the older bare NTLM scheme only.
		scheme = "NTLM"
		if resp, err = t.send(url, body, scheme+" "+base64.StdEncoding.EncodeToString(negotiate), &challenged); err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusUnauthorized {
			return resp, nil
		}
		offered = challenges(resp)
		drain(resp)
		token, ok = challengeToken(offered, scheme)
	}
	if !ok {
		if !offers(offered, "Negotiate") && !offers(offered, "NTLM") {
			return nil, &schemeError{want: "NTLM (Negotiate)", offered: names(offered)}
		}
		return nil, &statusError{code: http.StatusUnauthorized, body: "the server sent no NTLM challenge"}
	}
	challenge, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return nil, &statusError{code: http.StatusUnauthorized, body: "the server's NTLM challenge is not base64"}
	}
	authenticate, err := ntlmssp.ProcessChallenge(challenge, user, t.password, domainNeeded)
	if err != nil {
		return nil, &statusError{code: http.StatusUnauthorized, body: "ntlm: " + err.Error()}
	}
	resp, err = t.send(url, body, scheme+" "+base64.StdEncoding.EncodeToString(authenticate), &answered)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && answered != challenged {
		drain(resp)
		return nil, errLegsApart
	}
	return resp, err
}

// errLegsApart is a handshake whose last leg went out on another
// connection than the challenge came on: the server, which keeps the
// challenge per connection, refused it without checking the password.
var errLegsApart = &statusError{code: http.StatusUnauthorized, body: "the NTLM handshake's connection closed between its legs"}

// send posts body; conn, when not nil, is set to the connection it went on.
func (t *transport) send(url string, body []byte, authorization string, conn *net.Conn) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body)) //nolint:noctx // the library's interface carries no context; timeouts bound it
	if err != nil {
		return nil, fmt.Errorf("impossible to create http request %w", err)
	}
	if conn != nil {
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { *conn = i.Conn }}))
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("unknown error %w", err)
	}
	t.answers.Add(1)
	return resp, nil
}

// read returns a 200 answer's SOAP body, or an error for anything else.
func read(resp *http.Response) (string, error) {
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return "", fmt.Errorf("error while reading request body %w", err)
	}
	if len(data) > maxResponse {
		return "", fmt.Errorf("invalid content type: a response over %d bytes", maxResponse)
	}
	if resp.StatusCode != http.StatusOK {
		if !strings.Contains(resp.Header.Get("Content-Type"), "application/soap+xml") {
			data = nil // not a WS-Management fault: do not echo it
		}
		return "", &statusError{code: resp.StatusCode, body: string(data)}
	}
	if !strings.Contains(resp.Header.Get("Content-Type"), "application/soap+xml") {
		return "", errors.New("invalid content type")
	}
	return string(data), nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// challenges returns the WWW-Authenticate values of an answer.
func challenges(resp *http.Response) []string { return resp.Header.Values("WWW-Authenticate") }

// offers reports whether one of the challenges is for scheme.
func offers(challenges []string, scheme string) bool {
	for _, c := range challenges {
		if name, _, _ := strings.Cut(strings.TrimSpace(c), " "); strings.EqualFold(name, scheme) {
			return true
		}
	}
	return false
}

// challengeToken returns the data of the challenge for scheme.
func challengeToken(challenges []string, scheme string) (string, bool) {
	for _, c := range challenges {
		name, token, _ := strings.Cut(strings.TrimSpace(c), " ")
		if strings.EqualFold(name, scheme) && strings.TrimSpace(token) != "" {
			return strings.TrimSpace(token), true
		}
	}
	return "", false
}

// names returns the scheme names of challenges, for an error.
func names(challenges []string) []string {
	var out []string
	for _, c := range challenges {
		name, _, _ := strings.Cut(strings.TrimSpace(c), " ")
		if name != "" && len(name) <= 32 {
			out = append(out, fmt.Sprintf("%q", name))
		}
	}
	return out
}
