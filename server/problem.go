package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// Problem is an RFC 9457 problem document, with Ringmaster's kind of
// error and the request's id as extension members.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	Kind      string `json:"kind,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// RetryAfter is in seconds (and in the Retry-After header).
	RetryAfter int `json:"retry_after,omitempty"`
}

// statusOf maps errkind's vocabulary to HTTP: the one place it is done.
func statusOf(err error) int {
	var tooMany *TooManyError
	switch {
	case errors.As(err, &tooMany):
		return http.StatusTooManyRequests
	case errors.Is(err, errUnauthenticated), errors.Is(err, errBadCredentials):
		return http.StatusUnauthorized
	case errors.Is(err, errkind.Forbidden):
		return http.StatusForbidden
	case errors.Is(err, errkind.NotFound):
		return http.StatusNotFound
	case errors.Is(err, errkind.Exists), errors.Is(err, errkind.Conflict), errors.Is(err, errkind.InUse), errors.Is(err, orchestrator.ErrState):
		return http.StatusConflict
	case errors.Is(err, errkind.Invalid):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// problemOf turns err into the document the caller sees. A server error's
// text stays in the log: the caller gets the request id to quote.
func (s *Server) problemOf(r *http.Request, c *Call, err error) *Problem {
	st := statusOf(err)
	p := &Problem{Status: st, Title: http.StatusText(st), Detail: err.Error(), Instance: r.URL.Path, Kind: string(errkind.Of(err))}
	var tooMany *TooManyError
	if errors.As(err, &tooMany) {
		p.RetryAfter = int(tooMany.RetryAfter.Seconds() + 0.999)
	}
	if st == http.StatusInternalServerError && r.Context().Err() != nil {
		// The client went away: nothing failed but its patience.
		s.cfg.Log.Debug("request abandoned by the client", "method", r.Method, "path", r.URL.Path, "request_id", c.RequestID)
		p.Detail = "the request was abandoned"
	} else if st == http.StatusInternalServerError {
		s.cfg.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "request_id", c.RequestID, "actor", c.Principal.Subject, "err", err)
		p.Detail = "the server failed on this request; its log has the error under request id " + c.RequestID
	}
	return p
}

func writeProblem(w http.ResponseWriter, r *http.Request, requestID string, p *Problem) {
	p.Type = "about:blank"
	if p.Instance == "" {
		p.Instance = r.URL.Path
	}
	p.RequestID = requestID
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ringmaster"`)
	}
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	b, _ := json.Marshal(p)
	w.Write(append(b, '\n'))
}
