package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// Executor runs commands on Windows devices over SSH.
type Executor struct{}

var _ sdk.Executor = (*Executor)(nil)

// New returns the SSH executor.
func New() *Executor { return &Executor{} }

// Info implements sdk.Executor.
func (*Executor) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "ssh", Version: "0.1.0", Capabilities: []string{"probe", "exec", "powershell", "cmd", "stream"}}, nil
}

// Probe implements sdk.Executor with the SDK's Windows facts script.
func (e *Executor) Probe(ctx context.Context, t sdk.Target) (sdk.ProbeResult, error) {
	return sdk.ProbeWindows(ctx, e, t)
}

func address(t sdk.Target) string {
	a := t.Address
	if a == "" {
		a = t.Hostname
	}
	if _, _, err := net.SplitHostPort(a); err != nil {
		a = net.JoinHostPort(a, "22")
	}
	return a
}

func hostKeyCallback(t sdk.Target) (ssh.HostKeyCallback, error) {
	if t.InsecureSkipVerify {
		return ssh.InsecureIgnoreHostKey(), nil //nolint:gosec // only when the target explicitly says so
	}
	known := t.Options["known_hosts"]
	if known == "" {
		return nil, errors.New("no known_hosts for the target (Options[\"known_hosts\"]), and InsecureSkipVerify is not set")
	}
	var keys []ssh.PublicKey
	for _, line := range strings.Split(known, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		_, _, key, _, _, err := ssh.ParseKnownHosts([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("known_hosts: %w", err)
		}
		keys = append(keys, key)
	}
	return func(_ string, _ net.Addr, key ssh.PublicKey) error {
		for _, k := range keys {
			if bytes.Equal(k.Marshal(), key.Marshal()) {
				return nil
			}
		}
		return &knownhosts.KeyError{}
	}, nil
}

// encodedPowerShell is how a script reaches powershell.exe intact through
// the Windows OpenSSH server's default shell, cmd.exe.
func encodedPowerShell(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return "powershell.exe -NoProfile -NonInteractive -EncodedCommand " + base64.StdEncoding.EncodeToString(b)
}

type streamWriter struct {
	mu     *sync.Mutex
	stream sdk.Stream
	buf    *bytes.Buffer
	out    func(sdk.Chunk)
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.out != nil {
		w.out(sdk.Chunk{Stream: w.stream, Data: append([]byte(nil), p...)})
	}
	return len(p), nil
}

// Exec implements sdk.Executor.
func (e *Executor) Exec(ctx context.Context, t sdk.Target, c sdk.Command, out func(sdk.Chunk)) (sdk.Result, error) {
	fail := func(kind sdk.Kind, err error) (sdk.Result, error) {
		return sdk.Result{ExitCode: -1}, &sdk.Error{Kind: kind, Op: "exec", Target: t.Hostname, Err: err}
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	check, err := hostKeyCallback(t)
	if err != nil {
		return fail(sdk.TLS, err)
	}
	connect := t.ConnectTimeout
	if connect <= 0 {
		connect = 30 * time.Second
	}
	d := net.Dialer{Timeout: connect}
	conn, err := d.DialContext(ctx, "tcp", address(t))
	if err != nil {
		return fail(kindOf(ctx, err), err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() }) // cancel and timeout act at once
	defer stop()
	cc, chans, reqs, err := ssh.NewClientConn(conn, address(t), &ssh.ClientConfig{
		User: t.Username, Auth: []ssh.AuthMethod{ssh.Password(t.Password)}, HostKeyCallback: check, Timeout: connect,
	})
	if err != nil {
		var keyErr *knownhosts.KeyError
		switch {
		case ctx.Err() != nil:
			return fail(kindOf(ctx, err), ctx.Err())
		case errors.As(err, &keyErr):
			return fail(sdk.TLS, errors.New("the server's host key is not the known one"))
		case strings.Contains(err.Error(), "unable to authenticate"):
			return fail(sdk.AuthFailed, errors.New("the server refused the credentials"))
		}
		return fail(sdk.Protocol, err)
	}
	client := ssh.NewClient(cc, chans, reqs)
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		return fail(kindOf(ctx, err), err)
	}
	defer session.Close()
	var mu sync.Mutex
	var stdout, stderr bytes.Buffer
	session.Stdout = streamWriter{&mu, sdk.Stdout, &stdout, out}
	session.Stderr = streamWriter{&mu, sdk.Stderr, &stderr, out}
	if len(c.Stdin) > 0 {
		session.Stdin = bytes.NewReader(c.Stdin)
	}
	line := c.Script
	switch c.Shell {
	case sdk.PowerShell, "":
		line = encodedPowerShell(c.Script)
	case sdk.Cmd:
	default:
		return fail(sdk.Internal, fmt.Errorf("shell %q is not supported", c.Shell))
	}
	start := time.Now()
	err = session.Run(line)
	res := sdk.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: time.Since(start)}
	var exitErr *ssh.ExitError
	switch {
	case ctx.Err() != nil:
		res.ExitCode = -1
		return res, &sdk.Error{Kind: kindOf(ctx, ctx.Err()), Op: "exec", Target: t.Hostname, Err: ctx.Err()}
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitStatus()
		return res, &sdk.Error{Kind: sdk.CommandFailed, Op: "exec", Target: t.Hostname, ExitCode: res.ExitCode}
	case err != nil:
		res.ExitCode = -1
		return res, &sdk.Error{Kind: sdk.Unreachable, Op: "exec", Target: t.Hostname, Err: err}
	}
	return res, nil
}

func kindOf(ctx context.Context, err error) sdk.Kind {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return sdk.Cancelled
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return sdk.TimedOut
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return sdk.TimedOut
	}
	return sdk.Unreachable
}
