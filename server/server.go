package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/audit"
	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/estate"
	"github.com/ringmaster-fleet/ringmaster/metrics"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
	"github.com/ringmaster-fleet/ringmaster/reports"
)

// Inventory is what the API reads of the inventory.
type Inventory interface {
	estate.Organisations
	estate.DeviceStore
	estate.Devices
	estate.Importer
}

// Config is what a Server serves.
type Config struct {
	Tokens    access.TokenStore
	Audit     audit.Store
	Inventory Inventory
	Alerts    Alerts
	Campaigns *campaigns.Service
	Reports   *reports.Service
	// Playbooks are the playbooks offered by name; default the built-in
	// ones only. The campaigns service should resolve the same.
	Playbooks Playbooks
	// MaxUpload bounds a file sent to be imported, in bytes; default
	// DefaultMaxUpload.
	MaxUpload int64
	// Now is the clock (tokens' expiry, the audit trail); default
	// time.Now.
	Now func() time.Time
	// Wall is the wall clock cached responses age on (default time.Now):
	// the freshness of figures is real time whatever Now says.
	Wall    func() time.Time
	Log     *slog.Logger
	Version string
	// Limiter slows guessing of tokens; default NewLimiter(5, time.Minute).
	Limiter *Limiter
	// Metrics, if set, counts the requests and is served at /metrics to
	// callers whose scope is the estate.
	Metrics *metrics.Metrics
	// River, if set, is River's web UI (riverqueue.com/riverui's Handler,
	// its Prefix RiverPath), served under RiverPath to admins whose scope
	// is the whole estate, its changes in the audit trail (see
	// serveRiver). The caller builds and starts it: this package knows no
	// job queue nor database driver.
	River http.Handler
}

// DefaultMaxUpload bounds an inventory file sent to be imported: the
// whole national estate's, 1.3 million devices, is about 300 MB as CSV.
const DefaultMaxUpload = 1 << 30

// Server is the HTTP API: every operation in s.ops, behind authentication,
// roles, scopes and the audit trail.
type Server struct {
	cfg Config
	mux *http.ServeMux
	ops []*Op
	// openapi is the document, made once.
	openapi func() ([]byte, error)
	// oidc is sign-in with OpenID Connect, once enabled; csrf refuses
	// cross-origin changes carrying a session cookie.
	oidc  *signIn
	csrf  *http.CrossOriginProtection
	cache *cache
}

