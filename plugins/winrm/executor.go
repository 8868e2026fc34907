package winrm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	wr "github.com/masterzen/winrm"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// Version is the executor's version.
const Version = "0.1.0"

// Default WinRM ports.
const (
	HTTPPort  = 5985
	HTTPSPort = 5986
)

// Options tune the executor.
type Options struct {
	// MaxConcurrent bounds the operations (and so connections) in flight
	// across all targets (default 256).
	MaxConcurrent int
	// ConnectTimeout is the default for targets that set none (default 30 s).
	ConnectTimeout time.Duration
	Logger         *slog.Logger
}

// Executor is the WinRM sdk.Executor. It is safe for concurrent use.
type Executor struct {
	sem       chan struct{}
	connect   time.Duration
	log       *slog.Logger
	warnBasic sync.Once
}

var _ sdk.Executor = (*Executor)(nil)

// New returns a WinRM executor.
func New(o Options) *Executor {
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 256
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Executor{sem: make(chan struct{}, o.MaxConcurrent), connect: o.ConnectTimeout, log: o.Logger}
}

// Info implements sdk.Executor.
func (e *Executor) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "winrm", Version: Version, Capabilities: []string{"probe", "exec", "powershell", "cmd", "stream", "basic", "ntlm", "https"}}, nil
}

// newTransport checks the target's authentication settings and returns the
// transport that will speak them. The scheme defaults to NTLM: a target
// that names none never sends a password in clear.
func newTransport(t sdk.Target, dial func(network, addr string) (net.Conn, error)) (*transport, error) {
	tr := &transport{user: t.Username, password: t.Password, dial: dial}
	switch strings.ToLower(t.Auth) {
	case "", "ntlm", "negotiate":
		tr.scheme = "ntlm"
	case "basic":
		tr.scheme = "basic"
		forced := strings.EqualFold(t.Options[OptionAllowBasicWithoutTLS], "true")
		switch {
		case !t.HTTPS && !forced:
			return nil, fmt.Errorf("basic authentication over plain HTTP would send the password in clear: use HTTPS, NTLM, or set %s to accept that", OptionAllowBasicWithoutTLS)
		case t.InsecureSkipVerify && !forced:
			return nil, fmt.Errorf("basic authentication over TLS whose certificate is not verified would hand the password to whoever answers: verify the certificate, use NTLM, or set %s to accept that", OptionAllowBasicWithoutTLS)
		}
	default:
		return nil, fmt.Errorf("authentication %q is not supported (want basic or ntlm)", t.Auth)
	}
	return tr, nil
}

// session is one operation's client and the connections it opened, all
// closed when the operation ends: nothing is shared between operations.
type session struct {
	client *wr.Client
	mu     sync.Mutex
	conns  []net.Conn
	target string
}

func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

func (e *Executor) open(ctx context.Context, t sdk.Target, op string) (*session, error) {
	host, port, err := hostPort(t)
	if err != nil {
		return nil, &sdk.Error{Kind: sdk.Internal, Op: op, Target: t.Hostname, Err: err}
	}
	connect := t.ConnectTimeout
	if connect <= 0 {
		connect = e.connect
	}
	s := &session{target: t.Hostname}
	if s.target == "" {
		s.target = net.JoinHostPort(host, strconv.Itoa(port))
	}
	ep := wr.NewEndpoint(host, port, t.HTTPS, t.InsecureSkipVerify, t.CACertPEM, nil, nil, connect)
	ep.TLSServerName = t.TLSServerName
	if ep.TLSServerName == "" && t.HTTPS && t.Hostname != "" && net.ParseIP(host) != nil {
		ep.TLSServerName = t.Hostname // connecting by address, verifying the name
	}
	params := *wr.DefaultParameters // a copy: DefaultParameters is a shared pointer
	// Receive long-polls for at most this long, and masterzen checks the
	// context between polls: it bounds how long a cancel takes to act.
	params.Timeout = "PT5S"
	params.Dial = func(network, addr string) (net.Conn, error) {
		// Not the caller's context: after a cancel the library still has to
		// signal the command and delete the shell, or the shell leaks on a
		// host that allows only 30 per user.
		d := net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
		c, err := d.Dial(network, addr)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		return c, nil
	}
	tr, err := newTransport(t, params.Dial)
	if err != nil {
		return nil, &sdk.Error{Kind: sdk.Internal, Op: op, Target: s.target, Err: err}
	}
	if tr.scheme == "basic" && (!t.HTTPS || t.InsecureSkipVerify) {
		e.warnBasic.Do(func() {
			e.log.Warn("sending passwords with Basic authentication where anyone on the path can read them (allow_basic_without_tls is set)", "first_target", s.target)
		})
	}
	params.TransportDecorator = func() wr.Transporter { return tr }
	c, err := wr.NewClientWithParameters(ep, t.Username, t.Password, &params)
	if err != nil {
		return nil, &sdk.Error{Kind: classify(ctx, err), Op: op, Target: s.target, Err: scrub(err, t.Password)}
	}
	s.client = c
	return s, nil
}

