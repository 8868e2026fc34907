package wsman

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Host is one simulated machine as the shell sees it.
type Host interface {
	// Name is the machine name Windows reports in faults.
	Name() string
	// Start runs a command line, as cmd.exe receives it from a shell, and
	// returns the running process. It must not block.
	Start(command string, args []string) Process
}

// Process is a command started by a Host.
type Process interface {
	// Read waits until output is available, the process exits, or ctx ends,
	// and returns the output so far (in order), whether the process has
	// exited and, if so, its exit code. After the exit it returns all
	// remaining output at once.
	Read(ctx context.Context) (out []Chunk, exited bool, code int)
	// Input delivers stdin; eof closes it.
	Input(data []byte, eof bool)
	// Terminate stops the process (signal terminate or ctrl_c).
	Terminate()
}

// Chunk is output on one stream ("stdout" or "stderr").
type Chunk struct {
	Stream string
	Data   []byte
}

// Authenticator checks a request's credentials. It returns the user the
// request runs as, or ok=false after writing the 401 challenge itself.
type Authenticator interface {
	Authenticate(w http.ResponseWriter, r *http.Request) (user string, ok bool)
}

// Quotas are the WinRM service limits the server enforces.
type Quotas struct {
	MaxShellsPerUser               int           // default 30
	MaxConcurrentOperationsPerUser int           // default 1500
	IdleTimeout                    time.Duration // default 7200 s
	// MaxOperationTimeout caps a Receive's wait (default: the request's
	// OperationTimeout, else 60 s).
	MaxOperationTimeout time.Duration
}

func (q *Quotas) defaults() {
	if q.MaxShellsPerUser <= 0 {
		q.MaxShellsPerUser = 30
	}
	if q.MaxConcurrentOperationsPerUser <= 0 {
		q.MaxConcurrentOperationsPerUser = 1500
	}
	if q.IdleTimeout <= 0 {
		q.IdleTimeout = 7200 * time.Second
	}
}

// Server is the WS-Management endpoint of one Host. It is safe for
// concurrent use.
type Server struct {
	host   Host
	auth   Authenticator
	quotas Quotas
	now    func() time.Time
	log    *slog.Logger

	mu     sync.Mutex
	shells map[string]*shell
	ops    map[string]int // in-flight operations per user
}

type shell struct {
	id, user, owner, clientIP string
	created, lastUsed         time.Time
	idle                      time.Duration
	commands                  map[string]*command
}

type command struct {
	id   string
	proc Process
	done bool
	code int
}

// Options configure a Server.
type Options struct {
	Quotas Quotas
	// Now is the clock for idle timeouts; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// NewServer returns the endpoint of host.
func NewServer(host Host, auth Authenticator, o Options) *Server {
	o.Quotas.defaults()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{host: host, auth: auth, quotas: o.Quotas, now: o.Now, log: o.Logger,
		shells: map[string]*shell{}, ops: map[string]int{}}
}

// CloseAll drops every shell and stops what runs in them, as a reboot does.
func (s *Server) CloseAll() {
	// The commands are collected under the lock: a request still being
	// served may be adding one to a shell this drops.
	s.mu.Lock()
	var running []*command
	for _, sh := range s.shells {
		for _, c := range sh.commands {
			running = append(running, c)
		}
	}
	s.shells = map[string]*shell{}
	s.mu.Unlock()
	for _, c := range running {
		c.proc.Terminate()
	}
}

// Shells returns how many shells are open (for tests and the control API).
func (s *Server) Shells() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	return len(s.shells)
}

// maxBody bounds a request body, as MaxEnvelopeSizekb does on Windows
// (default 500 KB).
const maxBody = 512 << 10

// ServeHTTP implements the /wsman endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/wsman" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	user, ok := s.auth.Authenticate(w, r)
	if !ok {
		return
	}
	if !soapMediaType(r.Header.Get("Content-Type")) {
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	in, out := buffers.Get().(*bytes.Buffer), buffers.Get().(*bytes.Buffer)
	defer func() {
		in.Reset()
		out.Reset()
		buffers.Put(in)
		buffers.Put(out)
	}()
	if _, err := in.ReadFrom(io.LimitReader(r.Body, maxBody+1)); err != nil {
		return // the client went away
	}
	body := in.Bytes()
	status := http.StatusOK
	if f := s.handle(r.Context(), out, body, user, clientIP(r)); f != nil {
		out.Reset()
		status = f.Status
		writeFault(out, f, newMessageID(), relatesTo(body), s.host.Name())
	}
	w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(out.Bytes())
}

