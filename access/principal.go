package access

import (
	"fmt"

	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// How a principal proved who it is.
const (
	ViaToken = "token" // an API token
	ViaOIDC  = "oidc"  // OpenID Connect sign-in
	ViaCLI   = "cli"   // a shell on a machine holding the database
)

// Principal is who a request acts for.
type Principal struct {
	// Subject names the person or program: a token's subject, an OIDC
	// subject's email or name, the CLI's user@host.
	Subject string
	Role    Role
	Scope   Scope
	// Via is how it signed in (ViaToken, ViaOIDC, ViaCLI); TokenID the
	// token's id when ViaToken.
	Via     string
	TokenID string
}

// System is the CLI's principal on a machine holding the database: whoever
// can open the database can do anything, so it is an admin of the estate.
func System(subject string) Principal {
	return Principal{Subject: subject, Role: Admin, Scope: EstateScope(), Via: ViaCLI}
}

// ForbiddenError is an action refused to a principal: its role is short
// of what the action needs, or it reaches outside the principal's scope.
// It wraps errkind.Forbidden.
type ForbiddenError struct {
	Subject string
	// Need is the role the action needs, when that was short.
	Need Role
	Has  Role
	// Org is the organisation outside the scope, when that was it; Scope
	// the principal's scope.
	Org   string
	Scope Scope
	// What names the action or record ("pause campaign x").
	What string
	// Estate says the action needs the whole estate in scope.
	Estate bool
}

func (e *ForbiddenError) Error() string {
	if e.Need != "" {
		return fmt.Sprintf("%s: %s is %s, this needs %s", e.What, e.Subject, e.Has, e.Need)
	}
	if e.Estate {
		return fmt.Sprintf("%s: this needs the whole estate in scope; %s's scope is %s", e.What, e.Subject, e.Scope)
	}
	return fmt.Sprintf("%s: organisation %s is outside %s's scope (%s)", e.What, e.Org, e.Subject, e.Scope)
}

// Unwrap makes errors.Is(err, errkind.Forbidden) hold.
func (e *ForbiddenError) Unwrap() error { return errkind.Forbidden }

// Require refuses what needs a role p does not hold.
func (p Principal) Require(need Role, what string) error {
	if p.Role.Has(need) {
		return nil
	}
	return &ForbiddenError{Subject: p.Subject, Need: need, Has: p.Role, What: what}
}

// RequireEstate refuses what only a caller of the whole estate may do
// (creating organisations, issuing an alert); orgs is p's resolved scope.
func (p Principal) RequireEstate(orgs Orgs, what string) error {
	if orgs.All() {
		return nil
	}
	return &ForbiddenError{Subject: p.Subject, Scope: p.Scope, What: what, Estate: true}
}

// RequireOrgs refuses what touches an organisation outside orgs (p's
// resolved scope).
func (p Principal) RequireOrgs(orgs Orgs, touched []string, what string) error {
	if org, ok := orgs.CoversAll(touched); !ok {
		return &ForbiddenError{Subject: p.Subject, Org: org, Scope: p.Scope, What: what}
	}
	return nil
}