func hostPort(t sdk.Target) (string, int, error) {
	addr := t.Address
	if addr == "" {
		addr = t.Hostname
	}
	if addr == "" {
		return "", 0, errors.New("target has neither an address nor a hostname")
	}
	port := HTTPPort
	if t.HTTPS {
		port = HTTPSPort
	}
	host := addr
	if h, p, err := net.SplitHostPort(addr); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", 0, fmt.Errorf("address %q: bad port", addr)
		}
		host, port = h, n
	}
	return host, port, nil
}

func (e *Executor) acquire(ctx context.Context) error {
	select {
	case e.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Executor) release() { <-e.sem }

// streamWriter passes output on as chunks and keeps it.
type streamWriter struct {
	stream sdk.Stream
	buf    []byte
	out    func(sdk.Chunk)
	mu     *sync.Mutex
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if w.out != nil && len(p) > 0 {
		w.out(sdk.Chunk{Stream: w.stream, Data: append([]byte(nil), p...)})
	}
	return len(p), nil
}

// Exec implements sdk.Executor.
func (e *Executor) Exec(ctx context.Context, t sdk.Target, c sdk.Command, out func(sdk.Chunk)) (sdk.Result, error) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	if err := e.acquire(ctx); err != nil {
		return sdk.Result{}, &sdk.Error{Kind: classify(ctx, err), Op: "exec", Target: t.Hostname, Err: err}
	}
	defer e.release()
	s, err := e.open(ctx, t, "exec")
	if err != nil {
		return sdk.Result{}, err
	}
	defer s.close()

	line := c.Script
	switch c.Shell {
	case sdk.PowerShell, "":
		line = wr.Powershell(c.Script)
	case sdk.Cmd:
	default:
		return sdk.Result{}, sdk.Errorf(sdk.Internal, "exec", s.target, "shell %q is not supported (want powershell or cmd)", c.Shell)
	}
	var mu sync.Mutex
	stdout := &streamWriter{stream: sdk.Stdout, out: out, mu: &mu}
	stderr := &streamWriter{stream: sdk.Stderr, out: out, mu: &mu}
	var stdin io.Reader
	if len(c.Stdin) > 0 {
		stdin = strings.NewReader(string(c.Stdin))
	}
	start := time.Now()
	code, err := s.client.RunWithContextWithInput(ctx, line, stdout, stderr, stdin)
	res := sdk.Result{Stdout: stdout.buf, Stderr: stderr.buf, ExitCode: code, Duration: time.Since(start)}
	if ctx.Err() != nil {
		// A cancelled command comes back with exit code 0 and an error: the
		// context says what happened, not the exit code.
		res.ExitCode = -1
		return res, &sdk.Error{Kind: classify(ctx, ctx.Err()), Op: "exec", Target: s.target, Err: ctx.Err()}
	}
	if err != nil {
		res.ExitCode = -1
		return res, &sdk.Error{Kind: classify(ctx, err), Op: "exec", Target: s.target, Err: scrub(err, t.Password)}
	}
	if code != 0 {
		return res, &sdk.Error{Kind: sdk.CommandFailed, Op: "exec", Target: s.target, ExitCode: code}
	}
	return res, nil
}

// classify maps what masterzen/winrm and net/http return to an error kind.
func classify(ctx context.Context, err error) sdk.Kind {
	if errors.Is(ctx.Err(), context.Canceled) || errors.Is(err, context.Canceled) {
		return sdk.Cancelled
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return sdk.TimedOut
	}
	var (
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		recErr   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid):
		return sdk.TLS
	case errors.As(err, &recErr):
		return sdk.Protocol // TLS spoken to a plain HTTP listener, or the reverse
	}
	var status *statusError
	switch {
	case errors.Is(err, ErrSchemeRefused):
		return sdk.AuthFailed // credentials withheld from a server that asked for another scheme
	case errors.As(err, &status) && status.code == 401:
		return sdk.AuthFailed
	}
	msg := err.Error()
	var synErr *xml.SyntaxError
	switch {
	case strings.Contains(msg, "http error 401") || strings.Contains(msg, "http response error: 401"):
		return sdk.AuthFailed // a 401 from the library's own transports
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:"):
		return sdk.TLS
	case errors.As(err, &synErr) || strings.Contains(msg, "XML syntax error") || strings.Contains(msg, "invalid content type"):
		return sdk.Protocol // an answer, but not one WS-Management allows
	}
	var uerr *url.Error
	if errors.As(err, &uerr) && uerr.Timeout() {
		return sdk.TimedOut
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return sdk.TimedOut
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(msg, "EOF") ||
		strings.Contains(msg, "connection reset") || strings.Contains(msg, "connection refused") ||
		strings.Contains(msg, "server closed idle connection") {
		// Includes a host that went down mid-command (masterzen's 16001 +
		// EOF), and a kept-alive connection the host closed as the request
		// went out (net/http's "server closed idle connection", which it
		// does not retry for a POST): the host is going away, as a
		// restarting Windows does.
		return sdk.Unreachable
	}
	return sdk.Protocol
}

// scrub removes the password from an error's text, should a library ever
// echo it, keeping the chain for errors.Is/As.
func scrub(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return &scrubbed{msg: strings.ReplaceAll(err.Error(), password, "[redacted]"), err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.err }
