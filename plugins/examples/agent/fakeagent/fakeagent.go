// Package fakeagent is a device's remote-management agent, as the agent
// executor (plugins/examples/agent) speaks to it, in front of the SDK's
// simulated Windows machine (plugins/sdk/testdevice): for that executor's
// tests and for any other test that needs an agent to talk to, such as
// Ringmaster's own tests of installing and testing a plugin.
//
//	dev := testdevice.New(testdevice.Spec{})
//	a, err := fakeagent.Start(dev, "agent-token") // or StartTLS
//	if err != nil { ... }
//	defer a.Close()
//	target := sdk.Target{Hostname: dev.Facts().Hostname, Address: a.Addr, Password: "agent-token"}
//
// It serves the API documented by the executor's package: POST
// /v1/commands with a bearer token, the command's output streamed back as
// NDJSON events, each flushed as the device writes it. Each command runs on
// the device with the request's context, so a client that hangs up stops
// it; timeout_ms stops it too, and is reported with "timed_out": true.
package fakeagent

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/testdevice"
)

// maxRequestBytes bounds a command request's body.
const maxRequestBytes = 8 << 20

// Server is a fake agent listening on 127.0.0.1.
type Server struct {
	// Addr is the host:port it listens on, for sdk.Target.Address.
	Addr string
	// URL is its base URL, http://Addr or https://Addr.
	URL string
	// CACertPEM is, for a server started with StartTLS, the certificate
	// to trust (sdk.Target.CACertPEM). It is valid for 127.0.0.1, ::1 and
	// example.com; nil for plain HTTP.
	CACertPEM []byte

	srv    *httptest.Server
	cancel context.CancelFunc
	once   sync.Once
}

// Start serves the agent API for dev over plain HTTP, accepting only the
// bearer token token.
func Start(dev *testdevice.Device, token string) (*Server, error) {
	return start(dev, token, false)
}

// StartTLS serves the agent API for dev over HTTPS, with a certificate
// that CACertPEM holds.
func StartTLS(dev *testdevice.Device, token string) (*Server, error) {
	return start(dev, token, true)
}

func start(dev *testdevice.Device, token string, useTLS bool) (*Server, error) {
	if dev == nil {
		return nil, errors.New("fakeagent: no device")
	}
	if token == "" {
		return nil, errors.New("fakeagent: an empty token would let anybody in")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fakeagent: listening: %w", err)
	}
	base, cancel := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(Handler(dev, token))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Config.BaseContext = func(net.Listener) context.Context { return base } // Close stops every command
	srv.Config.ReadHeaderTimeout = 10 * time.Second
	srv.Config.ErrorLog = slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug) // refused handshakes are what tests provoke
	s := &Server{srv: srv, cancel: cancel, Addr: ln.Addr().String()}
	if useTLS {
		srv.StartTLS()
		s.CACertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	} else {
		srv.Start()
	}
	s.URL = srv.URL
	return s, nil
}

// Close stops the server as a device going away would: connections are
// dropped (a stream in progress breaks off, without its last event), every
// command in progress is stopped, and Close waits for their handlers to
// return. It may be called more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		s.srv.CloseClientConnections()
		s.cancel()
		s.srv.Close()
	})
}

// request is the body of POST /v1/commands.
type request struct {
	Shell     string `json:"shell"`
	Script    string `json:"script"`
	Stdin     string `json:"stdin"`
	TimeoutMS int64  `json:"timeout_ms"`
}

// chunkEvent and exitEvent are the lines of the response stream.
type chunkEvent struct {
	Stream string `json:"stream"`
	Data   string `json:"data"`
}

type exitEvent struct {
	ExitCode   int   `json:"exit_code"`
	DurationMS int64 `json:"duration_ms"`
	TimedOut   bool  `json:"timed_out,omitempty"`
}

type errorEvent struct {
	Error string `json:"error"`
}

// Handler is the agent API for dev, accepting only the bearer token
// token, for a test that serves it itself (under a base path with
// http.StripPrefix, say). It serves /v1/commands and nothing else.
func Handler(dev *testdevice.Device, token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/commands", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r, token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="agent"`)
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, "use POST")
			return
		}
		cmd, err := readCommand(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		serveCommand(w, r, dev, cmd)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
	return mux
}

