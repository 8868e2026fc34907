package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/estate"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// routes registers every operation. Each area's are in its own file.
func (s *Server) routes() {
	handle(s, Op{ID: "whoami", Method: "GET", Path: "/api/v1/whoami", Summary: "Who the caller is and what its scope covers", Tag: "access", Role: access.Viewer},
		func(ctx context.Context, c *Call, _ *struct{}) (Whoami, error) {
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return Whoami{}, err
			}
			p := c.Principal
			return Whoami{Subject: p.Subject, Role: string(p.Role), Scope: p.Scope.String(), Via: p.Via, TokenID: p.TokenID,
				All: orgs.All(), Orgs: nonNil(orgs.List())}, nil
		})
	s.inventoryRoutes()
	s.importRoute()
	s.campaignRoutes()
	s.eventRoutes()
	s.reportRoutes()
	s.alertRoutes()
	s.playbookRoutes()
	s.tokenRoutes()
	s.auditRoutes()
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// notFoundOutside hides a record of an organisation outside the caller's
// scope: it is not found, as if it did not exist.
func notFoundOutside(orgs access.Orgs, org, what string) error {
	if !orgs.Covers(org) {
		return fmt.Errorf("%s: %w", what, errkind.NotFound)
	}
	return nil
}

func (s *Server) inventoryRoutes() {
	type orgsIn struct {
		Tag   string `query:"tag" doc:"only organisations with this tag (a region)"`
		After string `query:"after" doc:"the cursor of the page before (its next): an organisation's code"`
		Limit int    `query:"limit" doc:"organisations in a page: 1 to 1000, default 500"`
	}
	handle(s, Op{ID: "orgs-list", Method: "GET", Path: "/api/v1/orgs", Summary: "List the organisations in scope, with their device counts", Tag: "inventory", Role: access.Viewer},
		func(ctx context.Context, c *Call, in *orgsIn) (List[estate.Org], error) {
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return List[estate.Org]{}, err
			}
			list, err := estate.ListOrganisations(ctx, s.cfg.Inventory)
			if err != nil {
				return List[estate.Org]{}, err
			}
			list = slices.DeleteFunc(list, func(o estate.Org) bool {
				return !orgs.Covers(o.Code) || (in.Tag != "" && !slices.Contains(o.Tags, in.Tag))
			})
			return listOf(list, in.After, in.Limit, func(o estate.Org) string { return o.Code })
		})
	type orgIn struct {
		Code string `path:"code" doc:"the organisation's code"`
	}
	handle(s, Op{ID: "org-show", Method: "GET", Path: "/api/v1/orgs/{code}", Summary: "Show an organisation and where its estate stands", Tag: "inventory", Role: access.Viewer},
		func(ctx context.Context, c *Call, in *orgIn) (estate.OrgDetail, error) {
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return estate.OrgDetail{}, err
			}
			code := inventory.NormaliseOrgCode(in.Code)
			if err := notFoundOutside(orgs, code, "organisation "+code); err != nil {
				return estate.OrgDetail{}, err
			}
			return estate.ShowOrganisation(ctx, s.cfg.Inventory, code)
		})
	type devicesIn struct {
		Selector string `query:"selector" doc:"a selector over the inventory (ringmaster's syntax: org=RXX,build<10.0.19045)"`
		After    string `query:"after" doc:"the cursor of the page before (its next)"`
		Limit    int    `query:"limit" doc:"devices in a page: 1 to 1000, default 100"`
	}
	handle(s, Op{ID: "devices-list", Method: "GET", Path: "/api/v1/devices", Summary: "List the devices in scope that a selector matches, by organisation then hostname", Tag: "inventory", Role: access.Viewer},
		func(ctx context.Context, c *Call, in *devicesIn) (DevicePage, error) {
			return s.devices(ctx, c, in.Selector, in.After, in.Limit)
		})
	type deviceIn struct {
		Hostname string `path:"hostname"`
	}
	handle(s, Op{ID: "device-show", Method: "GET", Path: "/api/v1/devices/{hostname}", Summary: "Show a device with its observed facts", Tag: "inventory", Role: access.Viewer},
		func(ctx context.Context, c *Call, in *deviceIn) (Device, error) {
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return Device{}, err
			}
			d, err := estate.ShowDevice(ctx, s.cfg.Inventory, in.Hostname)
			if err != nil {
				return Device{}, err
			}
			if err := notFoundOutside(orgs, d.Device.Org, "device "+d.Device.Hostname); err != nil {
				return Device{}, err
			}
			return deviceOf(&d.Device), nil
		})
}

// Page sizes of the inventory's device list.
const (
	defaultDevicePage = 100
	maxDevicePage     = 1000
)