// New builds the server's routes.
func New(cfg Config) (*Server, error) {
	if cfg.Tokens == nil || cfg.Audit == nil || cfg.Inventory == nil || cfg.Alerts == nil || cfg.Campaigns == nil || cfg.Reports == nil {
		return nil, errors.New("server: tokens, audit, inventory, alerts, campaigns and reports are all required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Wall == nil {
		cfg.Wall = time.Now
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.Playbooks == nil {
		cfg.Playbooks = builtin.Library{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Limiter == nil {
		cfg.Limiter = NewLimiter(5, time.Minute)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), csrf: http.NewCrossOriginProtection(), cache: newCache(cfg.Wall)}
	s.cache.log = cfg.Log
	s.routes()
	s.openapi = sync.OnceValues(s.OpenAPI)
	s.mux.HandleFunc("GET /openapi.json", s.serveOpenAPI)
	if cfg.Metrics != nil {
		s.mux.Handle("GET /metrics", s.serveMetrics(cfg.Metrics.Handler()))
	}
	if cfg.River != nil {
		s.mux.Handle(RiverPath+"/", s.serveRiver(cfg.River))
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.uiRoutes()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, "", &Problem{Status: http.StatusNotFound, Title: "Not Found", Detail: "no operation at " + r.Method + " " + r.URL.Path + "; see /openapi.json"})
	})
	return s, nil
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Ops are the registered operations, in registration order.
func (s *Server) Ops() []Op {
	ops := make([]Op, len(s.ops))
	for i, o := range s.ops {
		ops[i] = *o
	}
	return ops
}

// Call is one request to an operation: who makes it, from where, and
// what the audit trail will say of it.
type Call struct {
	Principal access.Principal
	From      string
	RequestID string

	s      *Server
	orgs   *access.Orgs
	entry  audit.Entry
	format string // the response's media type
	// lastEventID is the Last-Event-ID header of a resumed event stream.
	lastEventID string
}

// Orgs is the caller's scope resolved now (once per call).
func (c *Call) Orgs(ctx context.Context) (access.Orgs, error) {
	if c.orgs == nil {
		o, err := c.Principal.Scope.Resolve(ctx, c.s.cfg.Inventory)
		if err != nil {
			return access.Orgs{}, err
		}
		c.orgs = &o
	}
	return *c.orgs, nil
}

// RequireEstate refuses what only a caller of the whole estate may do;
// what names it, and why, for the error.
func (c *Call) RequireEstate(ctx context.Context, what string) error {
	orgs, err := c.Orgs(ctx)
	if err != nil {
		return err
	}
	return c.Principal.RequireEstate(orgs, what)
}

// RequireOrgs refuses what touches an organisation outside the caller's
// scope; what names it for the error.
func (c *Call) RequireOrgs(ctx context.Context, touched []string, what string) error {
	orgs, err := c.Orgs(ctx)
	if err != nil {
		return err
	}
	return c.Principal.RequireOrgs(orgs, touched, what)
}

// Audit says what the change is made to, for the trail: a target and the
// organisation it was bounded to ("" for the estate).
func (c *Call) Audit(target, org string) {
	c.entry.Target, c.entry.Org = target, org
}

// Record keeps the record before and after the change for the trail (nil
// for none); a value that does not encode is noted instead.
func (c *Call) Record(before, after any) {
	enc := func(v any) json.RawMessage {
		if v == nil {
			return nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return json.RawMessage(fmt.Sprintf("%q", "unrecorded: "+err.Error()))
		}
		if len(b) > audit.MaxRecord {
			return json.RawMessage(fmt.Sprintf(`{"truncated":true,"bytes":%d}`, len(b)))
		}
		return b
	}
	c.entry.Before, c.entry.After = enc(before), enc(after)
}

// endpoint wraps op: authentication, the role, the format, the audit trail
// and errors as problem documents.
func (s *Server) endpoint(op *Op) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &statusWriter{ResponseWriter: rw, code: http.StatusOK}
		if s.cfg.Metrics != nil {
			start := time.Now()
			defer func() { s.cfg.Metrics.Request(op.ID, w.code, time.Since(start)) }()
		}
		ctx := r.Context()
		c := &Call{s: s, From: clientAddr(r), RequestID: requestID(), lastEventID: r.Header.Get("Last-Event-ID")}
		w.Header().Set("X-Request-Id", c.RequestID)
		p, err := s.authenticate(ctx, r, c.From)
		if err != nil {
			writeProblem(w, r, c.RequestID, s.problemOf(r, c, err))
			return
		}
		c.Principal = p
		c.entry = audit.Entry{Actor: p.Subject, Via: p.Via, TokenID: p.TokenID, From: c.From, Action: op.Audit, Target: op.target(r)}
		if op.Cache > 0 {
			s.cached(w, r, op, c)
			return
		}
		result, err := s.call(ctx, op, c, r)
		if op.Audit != "" {
			if aerr := s.record(ctx, c, err); aerr != nil && err == nil {
				err = aerr
			}
			if err == nil {
				s.cache.clear()
			}
		}
		if err != nil {
			writeProblem(w, r, c.RequestID, s.problemOf(r, c, err))
			return
		}
		s.respond(w, r, c, result)
	})
}