// buffers recycles request and response buffers between requests.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// soapMediaType accepts application/soap+xml with any parameters, as
// mime.ParseMediaType would, without its allocations.
func soapMediaType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/soap+xml")
}

// relatesTo digs the MessageID out of a request that may not have parsed.
func relatesTo(body []byte) string {
	if r, err := parseRequest(body); err == nil {
		return r.Header.MessageID
	}
	return ""
}

func clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

func (s *Server) handle(ctx context.Context, out *bytes.Buffer, body []byte, user, ip string) *Fault {
	if len(body) > maxBody {
		return &Fault{Status: 500, Code: "s:Sender", Subcode: "w:EncodingLimit", WSMan: 2150858824, Action: wsmanFaultAction,
			Message: "The WS-Management service cannot process the request because the envelope size in the request is too large."}
	}
	req, err := parseRequest(body)
	if err != nil {
		return faultSchema(err.Error())
	}
	if !s.beginOp(user) {
		return faultMaxOperations(s.quotas.MaxConcurrentOperationsPerUser)
	}
	defer s.endOp(user)

	switch req.Header.Action {
	case actionCreate, actionDelete, actionCommand, actionReceive, actionSend, actionSignal:
	default:
		return faultActionNotSupported(req.Header.Action)
	}
	if req.Header.ResourceURI != ShellURI {
		return faultResourceURI(req.Header.ResourceURI)
	}
	switch req.Header.Action {
	case actionCreate:
		return s.create(out, req, user, ip)
	case actionDelete:
		return s.delete(out, req, user)
	case actionCommand:
		return s.command(out, req, user)
	case actionReceive:
		return s.receive(ctx, out, req, user)
	case actionSend:
		return s.send(out, req, user)
	default:
		return s.signal(out, req, user)
	}
}

// Operations returns how many operations of user are in flight (for tests
// and the control API).
func (s *Server) Operations(user string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ops[user]
}

func (s *Server) beginOp(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ops[user] >= s.quotas.MaxConcurrentOperationsPerUser {
		return false
	}
	s.ops[user]++
	return true
}

func (s *Server) endOp(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ops[user]--; s.ops[user] <= 0 {
		delete(s.ops, user)
	}
}

// sweepLocked closes shells idle for longer than their idle timeout.
func (s *Server) sweepLocked() {
	now := s.now()
	for id, sh := range s.shells {
		if now.Sub(sh.lastUsed) > sh.idle {
			for _, c := range sh.commands {
				c.proc.Terminate()
			}
			delete(s.shells, id)
			s.log.Debug("shell idle timeout", "shell", id)
		}
	}
}

// lookup finds the request's shell for its user and marks it used.
func (s *Server) lookup(req *request, user string) (*shell, *Fault) {
	id := req.selector("ShellId")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	sh, ok := s.shells[strings.ToUpper(id)]
	if !ok || sh.user != user {
		return nil, faultShellNotFound(id)
	}
	sh.lastUsed = s.now()
	return sh, nil
}

