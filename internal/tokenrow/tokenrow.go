// Package tokenrow is how both storage engines (store/sqlite,
// store/postgres) check an API token before they store it and read a
// stored token's role and scope back: one set of rules, so that both
// refuse and report alike.
package tokenrow

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// MaxText is the longest a token's id, subject, note or creator may be.
const MaxText = 1024

// Check refuses, with an error wrapping errkind.Invalid, a token no store
// should keep: no id, a role that is not one of access.Roles as written,
// no scope, no hash, no creation or expiry time, or text that is not
// UTF-8 or holds a NUL (which PostgreSQL's text cannot hold).
func Check(t *access.Token) error {
	if t == nil {
		return fmt.Errorf("token: none given: %w", errkind.Invalid)
	}
	for _, f := range []struct{ name, v string }{{"id", t.ID}, {"subject", t.Subject}, {"note", t.Note}, {"created_by", t.CreatedBy}} {
		switch {
		case len(f.v) > MaxText:
			return fmt.Errorf("token %.40q: %s is %d bytes, over %d: %w", t.ID, f.name, len(f.v), MaxText, errkind.Invalid)
		case !utf8.ValidString(f.v) || strings.ContainsRune(f.v, 0):
			return fmt.Errorf("token %.40q: %s is not UTF-8 text without NUL: %w", t.ID, f.name, errkind.Invalid)
		}
	}
	switch {
	case t.ID == "":
		return fmt.Errorf("token: no id: %w", errkind.Invalid)
	case !slices.Contains(access.Roles, t.Role):
		return fmt.Errorf("token %s: role %q: not one of viewer, operator, approver, admin: %w", t.ID, t.Role, errkind.Invalid)
	case t.Scope.IsZero():
		return fmt.Errorf("token %s: no scope: %w", t.ID, errkind.Invalid)
	case len(t.Hash) == 0:
		return fmt.Errorf("token %s: no hash: %w", t.ID, errkind.Invalid)
	case t.CreatedAt.IsZero() || t.ExpiresAt.IsZero():
		return fmt.Errorf("token %s: no creation or expiry time: %w", t.ID, errkind.Invalid)
	}
	return nil
}

// Parse reads a stored token's role and scope. A row that no longer
// parses (written by hand, or by a version that knew other roles) is an
// error naming the token; it wraps no errkind kind, as it is the stored
// data that is wrong, not the caller's request.
func Parse(id, role, scope string) (access.Role, access.Scope, error) {
	r := access.Role(role)
	if !slices.Contains(access.Roles, r) {
		return "", access.Scope{}, fmt.Errorf("token %s: the stored role %q is not one of viewer, operator, approver, admin", id, role)
	}
	s, err := access.ParseScope(scope)
	if err != nil {
		return "", access.Scope{}, fmt.Errorf("token %s: the stored scope does not parse: %v", id, err)
	}
	return r, s, nil
}
