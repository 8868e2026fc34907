package winrm

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	// IdleTimeout is how long a device's connection, already
	// authenticated, is kept after an operation for the next one on the
	// same target (default 2 s; negative: never kept). A playbook's steps
	// follow one another within milliseconds, so keeping it that long
	// spares most operations a TCP connect (and TLS) and NTLM's two extra
	// round trips; it is kept well under what a host allows an idle
	// connection (HTTP.sys's default is 120 s).
	IdleTimeout time.Duration
	// MaxIdle bounds the connections kept idle across all targets
	// (default 1024): each holds a file descriptor here and on the host.
	MaxIdle int
	Logger  *slog.Logger
}

// Executor is the WinRM sdk.Executor. It is safe for concurrent use.
type Executor struct {
	sem       chan struct{}
	connect   time.Duration
	log       *slog.Logger
	warnBasic sync.Once

	idleFor time.Duration
	maxIdle int
	mu      sync.Mutex
	idle    map[string][]*session // by sessionKey: sessions kept for reuse
	nidle   int
	dials   atomic.Int64 // connections opened, for tests
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
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 2 * time.Second
	}
	if o.MaxIdle <= 0 {
		o.MaxIdle = 1024
	}
	return &Executor{sem: make(chan struct{}, o.MaxConcurrent), connect: o.ConnectTimeout, log: o.Logger,
		idleFor: o.IdleTimeout, maxIdle: o.MaxIdle, idle: map[string][]*session{}}
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

// session is a client for one target and the connections it opened. One
// operation uses it at a time; after an operation that went well it may be
// kept (Executor.put) for the next operation on the very same target:
// same address, TLS settings, scheme and credentials (sessionKey), so that
// a connection authenticated as one account never carries another's
// requests. It is closed after any failure.
type session struct {
	client *wr.Client
	tr     *transport
	key    string
	mu     sync.Mutex
	conns  []net.Conn
	target string
	timer  *time.Timer // closes it when it has been idle too long
}

// maxSessionConns retires a session that has had to dial this often (its
// host keeps closing its connections): it is not kept for reuse.
const maxSessionConns = 4

func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

// sessionKey is what a session may be reused for: everything about a
// target that decides where its requests go, how the host is verified and
// as whom they are authenticated. It is a digest, so that the idle map
// holds no password.
func sessionKey(t sdk.Target, connect time.Duration) string {
	h := sha256.New()
	for _, f := range []string{t.Hostname, t.Address, strconv.FormatBool(t.HTTPS), strconv.FormatBool(t.InsecureSkipVerify),
		string(t.CACertPEM), t.TLSServerName, t.Auth, t.Options[OptionAllowBasicWithoutTLS], t.Username, t.Password, connect.String()} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return string(h.Sum(nil))
}

// take returns a kept session for t, or opens a new one; reused says which.
func (e *Executor) take(ctx context.Context, t sdk.Target, op string) (s *session, reused bool, err error) {
	connect := t.ConnectTimeout
	if connect <= 0 {
		connect = e.connect
	}
	key := sessionKey(t, connect)
	e.mu.Lock()
	if kept := e.idle[key]; len(kept) > 0 {
		s = kept[len(kept)-1]
		kept[len(kept)-1] = nil
		if len(kept) == 1 {
			delete(e.idle, key)
		} else {
			e.idle[key] = kept[:len(kept)-1]
		}
		e.nidle--
		s.timer.Stop() // if it fired already, evict finds s gone and leaves it
		e.mu.Unlock()
		return s, true, nil
	}
	e.mu.Unlock()
	s, err = e.open(ctx, t, op, connect)
	if err != nil {
		return nil, false, err
	}
	s.key = key
	return s, false, nil
}

// put keeps s for the next operation on its target, unless keeping is off,
// the executor keeps enough already, or s has had to redial too often.
func (e *Executor) put(s *session) {
	s.mu.Lock()
	conns := len(s.conns)
	s.mu.Unlock()
	e.mu.Lock()
	if e.idleFor < 0 || e.nidle >= e.maxIdle || conns > maxSessionConns {
		e.mu.Unlock()
		s.close()
		return
	}
	e.idle[s.key] = append(e.idle[s.key], s)
	e.nidle++
	s.timer = time.AfterFunc(e.idleFor, func() { e.evict(s) })
	e.mu.Unlock()
}

// evict closes s if it is still kept idle.
func (e *Executor) evict(s *session) {
	e.mu.Lock()
	kept := e.idle[s.key]
	i := slices.Index(kept, s)
	if i < 0 { // taken meanwhile
		e.mu.Unlock()
		return
	}
	kept = slices.Delete(kept, i, i+1)
	if len(kept) == 0 {
		delete(e.idle, s.key)
	} else {
		e.idle[s.key] = kept
	}
	e.nidle--
	e.mu.Unlock()
	s.close()
}

// CloseIdle closes every connection kept for reuse.
func (e *Executor) CloseIdle() {
	e.mu.Lock()
	var all []*session
	for _, kept := range e.idle {
		all = append(all, kept...)
	}
	clear(e.idle)
	e.nidle = 0
	e.mu.Unlock()
	for _, s := range all {
		s.timer.Stop()
		s.close()
	}
}

func (e *Executor) open(ctx context.Context, t sdk.Target, op string, connect time.Duration) (*session, error) {
	host, port, err := hostPort(t)
	if err != nil {
		return nil, &sdk.Error{Kind: sdk.Internal, Op: op, Target: t.Hostname, Err: err}
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
		e.dials.Add(1)
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		return c, nil
	}
	tr, err := newTransport(t, params.Dial)
	if err != nil {
		return nil, &sdk.Error{Kind: sdk.Internal, Op: op, Target: s.target, Err: err}
	}
	tr.connect = connect
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
	s.client, s.tr = c, tr
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
	line := c.Script
	switch c.Shell {
	case sdk.PowerShell, "":
		line = wr.Powershell(c.Script)
	case sdk.Cmd:
	default:
		return sdk.Result{}, sdk.Errorf(sdk.Internal, "exec", t.Hostname, "shell %q is not supported (want powershell or cmd)", c.Shell)
	}
	if err := e.acquire(ctx); err != nil {
		return sdk.Result{}, &sdk.Error{Kind: classify(ctx, err), Op: "exec", Target: t.Hostname, Err: err}
	}
	defer e.release()
	s, reused, err := e.take(ctx, t, "exec")
	if err != nil {
		return sdk.Result{}, err
	}
	res, err := e.run(ctx, s, t, c, line, out)
	if err != nil && reused && s.tr.answered() == 0 && ctx.Err() == nil && sdk.IsKind(err, sdk.Unreachable) {
		// The kept connection was closed by the host (its idle timeout, a
		// restart of WinRM) before it answered anything of this operation:
		// the shell was never created, let alone the command started, so
		// it is run again once on a new connection.
		s.close()
		if s, err = e.open(ctx, t, "exec", s.tr.connect); err != nil {
			return sdk.Result{}, err
		}
		s.key = sessionKey(t, s.tr.connect)
		res, err = e.run(ctx, s, t, c, line, out)
	}
	if err == nil || sdk.IsKind(err, sdk.CommandFailed) {
		e.put(s) // the conversation went as WS-Management says: the connection is sound
	} else {
		s.close()
	}
	return res, err
}

// run runs one command line on s.
func (e *Executor) run(ctx context.Context, s *session, t sdk.Target, c sdk.Command, line string, out func(sdk.Chunk)) (sdk.Result, error) {
	s.tr.begin()
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