func (s *Server) create(out *bytes.Buffer, req *request, user, ip string) *Fault {
	if req.Body.Shell == nil {
		return faultSchema("The Create request for a shell has no rsp:Shell element in its body.")
	}
	idle := s.quotas.IdleTimeout
	if t := strings.TrimSpace(req.Body.Shell.IdleTimeOut); t != "" {
		d, err := parseDuration(t)
		if err != nil {
			return faultSchema(fmt.Sprintf("IdleTimeOut %q is not an xs:duration.", t))
		}
		idle = min(d, s.quotas.IdleTimeout)
	}
	s.mu.Lock()
	s.sweepLocked()
	n := 0
	for _, sh := range s.shells {
		if sh.user == user {
			n++
		}
	}
	if n >= s.quotas.MaxShellsPerUser {
		s.mu.Unlock()
		return faultMaxShells(s.quotas.MaxShellsPerUser)
	}
	now := s.now()
	sh := &shell{id: newGUID(), user: user, owner: user, clientIP: ip, created: now, lastUsed: now, idle: idle, commands: map[string]*command{}}
	s.shells[sh.id] = sh
	s.mu.Unlock()

	inputs, outputs := "stdin", "stdout stderr"
	if v := strings.TrimSpace(req.Body.Shell.InputStreams); v != "" {
		inputs = v
	}
	if v := strings.TrimSpace(req.Body.Shell.OutputStreams); v != "" {
		outputs = v
	}
	envelopeOpen(out, actionCreateResponse, newMessageID(), req.Header.MessageID)
	fmt.Fprintf(out, `<x:ResourceCreated><a:Address>%s</a:Address><a:ReferenceParameters><w:ResourceURI>%s</w:ResourceURI>`+
		`<w:SelectorSet><w:Selector Name="ShellId">%s</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>`,
		esc(strings.TrimSpace(req.Header.To)), ShellURI, sh.id)
	fmt.Fprintf(out, `<rsp:Shell><rsp:ShellId>%s</rsp:ShellId><rsp:ResourceUri>%s</rsp:ResourceUri><rsp:Owner>%s</rsp:Owner>`+
		`<rsp:ClientIP>%s</rsp:ClientIP><rsp:IdleTimeOut>%s</rsp:IdleTimeOut><rsp:InputStreams>%s</rsp:InputStreams>`+
		`<rsp:OutputStreams>%s</rsp:OutputStreams><rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>`,
		sh.id, ShellURI, esc(sh.owner), esc(ip), formatDuration(idle), esc(inputs), esc(outputs))
	envelopeClose(out)
	return nil
}

func (s *Server) delete(out *bytes.Buffer, req *request, user string) *Fault {
	sh, f := s.lookup(req, user)
	if f != nil {
		return f
	}
	s.mu.Lock()
	delete(s.shells, sh.id)
	cmds := sh.commands
	sh.commands = map[string]*command{}
	s.mu.Unlock()
	for _, c := range cmds {
		c.proc.Terminate()
	}
	envelopeOpen(out, actionDeleteResponse, newMessageID(), req.Header.MessageID)
	envelopeClose(out)
	return nil
}

func (s *Server) command(out *bytes.Buffer, req *request, user string) *Fault {
	if req.Body.CommandLine == nil {
		return faultSchema("The Command request has no rsp:CommandLine element in its body.")
	}
	sh, f := s.lookup(req, user)
	if f != nil {
		return f
	}
	line := strings.TrimSpace(req.Body.CommandLine.Command)
	c := &command{id: newGUID(), proc: s.host.Start(line, req.Body.CommandLine.Arguments)}
	s.mu.Lock()
	sh.commands[c.id] = c
	s.mu.Unlock()
	envelopeOpen(out, nsShell+"/CommandResponse", newMessageID(), req.Header.MessageID)
	fmt.Fprintf(out, `<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId></rsp:CommandResponse>`, c.id)
	envelopeClose(out)
	return nil
}

func (s *Server) findCommand(sh *shell, id string) (*command, *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := sh.commands[strings.ToUpper(strings.TrimSpace(id))]
	if !ok {
		return nil, faultCommandNotFound(id)
	}
	return c, nil
}

