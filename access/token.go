package access

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// TokenPrefix starts every API token, so that a leaked one is recognised
// by secret scanners and in logs.
const TokenPrefix = "rmt_"

// Token is an API token as stored: never its secret, only the secret's
// SHA-256. The secret has 256 bits from a cryptographic source, so a
// fast hash is enough: guessing it is as hard as guessing the secret.
type Token struct {
	// ID is 12 hex digits, public: it names the token in lists and the
	// audit trail.
	ID      string `json:"id"`
	Subject string `json:"subject"` // who or what holds it
	Role    Role   `json:"role"`
	Scope   Scope  `json:"scope"`
	// Hash is the SHA-256 of the secret part; it never leaves the store.
	Hash []byte `json:"-"`
	// Note says what it is for.
	Note      string    `json:"note"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// RevokedAt is when it was revoked (zero: it was not).
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// MaxTokenLife is the longest a token may live.
const MaxTokenLife = 366 * 24 * time.Hour

// NewToken makes a token for subject, valid from now for life, drawing its
// id and secret from random (crypto/rand.Reader in production). The
// secret (TokenPrefix + id + "_" + 43 characters) is returned to be shown
// once; t holds only its hash.
func NewToken(random io.Reader, subject string, role Role, scope Scope, now time.Time, life time.Duration) (secret string, t *Token, err error) {
	subject = strings.TrimSpace(subject)
	switch {
	case subject == "" || len(subject) > 200 || strings.ContainsFunc(subject, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return "", nil, fmt.Errorf("token subject %q: want 1 to 200 printable characters: %w", subject, errkind.Invalid)
	case life <= 0 || life > MaxTokenLife:
		return "", nil, fmt.Errorf("token expiry %s: want more than 0 and at most %s: %w", life, MaxTokenLife, errkind.Invalid)
	case scope.IsZero():
		return "", nil, fmt.Errorf("token scope: none given: %w", errkind.Invalid)
	}
	if _, err := ParseRole(string(role)); err != nil {
		return "", nil, err
	}
	var b [6 + 32]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", nil, fmt.Errorf("token: read random: %w", err)
	}
	id := hex.EncodeToString(b[:6])
	secretPart := base64.RawURLEncoding.EncodeToString(b[6:])
	sum := sha256.Sum256([]byte(secretPart))
	return TokenPrefix + id + "_" + secretPart, &Token{
		ID: id, Subject: subject, Role: role, Scope: scope, Hash: sum[:],
		CreatedAt: now.UTC(), ExpiresAt: now.Add(life).UTC(),
	}, nil
}

// ErrBadToken is a presented token that is malformed, unknown, expired,
// revoked or does not match: one error for all, so that a caller learns
// nothing of which. It wraps errkind.Forbidden.
var ErrBadToken = fmt.Errorf("invalid, expired or revoked API token: %w", errkind.Forbidden)

// SplitToken reads a presented token's id and secret part.
func SplitToken(presented string) (id, secretPart string, err error) {
	rest, ok := strings.CutPrefix(presented, TokenPrefix)
	if !ok {
		return "", "", ErrBadToken
	}
	id, secretPart, ok = strings.Cut(rest, "_")
	if !ok || len(id) != 12 || len(secretPart) != 43 {
		return "", "", ErrBadToken
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", "", ErrBadToken
	}
	return id, secretPart, nil
}

// Check reports whether secretPart is t's secret and t is usable at now.
func (t *Token) Check(secretPart string, now time.Time) error {
	sum := sha256.Sum256([]byte(secretPart))
	if subtle.ConstantTimeCompare(sum[:], t.Hash) != 1 || !t.Usable(now) {
		return ErrBadToken
	}
	return nil
}

// Usable reports whether t is neither expired nor revoked at now.
func (t *Token) Usable(now time.Time) bool {
	return t.RevokedAt.IsZero() && now.Before(t.ExpiresAt)
}

// SignInPrefix starts the CreatedBy of a session token the server issued
// at an OpenID Connect sign-in ("oidc:" and the provider's issuer URL).
const SignInPrefix = "oidc:"

// SessionPrefix starts the CreatedBy of a session token the server issued
// to a browser signing in with an API token ("session:" and that token's
// id): it acts as that token does, for as long as that token is usable.
const SessionPrefix = "session:"

// Session says whether t is a session token the server issued at a
// sign-in (OpenID Connect or an API token): signing out revokes it.
func (t *Token) Session() bool {
	return strings.HasPrefix(t.CreatedBy, SignInPrefix) || strings.HasPrefix(t.CreatedBy, SessionPrefix)
}

// Principal is who a request presenting t acts for: signed in by OpenID
// Connect for a session token, else by an API token.
func (t *Token) Principal() Principal {
	via := ViaToken
	if strings.HasPrefix(t.CreatedBy, SignInPrefix) {
		via = ViaOIDC
	}
	return Principal{Subject: t.Subject, Role: t.Role, Scope: t.Scope, Via: via, TokenID: t.ID}
}

// TokenStore is the contract of the API tokens' stores. Errors wrap
// errkind's kinds.
type TokenStore interface {
	// CreateToken stores t (errkind.Exists for an id taken).
	CreateToken(ctx context.Context, t *Token) error
	// Token returns one by id (errkind.NotFound).
	Token(ctx context.Context, id string) (Token, error)
	// Tokens lists every token, newest first.
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken marks a token revoked at at (errkind.NotFound; a token
	// revoked before keeps its first time and is no error).
	RevokeToken(ctx context.Context, id string, at time.Time) error
}

// Authenticate finds the principal a presented token stands for at now,
// or ErrBadToken.
func Authenticate(ctx context.Context, s TokenStore, presented string, now time.Time) (Principal, error) {
	id, secretPart, err := SplitToken(presented)
	if err != nil {
		return Principal{}, err
	}
	t, err := s.Token(ctx, id)
	if errors.Is(err, errkind.NotFound) {
		return Principal{}, ErrBadToken
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate token %s: %w", id, err)
	}
	if err := t.Check(secretPart, now); err != nil {
		return Principal{}, err
	}
	// A browser's session of an API token ends with that token.
	if parent, ok := strings.CutPrefix(t.CreatedBy, SessionPrefix); ok {
		pt, err := s.Token(ctx, parent)
		if errors.Is(err, errkind.NotFound) || (err == nil && !pt.Usable(now)) {
			return Principal{}, ErrBadToken
		}
		if err != nil {
			return Principal{}, fmt.Errorf("authenticate token %s: its API token %s: %w", id, parent, err)
		}
	}
	return t.Principal(), nil
}
