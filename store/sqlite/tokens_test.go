package sqlite_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// TestTokenUnreadable: a stored token whose role or scope no longer parses
// (written by hand, or by a version with other roles) is an error naming
// it, from Token and Tokens alike, and never taken for one not found.
func TestTokenUnreadable(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, func() time.Time { return testNow })
	s, err := db.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok := access.Token{ID: "0123456789ab", Subject: "ci", Role: access.Operator, Scope: access.EstateScope(), Hash: []byte{1, 2},
		CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}
	if err := s.CreateToken(ctx, &tok); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE api_tokens SET role = 'root'`, `UPDATE api_tokens SET role = 'viewer', scope = 'org:'`} {
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
		_, err := s.Token(ctx, tok.ID)
		if err == nil || errors.Is(err, errkind.NotFound) || !strings.Contains(err.Error(), tok.ID) {
			t.Errorf("after %s: Token = %v, want an error naming %s", q, err, tok.ID)
		}
		if _, err := s.Tokens(ctx); err == nil || !strings.Contains(err.Error(), tok.ID) {
			t.Errorf("after %s: Tokens = %v, want an error naming %s", q, err, tok.ID)
		}
		if _, err := access.Authenticate(ctx, s, access.TokenPrefix+tok.ID+"_"+strings.Repeat("x", 43), testNow); err == nil || errors.Is(err, access.ErrBadToken) {
			t.Errorf("after %s: Authenticate = %v, want the store's error, not a bad token", q, err)
		}
	}
}