func (s *Server) receive(ctx context.Context, out *bytes.Buffer, req *request, user string) *Fault {
	if req.Body.Receive == nil {
		return faultSchema("The Receive request has no rsp:Receive element in its body.")
	}
	sh, f := s.lookup(req, user)
	if f != nil {
		return f
	}
	c, f := s.findCommand(sh, req.Body.Receive.DesiredStream.CommandID)
	if f != nil {
		return f
	}
	wait := 60 * time.Second
	if t := strings.TrimSpace(req.Header.OperationTimeout); t != "" {
		d, err := parseDuration(t)
		if err != nil {
			return faultSchema(fmt.Sprintf("OperationTimeout %q is not an xs:duration.", t))
		}
		wait = d
	}
	if s.quotas.MaxOperationTimeout > 0 {
		wait = min(wait, s.quotas.MaxOperationTimeout)
	}
	rctx, cancel := context.WithTimeout(ctx, wait)
	chunks, exited, code := c.proc.Read(rctx)
	cancel()
	if len(chunks) == 0 && !exited {
		if ctx.Err() != nil {
			return nil // the client is gone; nothing to answer
		}
		return faultTimedOut()
	}
	s.mu.Lock()
	if exited {
		c.done, c.code = true, code
	}
	sh.lastUsed = s.now()
	s.mu.Unlock()

	envelopeOpen(out, nsShell+"/ReceiveResponse", newMessageID(), req.Header.MessageID)
	out.WriteString(`<rsp:ReceiveResponse>`)
	for _, ch := range chunks {
		fmt.Fprintf(out, `<rsp:Stream Name="%s" CommandId="%s">%s</rsp:Stream>`, ch.Stream, c.id, base64.StdEncoding.EncodeToString(ch.Data))
	}
	if exited {
		fmt.Fprintf(out, `<rsp:Stream Name="stdout" CommandId="%s" End="true"></rsp:Stream><rsp:Stream Name="stderr" CommandId="%s" End="true"></rsp:Stream>`, c.id, c.id)
		fmt.Fprintf(out, `<rsp:CommandState CommandId="%s" State="%s"><rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState>`, c.id, stateDone, code)
	} else {
		fmt.Fprintf(out, `<rsp:CommandState CommandId="%s" State="%s"></rsp:CommandState>`, c.id, stateRunning)
	}
	out.WriteString(`</rsp:ReceiveResponse>`)
	envelopeClose(out)
	return nil
}

func (s *Server) send(out *bytes.Buffer, req *request, user string) *Fault {
	if req.Body.Send == nil {
		return faultSchema("The Send request has no rsp:Send element in its body.")
	}
	sh, f := s.lookup(req, user)
	if f != nil {
		return f
	}
	for _, st := range req.Body.Send.Streams {
		c, f := s.findCommand(sh, st.CommandID)
		if f != nil {
			return f
		}
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(st.Data))
		if err != nil {
			return faultSchema("The stdin stream is not base64.")
		}
		c.proc.Input(data, strings.EqualFold(st.End, "true"))
	}
	envelopeOpen(out, nsShell+"/SendResponse", newMessageID(), req.Header.MessageID)
	out.WriteString(`<rsp:SendResponse/>`)
	envelopeClose(out)
	return nil
}

func (s *Server) signal(out *bytes.Buffer, req *request, user string) *Fault {
	if req.Body.Signal == nil {
		return faultSchema("The Signal request has no rsp:Signal element in its body.")
	}
	sh, f := s.lookup(req, user)
	if f != nil {
		return f
	}
	c, f := s.findCommand(sh, req.Body.Signal.CommandID)
	if f != nil {
		return f
	}
	switch strings.TrimSpace(req.Body.Signal.Code) {
	case signalTerminate, signalCtrlC, signalCtrlBreak:
	default:
		return &Fault{Status: 500, Code: "s:Sender", Subcode: "w:InvalidParameter", WSMan: 2150858836, Action: wsmanFaultAction,
			Message: fmt.Sprintf("The WS-Management service cannot process the request because the signal code %q is not supported.", req.Body.Signal.Code)}
	}
	c.proc.Terminate()
	if strings.TrimSpace(req.Body.Signal.Code) == signalTerminate {
		// terminate ends the command's life in the shell.
		s.mu.Lock()
		delete(sh.commands, c.id)
		s.mu.Unlock()
	}
	envelopeOpen(out, nsShell+"/SignalResponse", newMessageID(), req.Header.MessageID)
	out.WriteString(`<rsp:SignalResponse/>`)
	envelopeClose(out)
	return nil
}

// newGUID returns an upper-case GUID, as Windows writes shell and command ids.
func newGUID() string {
	const hex = "0123456789ABCDEF"
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0xF])
	}
	return string(out)
}

func newMessageID() string { return "uuid:" + newGUID() }
