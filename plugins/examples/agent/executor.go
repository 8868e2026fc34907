package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// Version is the executor's own version.
const Version = "0.1.0"

const (
	defaultHTTPSPort      = "8443"
	defaultHTTPPort       = "8080"
	defaultConnectTimeout = 30 * time.Second
	maxEventBytes         = 4 << 20  // one NDJSON line
	maxErrorBody          = 16 << 10 // what is read of a refusal
	ndjson                = "application/x-ndjson"
)

// Executor runs commands on Windows devices through their management
// agent's REST API. It holds no state and is safe for concurrent use.
type Executor struct{}

var _ sdk.Executor = (*Executor)(nil)

// New returns the agent executor.
func New() *Executor { return &Executor{} }

// Info implements sdk.Executor.
func (*Executor) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "agent", Version: Version,
		Capabilities: []string{"probe", "exec", "powershell", "cmd", "stream", "stdin", "https", "bearer"}}, nil
}

// Probe implements sdk.Executor: the SDK's Windows facts script, run
// through the commands endpoint.
func (e *Executor) Probe(ctx context.Context, t sdk.Target) (sdk.ProbeResult, error) {
	return sdk.ProbeWindows(ctx, e, t)
}

// request is the body of POST /v1/commands.
type request struct {
	Shell     string `json:"shell"`
	Script    string `json:"script"`
	Stdin     string `json:"stdin,omitempty"` // base64
	TimeoutMS int64  `json:"timeout_ms,omitempty"`
}

// event is one line of the response stream; which fields are set says
// which event it is.
type event struct {
	Stream     *string `json:"stream"`
	Data       string  `json:"data"`
	ExitCode   *int    `json:"exit_code"`
	DurationMS int64   `json:"duration_ms"`
	TimedOut   bool    `json:"timed_out"`
	Error      *string `json:"error"`
}

// Exec implements sdk.Executor.
func (e *Executor) Exec(ctx context.Context, t sdk.Target, c sdk.Command, out func(sdk.Chunk)) (sdk.Result, error) {
	name := targetName(t)
	res := sdk.Result{ExitCode: -1}
	fail := func(kind sdk.Kind, err error) (sdk.Result, error) {
		return res, &sdk.Error{Kind: kind, Op: "exec", Target: name, Err: scrub(err, t.Password)}
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	endpoint, err := commandsURL(t)
	if err != nil {
		return fail(sdk.Internal, err)
	}
	if t.Password == "" {
		return fail(sdk.AuthFailed, errors.New("no agent token for the target (its password)"))
	}
	if strings.ContainsAny(t.Password, "\r\n\x00") {
		return fail(sdk.AuthFailed, errors.New("the agent token holds a control character"))
	}
	client, err := newClient(t)
	if err != nil {
		return fail(sdk.TLS, err)
	}
	defer client.CloseIdleConnections()

	body, err := commandBody(c)
	if err != nil {
		return fail(sdk.Internal, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return fail(sdk.Internal, fmt.Errorf("building the request: %w", err))
	}
	req.Header.Set("Authorization", "Bearer "+t.Password)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", ndjson)
	req.Header.Set("User-Agent", "ringmaster-executor-agent/"+Version)

	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return fail(classify(ctx, err), fmt.Errorf("POST %s: %w", endpoint, err))
	}
	defer resp.Body.Close()
	if kind, err := refusal(resp); err != nil {
		return fail(kind, err)
	}

	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev event
		if err := json.Unmarshal(line, &ev); err != nil {
			return fail(sdk.Protocol, fmt.Errorf("the agent sent %q, not an event: %w", clip(string(line)), err))
		}
		switch {
		case ev.Stream != nil:
			ch := sdk.Chunk{Data: []byte(ev.Data)}
			switch sdk.Stream(*ev.Stream) {
			case sdk.Stdout:
				ch.Stream = sdk.Stdout
				res.Stdout = append(res.Stdout, ch.Data...)
			case sdk.Stderr:
				ch.Stream = sdk.Stderr
				res.Stderr = append(res.Stderr, ch.Data...)
			default:
				return fail(sdk.Protocol, fmt.Errorf("the agent sent output on an unknown stream %q", clip(*ev.Stream)))
			}
			if out != nil && len(ch.Data) > 0 {
				out(ch)
			}
		case ev.Error != nil:
			return fail(sdk.Internal, fmt.Errorf("the agent could not run the command: %s", clip(*ev.Error)))
		case ev.ExitCode != nil:
			res.ExitCode, res.Duration = *ev.ExitCode, time.Duration(ev.DurationMS)*time.Millisecond
			if ev.DurationMS <= 0 {
				res.Duration = time.Since(start)
			}
			switch {
			case ev.TimedOut:
				return res, &sdk.Error{Kind: sdk.TimedOut, Op: "exec", Target: name,
					Err: fmt.Errorf("the agent stopped the command at its %v timeout", c.Timeout)}
			case res.ExitCode != 0:
				return res, &sdk.Error{Kind: sdk.CommandFailed, Op: "exec", Target: name, ExitCode: res.ExitCode}
			}
			return res, nil
		}
		// Any other object is an event this executor does not know: skipped.
	}
	err = sc.Err()
	switch {
	case ctx.Err() != nil:
		return fail(classify(ctx, ctx.Err()), fmt.Errorf("reading the output: %w", ctx.Err()))
	case errors.Is(err, bufio.ErrTooLong):
		return fail(sdk.Protocol, fmt.Errorf("the agent sent an event longer than %d bytes", maxEventBytes))
	case err != nil:
		return fail(classify(ctx, err), fmt.Errorf("the connection to the agent broke mid-command: %w", err))
	}
	return fail(sdk.Protocol, errors.New("the agent ended the stream without the command's exit code"))
}

