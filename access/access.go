package access

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Role is what a principal may do; each holds every right of the roles
// below it.
type Role string

// The roles, lowest first.
const (
	Viewer   Role = "viewer"
	Operator Role = "operator"
	Approver Role = "approver"
	Admin    Role = "admin"
)

// Roles are the roles, lowest first.
var Roles = []Role{Viewer, Operator, Approver, Admin}

// ParseRole reads a role's name; anything else is an error wrapping
// errkind.Invalid that lists the roles.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(Roles, r) {
		return r, nil
	}
	return "", fmt.Errorf("role %q: not one of viewer, operator, approver, admin: %w", s, errkind.Invalid)
}

// Has reports whether r holds the rights of need.
func (r Role) Has(need Role) bool {
	return slices.Index(Roles, r) >= slices.Index(Roles, need) && slices.Contains(Roles, r)
}

// scopeKind says what a Scope names.
type scopeKind int

const (
	kindNone scopeKind = iota // the zero Scope: nothing
	kindEstate
	kindRegion
	kindOrgs
)

// Scope is the part of the estate a principal sees and acts on: the
// whole estate, a region (the organisations tagged with its name), or a
// list of organisations. The zero Scope covers nothing.
//
// Written: "estate", "region:NAME", "org:CODE[,CODE...]".
type Scope struct {
	kind   scopeKind
	region string
	orgs   []string
}

// EstateScope is the whole estate.
func EstateScope() Scope { return Scope{kind: kindEstate} }

// RegionScope is the organisations tagged tag.
func RegionScope(tag string) Scope { return Scope{kind: kindRegion, region: tag} }

// OrgScope is the organisations named (codes upper-cased, sorted, unique).
func OrgScope(codes ...string) Scope {
	orgs := make([]string, 0, len(codes))
	for _, c := range codes {
		orgs = append(orgs, strings.ToUpper(strings.TrimSpace(c)))
	}
	slices.Sort(orgs)
	return Scope{kind: kindOrgs, orgs: slices.Compact(orgs)}
}

// ParseScope reads a scope as String writes it. A bad one is an error
// wrapping errkind.Invalid that says what is accepted.
func ParseScope(s string) (Scope, error) {
	s = strings.TrimSpace(s)
	kind, rest, _ := strings.Cut(s, ":")
	switch strings.ToLower(kind) {
	case "estate":
		if rest == "" {
			return EstateScope(), nil
		}
	case "region":
		if tag := strings.TrimSpace(rest); tag != "" && !strings.ContainsAny(tag, ", ") {
			return RegionScope(tag), nil
		}
	case "org", "orgs":
		var codes []string
		for c := range strings.SplitSeq(rest, ",") {
			c = strings.TrimSpace(c)
			if c == "" {
				codes = nil
				break
			}
			code := inventory.NormaliseOrgCode(c)
			if err := inventory.ValidateOrgCode(code); err != nil {
				return Scope{}, fmt.Errorf("scope %q: organisation %q: %w", s, c, err)
			}
			codes = append(codes, code)
		}
		if len(codes) > 0 {
			return OrgScope(codes...), nil
		}
	}
	return Scope{}, fmt.Errorf("scope %q: want estate, region:TAG or org:CODE[,CODE...]: %w", s, errkind.Invalid)
}

// String writes the scope as ParseScope reads it ("" for the zero Scope).
func (s Scope) String() string {
	switch s.kind {
	case kindEstate:
		return "estate"
	case kindRegion:
		return "region:" + s.region
	case kindOrgs:
		return "org:" + strings.Join(s.orgs, ",")
	}
	return ""
}

// IsZero reports whether s is the zero Scope.
func (s Scope) IsZero() bool { return s.kind == kindNone }

// MarshalText writes String.
func (s Scope) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads ParseScope.
func (s *Scope) UnmarshalText(b []byte) error {
	v, err := ParseScope(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Organisations lists the organisations a region is resolved against.
type Organisations interface {
	Organisations(ctx context.Context) ([]inventory.Organisation, error)
}

// Resolve gives the organisations s covers now: a region's are those
// tagged with its name at this moment; a listed organisation that does
// not exist is kept (it covers nothing until it is created).
func (s Scope) Resolve(ctx context.Context, orgs Organisations) (Orgs, error) {
	switch s.kind {
	case kindEstate:
		return Orgs{all: true}, nil
	case kindOrgs:
		return NewOrgs(s.orgs...), nil
	case kindRegion:
		all, err := orgs.Organisations(ctx)
		if err != nil {
			return Orgs{}, fmt.Errorf("resolve scope %s: %w", s, err)
		}
		var codes []string
		for _, o := range all {
			if slices.ContainsFunc(o.Tags, func(t string) bool { return strings.EqualFold(t, s.region) }) {
				codes = append(codes, o.Code)
			}
		}
		return NewOrgs(codes...), nil
	}
	return NewOrgs(), nil
}

// Orgs is a resolved scope: every organisation, or a set of codes.
type Orgs struct {
	all  bool
	list []string // sorted, unique
}

// AllOrgs covers every organisation.
func AllOrgs() Orgs { return Orgs{all: true} }

// NewOrgs covers the organisations named.
func NewOrgs(codes ...string) Orgs {
	list := slices.Clone(codes)
	slices.Sort(list)
	return Orgs{list: slices.Compact(list)}
}

// All reports whether o covers every organisation.
func (o Orgs) All() bool { return o.all }

// Covers reports whether o covers the organisation code.
func (o Orgs) Covers(code string) bool {
	if o.all {
		return true
	}
	_, ok := slices.BinarySearch(o.list, code)
	return ok
}

// CoversAll reports whether o covers every one of codes, and if not the
// first it does not.
func (o Orgs) CoversAll(codes []string) (string, bool) {
	for _, c := range codes {
		if !o.Covers(c) {
			return c, false
		}
	}
	return "", true
}

// List is the organisations covered, sorted (nil when All).
func (o Orgs) List() []string { return slices.Clone(o.list) }

// Empty reports whether o covers no organisation.
func (o Orgs) Empty() bool { return !o.all && len(o.list) == 0 }

// Bound narrows sel to the organisations o covers. For an o that covers
// none it returns ok false: the caller must show nothing rather than
// everything.
func (o Orgs) Bound(sel inventory.Selector) (bounded inventory.Selector, ok bool) {
	if o.all {
		return sel, true
	}
	if len(o.list) == 0 {
		return sel, false
	}
	quoted := make([]string, len(o.list))
	for i, c := range o.list {
		quoted[i] = `"` + c + `"`
	}
	in, err := inventory.ParseSelector("org in (" + strings.Join(quoted, ",") + ")")
	if err != nil { // codes were validated; this is a bug
		panic(fmt.Sprintf("access: scope selector: %v", err))
	}
	return sel.And(in), true
}
