package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/audit"
)

// RiverPath is where River's web UI is served: the Prefix its handler
// must be made with (Config.River).
const RiverPath = "/river"

// maxRiverBody bounds a change's request to River's UI: a list of job ids
// (a thousand at most) or a queue's settings.
const maxRiverBody = 64 << 10

// serveRiver serves River's web UI, h, under RiverPath.
//
// Only an admin whose scope is the whole estate may use it, as the API
// authenticates (a bearer token, or a session cookie whose cross-origin
// changes are refused): River's jobs are every organisation's, and the UI
// does not filter them, so an organisation's or a region's admin is
// refused (403), like any lesser role.
//
// Its changes are served, not refused: cancelling, retrying or deleting a
// job and pausing, resuming or changing a queue are what an operator of
// the estate's queue needs, and the campaigns' own records keep up with
// them as with a node's crash (a device whose job is gone is found by its
// lease). Each is recorded in the audit trail as the API's changes are:
// the action "river." followed by its method and path under RiverPath
// ("river.POST /api/jobs/cancel"), the target the job ids the request
// names (else that path), the request as Before and River's answer as
// After, done when River made it, failed when it answered with an error,
// refused when access control refused it. River's answer to a change is
// held until it is recorded: a change that cannot be recorded is answered
// with an error, as the API's are.
func (s *Server) serveRiver(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.estateCaller(r, access.Admin, "River's web UI (every organisation's jobs)")
		w.Header().Set("X-Request-Id", c.RequestID)
		change := r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions
		if err != nil {
			if change && c.Principal.Subject != "" {
				c.entry = s.riverEntry(c, r, nil)
				if aerr := s.record(r.Context(), c, err); aerr != nil {
					err = aerr
				}
			}
			writeProblem(w, r, c.RequestID, s.problemOf(r, c, err))
			return
		}
		if !change {
			h.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRiverBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeProblem(w, r, c.RequestID, &Problem{Status: http.StatusRequestEntityTooLarge, Title: http.StatusText(http.StatusRequestEntityTooLarge),
					Detail: fmt.Sprintf("a change to River's queue is at most %d bytes", maxRiverBody)})
				return
			}
			writeProblem(w, r, c.RequestID, s.problemOf(r, c, &BadRequestError{Where: "the request body", Err: err}))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		c.entry = s.riverEntry(c, r, body)
		held := &heldResponse{header: http.Header{}, code: http.StatusOK}
		h.ServeHTTP(held, r)
		c.entry.After = jsonRecord(held.body.Bytes())
		var failed error
		if held.code >= 400 {
			failed = fmt.Errorf("the job queue (River) answered %d: %s", held.code, strings.TrimSpace(held.body.String()))
		}
		if err := s.record(r.Context(), c, failed); err != nil {
			writeProblem(w, r, c.RequestID, s.problemOf(r, c, err))
			return
		}
		for k, v := range held.header {
			w.Header()[k] = v
		}
		w.WriteHeader(held.code)
		w.Write(held.body.Bytes())
	})
}

// riverEntry is the audit trail's entry for a change to River's queue
// through its UI, with the request's body (nil if unread).
func (s *Server) riverEntry(c *Call, r *http.Request, body []byte) audit.Entry {
	path := strings.TrimPrefix(r.URL.Path, RiverPath)
	e := audit.Entry{Actor: c.Principal.Subject, Via: c.Principal.Via, TokenID: c.Principal.TokenID, From: c.From,
		Action: truncate("river."+r.Method+" "+path, audit.MaxText), Target: truncate(path, audit.MaxText), Before: jsonRecord(body)}
	var req struct {
		IDs []json.Number `json:"ids"`
	}
	if json.Unmarshal(body, &req) == nil && len(req.IDs) > 0 {
		ids := make([]string, len(req.IDs))
		for i, id := range req.IDs {
			ids[i] = id.String()
		}
		e.Target = truncate("jobs "+strings.Join(ids, ","), audit.MaxText)
	}
	return e
}

// jsonRecord is b for the audit trail's Before or After: as it is when it
// is JSON within audit.MaxRecord, else what it was.
func jsonRecord(b []byte) json.RawMessage {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return nil
	case !json.Valid(b):
		return json.RawMessage(strconv.Quote(truncate(fmt.Sprintf("not JSON: %q", b), 200)))
	case len(b) > audit.MaxRecord:
		return json.RawMessage(fmt.Sprintf(`{"truncated":true,"bytes":%d}`, len(b)))
	}
	return json.RawMessage(b)
}

// heldResponse holds a response until the change it answers is recorded.
type heldResponse struct {
	header http.Header
	code   int
	wrote  bool
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(code int) {
	if !h.wrote {
		h.code, h.wrote = code, true
	}
}

func (h *heldResponse) Write(b []byte) (int, error) {
	h.wrote = true
	return h.body.Write(b)
}