// cached serves a read from the cache, computing it when it is missing or
// stale (see cache).
func (s *Server) cached(w http.ResponseWriter, r *http.Request, op *Op, c *Call) {
	if err := check(op, c, r); err != nil {
		writeProblem(w, r, c.RequestID, s.problemOf(r, c, err))
		return
	}
	q := r.URL.Query()
	q.Del("format")
	key := op.ID + "\x00" + c.Principal.Scope.String() + "\x00" + c.format + "\x00" + r.URL.Path + "?" + q.Encode()
	e, err := s.cache.get(key, op.Cache, func() (string, []byte, error) {
		// Others may wait for this computation: it outlives the request
		// that began it, within a bound.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Minute)
		defer cancel()
		result, err := op.serve(ctx, c, r)
		if err != nil {
			return "", nil, err
		}
		return encode(result)
	})
	if err != nil {
		writeProblem(w, r, c.RequestID, s.problemOf(r, c, err))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", e.contentType)
	w.Header().Set("Age", strconv.Itoa(int(s.cfg.Wall().Sub(e.at).Seconds())))
	w.Write(e.body)
}

// encode gives a result's content type and bytes: a Rendered as it
// writes itself, anything else as JSON.
func encode(result any) (string, []byte, error) {
	if rd, ok := result.(Rendered); ok {
		var b bytes.Buffer
		if err := rd.Write(&b); err != nil {
			return "", nil, err
		}
		return rd.ContentType, b.Bytes(), nil
	}
	b, err := json.Marshal(result)
	if err != nil {
		return "", nil, fmt.Errorf("encode the response: %w", err)
	}
	return "application/json", append(b, '\n'), nil
}

// call checks the role and runs op.
func (s *Server) call(ctx context.Context, op *Op, c *Call, r *http.Request) (any, error) {
	if err := check(op, c, r); err != nil {
		return nil, err
	}
	return op.serve(ctx, c, r)
}

// check refuses a caller below op's role, and sets the response's format
// from the request.
func check(op *Op, c *Call, r *http.Request) error {
	if err := c.Principal.Require(op.Role, op.Summary); err != nil {
		return err
	}
	f, err := op.format(r)
	c.format = f
	return err
}

// record appends the call's change to the audit trail.
func (s *Server) record(ctx context.Context, c *Call, err error) error {
	e := c.entry
	e.At = s.cfg.Now().UTC()
	switch {
	case err == nil:
		e.Outcome = audit.Done
	case errors.Is(err, errkind.Forbidden):
		e.Outcome, e.Detail = audit.Refused, truncate(err.Error(), audit.MaxText)
	default:
		e.Outcome, e.Detail = audit.Failed, truncate(err.Error(), audit.MaxText)
	}
	if aerr := s.cfg.Audit.Append(context.WithoutCancel(ctx), &e); aerr != nil {
		s.cfg.Log.Error("audit trail: could not record a change", "action", e.Action, "actor", e.Actor, "outcome", e.Outcome, "err", aerr)
		return fmt.Errorf("%s was %s but could not be recorded in the audit trail: %w", e.Action, e.Outcome, aerr)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// respond writes a result: a Rendered as itself, anything else as JSON.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, c *Call, result any) {
	w.Header().Set("Cache-Control", "no-store")
	if rd, ok := result.(Rendered); ok {
		w.Header().Set("Content-Type", rd.ContentType)
		if err := rd.Write(w); err != nil {
			s.cfg.Log.Warn("response cut short", "path", r.URL.Path, "request_id", c.RequestID, "err", err)
		}
		return
	}
	b, err := json.Marshal(result)
	if err != nil {
		writeProblem(w, r, c.RequestID, s.problemOf(r, c, fmt.Errorf("encode the response: %w", err)))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// clientAddr is the client's IP address.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func requestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusWriter remembers the status a response was given.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Flush passes on to the connection, for streamed responses.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// serveMetrics serves h to an authenticated caller whose scope is the
// whole estate: the counts are the estate's.
func (s *Server) serveMetrics(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.estateCaller(r, access.Viewer, "metrics")
		if err != nil {
			writeProblem(w, r, c.RequestID, s.problemOf(r, c, err))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// estateCaller authenticates r's caller as the API does and refuses one
// below role or whose scope is not the whole estate, for what serves the
// whole estate at once outside the operations (/metrics, /river); what
// names it in a refusal. The call has its principal once authenticated,
// even when refused.
func (s *Server) estateCaller(r *http.Request, role access.Role, what string) (*Call, error) {
	c := &Call{s: s, From: clientAddr(r), RequestID: requestID()}
	p, err := s.authenticate(r.Context(), r, c.From)
	if err != nil {
		return c, err
	}
	c.Principal = p
	if err := p.Require(role, what); err != nil {
		return c, err
	}
	if p.Scope.String() != access.EstateScope().String() {
		return c, &access.ForbiddenError{Subject: p.Subject, Org: "any but the whole estate", Scope: p.Scope, What: what}
	}
	return c, nil
}
