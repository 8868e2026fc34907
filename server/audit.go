package server

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/audit"
)

func (s *Server) auditRoutes() {
	type auditIn struct {
		After  int64  `query:"after" doc:"entries after this seq (the last seq of the page before)"`
		Limit  int    `query:"limit" doc:"entries in a page: default 500, at most 10000"`
		Actor  string `query:"actor"`
		Action string `query:"action" doc:"exact, or a prefix ending in . (campaign.)"`
		Since  string `query:"since" doc:"RFC 3339, inclusive"`
		Until  string `query:"until" doc:"RFC 3339, exclusive"`
	}
	handleRendered(s, Op{ID: "audit-list", Method: "GET", Path: "/api/v1/audit", Summary: "The audit trail of changes in scope, oldest first (NDJSON for a SIEM with format=ndjson)", Tag: "access", Role: access.Admin, Formats: []string{"application/x-ndjson"}},
		func(ctx context.Context, c *Call, in *auditIn) ([]audit.Entry, error) {
			q := audit.Query{After: in.After, Limit: in.Limit, Actor: in.Actor, Action: in.Action}
			var err error
			if q.Since, err = timeParam("since", in.Since); err != nil {
				return nil, err
			}
			if q.Until, err = timeParam("until", in.Until); err != nil {
				return nil, err
			}
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return nil, err
			}
			if !orgs.All() {
				q.Orgs = nonNil(orgs.List())
			}
			es, err := s.cfg.Audit.List(ctx, q)
			return nonNil(es), err
		}, func(w io.Writer, es []audit.Entry, _ string) error {
			enc := json.NewEncoder(w)
			for _, e := range es {
				if err := enc.Encode(e); err != nil {
					return err
				}
			}
			return nil
		})
}

func timeParam(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, &BadRequestError{Where: "query parameter " + name, Err: err}
	}
	return t, nil
}