func authorized(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// readCommand reads and checks a command request, to its end (so that the
// server notices the client hanging up while the command runs).
func readCommand(r *http.Request) (sdk.Command, error) {
	if mt := r.Header.Get("Content-Type"); !strings.HasPrefix(mt, "application/json") {
		return sdk.Command{}, fmt.Errorf("content type %q is not application/json", mt)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil {
		return sdk.Command{}, fmt.Errorf("reading the request: %w", err)
	}
	if len(body) > maxRequestBytes {
		return sdk.Command{}, fmt.Errorf("the request is over %d bytes", maxRequestBytes)
	}
	var req request
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return sdk.Command{}, fmt.Errorf("the request is not a command: %w", err)
	}
	c := sdk.Command{Shell: sdk.Shell(req.Shell), Script: req.Script}
	if c.Shell != sdk.PowerShell && c.Shell != sdk.Cmd {
		return sdk.Command{}, fmt.Errorf("shell %q is neither powershell nor cmd", req.Shell)
	}
	if c.Shell == sdk.Cmd && strings.ContainsAny(c.Script, "\r\n") {
		return sdk.Command{}, errors.New("a cmd script is one line")
	}
	if req.TimeoutMS < 0 {
		return sdk.Command{}, fmt.Errorf("timeout_ms %d is negative", req.TimeoutMS)
	}
	c.Timeout = time.Duration(req.TimeoutMS) * time.Millisecond
	if req.Stdin != "" {
		if c.Stdin, err = base64.StdEncoding.DecodeString(req.Stdin); err != nil {
			return sdk.Command{}, fmt.Errorf("stdin is not base64: %w", err)
		}
	}
	return c, nil
}

// serveCommand runs c on dev and streams its output, one flushed NDJSON
// line per chunk, then its exit.
func serveCommand(w http.ResponseWriter, r *http.Request, dev *testdevice.Device, c sdk.Command) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	send := func(v any) {
		if enc.Encode(v) == nil {
			_ = rc.Flush() // a client that is gone is noticed through r's context
		}
	}
	if err := rc.Flush(); err != nil {
		return
	}

	ctx := r.Context()
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	var text utf8Splitter
	start := time.Now()
	res, err := dev.Run(ctx, c, func(ch sdk.Chunk) {
		if s := text.take(ch.Stream, ch.Data); s != "" {
			send(chunkEvent{Stream: string(ch.Stream), Data: s})
		}
	})
	for _, st := range []sdk.Stream{sdk.Stdout, sdk.Stderr} {
		if s := text.rest(st); s != "" {
			send(chunkEvent{Stream: string(st), Data: s})
		}
	}
	took := time.Since(start).Milliseconds()
	switch {
	case r.Context().Err() != nil:
		return // the client hung up (or the server is closing): nobody to tell
	case err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		send(exitEvent{ExitCode: -1, DurationMS: took, TimedOut: true})
	case err != nil:
		slog.Debug("fakeagent: command failed to run", "err", err)
		send(errorEvent{Error: err.Error()})
	default:
		send(exitEvent{ExitCode: res.ExitCode, DurationMS: res.Duration.Milliseconds()})
	}
}

// utf8Splitter holds back, per stream, the start of a character whose end
// has not been written yet, so that no event splits a character.
type utf8Splitter struct {
	held map[sdk.Stream][]byte
}

func (u *utf8Splitter) take(st sdk.Stream, p []byte) string {
	if u.held == nil {
		u.held = map[sdk.Stream][]byte{}
	}
	b := append(u.held[st], p...)
	cut := len(b)
	// A character is at most utf8.UTFMax bytes: look no further back.
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				cut = i
			}
			break
		}
	}
	u.held[st] = append([]byte(nil), b[cut:]...)
	return string(b[:cut])
}

func (u *utf8Splitter) rest(st sdk.Stream) string {
	s := string(u.held[st])
	delete(u.held, st)
	return s
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorEvent{Error: msg})
}