// devices is a page of the inventory in scope. The cursor is ORG/hostname
// of the last device given: a page reads the organisation it stopped in
// and those after it, never the estate from the start.
func (s *Server) devices(ctx context.Context, c *Call, selector, after string, limit int) (DevicePage, error) {
	switch {
	case limit == 0:
		limit = defaultDevicePage
	case limit < 0 || limit > maxDevicePage:
		return DevicePage{}, &BadRequestError{Where: "query parameter limit", Err: fmt.Errorf("%d: want 1 to %d", limit, maxDevicePage)}
	}
	sel, err := inventory.ParseSelector(selector)
	if err != nil {
		return DevicePage{}, &BadRequestError{Where: "query parameter selector", Err: err}
	}
	var afterOrg, afterHost string
	if after != "" {
		var ok bool
		if afterOrg, afterHost, ok = strings.Cut(after, "/"); !ok || afterOrg == "" || afterHost == "" {
			return DevicePage{}, &BadRequestError{Where: "query parameter after", Err: fmt.Errorf("%q: want the next of the page before (ORG/hostname)", after)}
		}
	}
	orgs, err := c.Orgs(ctx)
	if err != nil {
		return DevicePage{}, err
	}
	all, err := s.cfg.Inventory.Organisations(ctx)
	if err != nil {
		return DevicePage{}, err
	}
	page := DevicePage{Devices: []Device{}}
	for _, o := range all {
		if !orgs.Covers(o.Code) || o.Code < afterOrg {
			continue
		}
		one, err := inventory.ParseSelector(`org="` + o.Code + `"`)
		if err != nil {
			return DevicePage{}, err
		}
		for d, err := range s.cfg.Inventory.Devices(ctx, sel.And(one)) {
			if err != nil {
				return DevicePage{}, err
			}
			if o.Code == afterOrg && d.Hostname <= afterHost {
				continue
			}
			if len(page.Devices) == limit {
				last := page.Devices[limit-1]
				page.Next = last.Org + "/" + last.Hostname
				return page, nil
			}
			page.Devices = append(page.Devices, deviceOf(d))
		}
	}
	return page, nil
}

func (s *Server) issuer() access.Issuer {
	return access.Issuer{Tokens: s.cfg.Tokens, Orgs: s.cfg.Inventory, Now: s.cfg.Now}
}

func (s *Server) tokenRoutes() {
	type tokensIn struct {
		Subject string `query:"subject" doc:"only the tokens held by this subject"`
		After   string `query:"after" doc:"the cursor of the page before (its next): a token's id"`
		Limit   int    `query:"limit" doc:"tokens in a page: 1 to 1000, default 500"`
	}
	handle(s, Op{ID: "tokens-list", Method: "GET", Path: "/api/v1/tokens", Summary: "List the API tokens within the caller's scope (never their secrets)", Tag: "access", Role: access.Admin},
		func(ctx context.Context, c *Call, in *tokensIn) (List[access.Token], error) {
			ts, err := s.issuer().List(ctx, c.Principal)
			if err != nil {
				return List[access.Token]{}, err
			}
			if in.Subject != "" {
				ts = slices.DeleteFunc(ts, func(t access.Token) bool { return t.Subject != in.Subject })
			}
			return listOf(ts, in.After, in.Limit, func(t access.Token) string { return t.ID })
		})
	type createIn struct {
		Body struct {
			Subject string `json:"subject" jsonschema:"description=who or what will hold it"`
			Role    string `json:"role" jsonschema:"enum=viewer,enum=operator,enum=approver,enum=admin"`
			Scope   string `json:"scope" jsonschema:"description=estate\\, region:TAG or org:CODE[\\,CODE...]"`
			Expires string `json:"expires,omitempty" jsonschema:"description=how long it lives (Go duration such as 720h; default 2160h)"`
			Note    string `json:"note,omitempty"`
		}
	}
	handle(s, Op{ID: "token-create", Method: "POST", Path: "/api/v1/tokens", Summary: "Create an API token; its secret is in this response only", Tag: "access", Role: access.Admin, Audit: "token.create"},
		func(ctx context.Context, c *Call, in *createIn) (NewToken, error) {
			b := in.Body
			role, err := access.ParseRole(b.Role)
			if err != nil {
				return NewToken{}, &BadRequestError{Where: "body field role", Err: err}
			}
			scope, err := access.ParseScope(b.Scope)
			if err != nil {
				return NewToken{}, &BadRequestError{Where: "body field scope", Err: err}
			}
			var life time.Duration
			if b.Expires != "" {
				if life, err = time.ParseDuration(b.Expires); err != nil {
					return NewToken{}, &BadRequestError{Where: "body field expires", Err: err}
				}
			}
			secret, t, err := s.issuer().Issue(ctx, c.Principal, b.Subject, role, scope, life, b.Note)
			if err != nil {
				return NewToken{}, err
			}
			c.Audit(t.ID, "")
			c.Record(nil, t)
			return NewToken{Token: *t, Secret: secret}, nil
		})
	type revokeIn struct {
		ID string `path:"id"`
	}
	handle(s, Op{ID: "token-revoke", Method: "DELETE", Path: "/api/v1/tokens/{id}", Summary: "Revoke an API token", Tag: "access", Role: access.Admin, Audit: "token.revoke"},
		func(ctx context.Context, c *Call, in *revokeIn) (access.Token, error) {
			c.Audit(in.ID, "")
			before, after, err := s.issuer().Revoke(ctx, c.Principal, in.ID)
			if err != nil {
				return access.Token{}, err
			}
			c.Record(before, after)
			return after, nil
		})
}
