package access

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// Issuer creates, lists and revokes API tokens on behalf of a principal:
// the one place the rules are, for the CLI and the API alike. A principal
// gives out no more than it holds: a role at most its own, a scope within
// its own (see Within), and sees and revokes only tokens within its scope.
type Issuer struct {
	Tokens TokenStore
	Orgs   Organisations
	Now    func() time.Time // default time.Now
	Random io.Reader        // default crypto/rand.Reader
}

// DefaultTokenLife is how long a token lives unless told.
const DefaultTokenLife = 90 * 24 * time.Hour

func (i Issuer) now() time.Time {
	if i.Now == nil {
		return time.Now()
	}
	return i.Now()
}

// Issue makes and stores a token for subject and returns its secret, to
// be shown once (life 0: DefaultTokenLife).
func (i Issuer) Issue(ctx context.Context, by Principal, subject string, role Role, scope Scope, life time.Duration, note string) (string, *Token, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return "", nil, err
	}
	if err := by.Require(role, "create a token of role "+string(role)); err != nil {
		return "", nil, err
	}
	if err := Within(ctx, by, i.Orgs, scope); err != nil {
		return "", nil, err
	}
	if life == 0 {
		life = DefaultTokenLife
	}
	random := i.Random
	if random == nil {
		random = rand.Reader
	}
	secret, t, err := NewToken(random, subject, role, scope, i.now(), life)
	if err != nil {
		return "", nil, err
	}
	t.Note, t.CreatedBy = note, by.Subject
	if err := i.Tokens.CreateToken(ctx, t); err != nil {
		return "", nil, err
	}
	return secret, t, nil
}

// List is the tokens within by's scope, newest first.
func (i Issuer) List(ctx context.Context, by Principal) ([]Token, error) {
	ts, err := i.Tokens.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	out := ts[:0]
	for _, t := range ts {
		if Within(ctx, by, i.Orgs, t.Scope) == nil {
			out = append(out, t)
		}
	}
	return out, nil
}

// Revoke revokes token id, if within by's scope (else it is not found),
// and returns it before and after.
func (i Issuer) Revoke(ctx context.Context, by Principal, id string) (before, after Token, err error) {
	before, err = i.Tokens.Token(ctx, id)
	if err != nil {
		return before, after, err
	}
	if Within(ctx, by, i.Orgs, before.Scope) != nil {
		return before, after, fmt.Errorf("token %s: %w", id, errkind.NotFound)
	}
	if err := i.Tokens.RevokeToken(ctx, id, i.now()); err != nil {
		return before, after, err
	}
	after, err = i.Tokens.Token(ctx, id)
	return before, after, err
}

// Within refuses a scope by's does not contain: the estate is within the
// estate's only; a region within the estate or itself (a region grows as
// organisations are tagged, so no smaller scope contains it); a list of
// organisations within any scope that covers each of them now.
func Within(ctx context.Context, by Principal, orgs Organisations, scope Scope) error {
	own := by.Scope
	if own.kind == kindEstate || own.String() == scope.String() {
		return nil
	}
	refuse := &ForbiddenError{Subject: by.Subject, Scope: own, What: "scope " + scope.String()}
	if scope.kind != kindOrgs {
		refuse.Org = "beyond " + own.String()
		return refuse
	}
	covered, err := own.Resolve(ctx, orgs)
	if err != nil {
		return err
	}
	if org, ok := covered.CoversAll(scope.orgs); !ok {
		refuse.Org = org
		return refuse
	}
	return nil
}