// commandBody is the JSON of POST /v1/commands for c.
func commandBody(c sdk.Command) ([]byte, error) {
	r := request{Shell: string(c.Shell), Script: c.Script, TimeoutMS: c.Timeout.Milliseconds()}
	switch c.Shell {
	case "":
		r.Shell = string(sdk.PowerShell)
	case sdk.PowerShell, sdk.Cmd:
	default:
		return nil, fmt.Errorf("shell %q is not supported", c.Shell)
	}
	if c.Timeout > 0 && r.TimeoutMS == 0 {
		r.TimeoutMS = 1 // less than a millisecond: not "none"
	}
	if len(c.Stdin) > 0 {
		r.Stdin = base64.StdEncoding.EncodeToString(c.Stdin)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding the command: %w", err)
	}
	return b, nil
}

// refusal checks the response's status and type before its stream is read,
// and says why it is not a stream, of what kind.
func refusal(resp *http.Response) (sdk.Kind, error) {
	if resp.StatusCode == http.StatusOK {
		ct := resp.Header.Get("Content-Type")
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != ndjson {
			return sdk.Protocol, fmt.Errorf("the agent answered %s with content type %q, not %s", resp.Status, clip(ct), ndjson)
		}
		return "", nil
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		// The body is not read: an agent may echo what it was sent.
		return sdk.AuthFailed, fmt.Errorf("the agent refused the token (%s)", resp.Status)
	case http.StatusBadRequest:
		if msg, ok := agentMessage(resp.Body); ok {
			return sdk.Internal, fmt.Errorf("the agent refused the command (%s): %s", resp.Status, msg)
		}
		return sdk.Protocol, fmt.Errorf("the agent answered %s without an agent error; is it plain HTTP where HTTPS is expected, or the reverse?", resp.Status)
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable:
		return sdk.Unreachable, fmt.Errorf("the agent is not taking commands (%s)", resp.Status)
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return sdk.Protocol, fmt.Errorf("no agent API at %s (%s): check the address and Options[\"base_path\"]", resp.Request.URL.Redacted(), resp.Status)
	}
	return sdk.Protocol, fmt.Errorf("the agent answered %s", resp.Status)
}

// agentMessage reads an API error body, {"error": "..."}.
func agentMessage(body io.Reader) (string, bool) {
	b, err := io.ReadAll(io.LimitReader(body, maxErrorBody))
	if err != nil {
		return "", false
	}
	var e struct {
		Error *string `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error == nil {
		return "", false
	}
	return clip(*e.Error), true
}

// targetName names the device in errors.
func targetName(t sdk.Target) string {
	if t.Hostname != "" {
		return t.Hostname
	}
	return t.Address
}

// commandsURL is the target's POST /v1/commands URL.
func commandsURL(t sdk.Target) (string, error) {
	addr := t.Address
	if addr == "" {
		addr = t.Hostname
	}
	if addr == "" {
		return "", errors.New("the target has neither an address nor a hostname")
	}
	scheme, port := "http", defaultHTTPPort
	if t.HTTPS {
		scheme, port = "https", defaultHTTPSPort
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(strings.Trim(addr, "[]"), port)
	}
	base := strings.TrimRight(t.Options["base_path"], "/")
	if base != "" && (!strings.HasPrefix(base, "/") || strings.ContainsAny(base, "?#% ")) {
		return "", fmt.Errorf("base_path option %q is not an absolute URL path", base)
	}
	return scheme + "://" + addr + base + "/v1/commands", nil
}

// newClient returns an HTTP client for one call to the target: its TLS
// settings, its connect timeout, no proxy, no redirects, no reuse.
func newClient(t sdk.Target) (*http.Client, error) {
	connect := t.ConnectTimeout
	if connect <= 0 {
		connect = defaultConnectTimeout
	}
	tr := &http.Transport{
		DialContext:            (&net.Dialer{Timeout: connect, KeepAlive: 15 * time.Second}).DialContext,
		TLSHandshakeTimeout:    connect,
		ResponseHeaderTimeout:  connect,
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	if t.HTTPS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.TLSServerName,
			InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // only when the target explicitly says so
		if len(t.CACertPEM) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(t.CACertPEM) {
				return nil, errors.New("the target's CA certificates (CACertPEM) hold no PEM certificate")
			}
			cfg.RootCAs = pool
		}
		tr.TLSClientConfig = cfg
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // a redirect is answered as the status it is
	}}, nil
}

// classify maps a failure to reach or read from the agent to a kind.
func classify(ctx context.Context, err error) sdk.Kind {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return sdk.Cancelled
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return sdk.TimedOut
	}
	var (
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		alert    tls.AlertError
		recErr   tls.RecordHeaderError
		netErr   net.Error
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &alert):
		return sdk.TLS
	case errors.As(err, &recErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return sdk.Protocol // TLS spoken to a plain HTTP listener (net/http says so only in words)
	case errors.As(err, &netErr) && netErr.Timeout():
		return sdk.TimedOut
	}
	return sdk.Unreachable // refused, no route, reset, closed mid-stream
}

// scrub keeps the token out of an error's text, whatever produced it.
func scrub(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "[redacted]"))
}

// clip shortens text the agent sent before it goes into an error.
func clip(s string) string {
	const n = 200
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
