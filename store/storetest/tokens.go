package storetest

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// Tokens runs the API token store's conformance suite: every field read
// back as written (times to the microsecond in UTC, the hash's bytes,
// scopes of every kind), an id taken refused, unknown ids not found,
// malformed tokens refused and not stored, a revocation keeping its first
// time, the list newest first, and a token made by access.NewToken
// authenticating through the store until it is revoked.
func Tokens(t *testing.T, open Open) {
	t.Run("RoundTrip", func(t *testing.T) { tokensRoundTrip(t, open) })
	t.Run("Refused", func(t *testing.T) { tokensRefused(t, open) })
	t.Run("Revoke", func(t *testing.T) { tokensRevoke(t, open) })
	t.Run("Order", func(t *testing.T) { tokensOrder(t, open) })
	t.Run("Authenticate", func(t *testing.T) { tokensAuthenticate(t, open) })
}

// storedToken is tok as a store returns it: its times in UTC to the
// microsecond.
func storedToken(tok access.Token) access.Token {
	tok.CreatedAt = tok.CreatedAt.UTC().Truncate(time.Microsecond)
	tok.ExpiresAt = tok.ExpiresAt.UTC().Truncate(time.Microsecond)
	if !tok.RevokedAt.IsZero() {
		tok.RevokedAt = tok.RevokedAt.UTC().Truncate(time.Microsecond)
	}
	return tok
}

// allBytes is a hash holding a NUL, high bytes and every byte between:
// stored as bytes, not text.
func allBytes() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i * 8)
	}
	b[31] = 0xff
	return b
}

// sampleTokens are a token of each kind of scope, one of them stored
// revoked; their times are in a zone other than UTC and finer than a
// microsecond.
func sampleTokens() []access.Token {
	at := zoned.Add(123456789 * time.Nanosecond)
	return []access.Token{
		{ID: "0123456789ab", Subject: "ci-pipeline", Role: access.Operator, Scope: access.EstateScope(), Hash: allBytes(),
			Note: "deploys from CI — nightly", CreatedBy: "alice@ops-host", CreatedAt: at, ExpiresAt: at.Add(90 * 24 * time.Hour)},
		{ID: "abcdef012345", Subject: "north dashboard", Role: access.Viewer, Scope: access.RegionScope("north"), Hash: bytes.Repeat([]byte{0xa5}, 32),
			CreatedAt: at.Add(time.Hour), ExpiresAt: at.Add(30 * 24 * time.Hour)},
		{ID: "fedcba987654", Subject: "trust admins", Role: access.Admin, Scope: access.OrgScope("RYY", "rxx"), Hash: bytes.Repeat([]byte{0}, 32),
			Note: "two trusts", CreatedBy: "bob", CreatedAt: at.Add(2 * time.Hour), ExpiresAt: at.Add(time.Minute + 2*time.Hour),
			RevokedAt: at.Add(2*time.Hour + 30*time.Second + 7*time.Nanosecond)},
	}
}

func tokensRoundTrip(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Tokens
	if ts, err := s.Tokens(ctx); err != nil || len(ts) != 0 {
		t.Fatalf("a new store lists %v %v", ts, err)
	}
	samples := sampleTokens()
	for i := range samples {
		if err := s.CreateToken(ctx, &samples[i]); err != nil {
			t.Fatalf("create %s: %v", samples[i].ID, err)
		}
	}
	for _, want := range samples {
		got, err := s.Token(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if w := storedToken(want); !reflect.DeepEqual(got, w) {
			t.Errorf("token %s reads back as\n%+v\nwant\n%+v", want.ID, got, w)
		}
		if got.Scope.String() != want.Scope.String() {
			t.Errorf("token %s: scope %s, want %s", want.ID, got.Scope, want.Scope)
		}
		for _, tm := range []time.Time{got.CreatedAt, got.ExpiresAt} {
			if tm.Location() != time.UTC {
				t.Errorf("token %s: time %s not in UTC", want.ID, tm)
			}
		}
	}
	if got, _ := s.Token(ctx, "fedcba987654"); got.Scope.String() != "org:RXX,RYY" {
		t.Errorf("an organisations' scope reads back as %s, want org:RXX,RYY", got.Scope)
	}
}

func tokensRefused(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Tokens
	first := sampleTokens()[0]
	if err := s.CreateToken(ctx, &first); err != nil {
		t.Fatal(err)
	}
	taken := sampleTokens()[1]
	taken.ID = first.ID
	if err := s.CreateToken(ctx, &taken); !errors.Is(err, errkind.Exists) {
		t.Fatalf("create under an id taken = %v, want Exists", err)
	}
	bad := func(change func(*access.Token)) *access.Token {
		tok := sampleTokens()[1]
		change(&tok)
		return &tok
	}
	for _, c := range []struct {
		name string
		tok  *access.Token
	}{
		{"none", nil},
		{"no id", bad(func(t *access.Token) { t.ID = "" })},
		{"no scope", bad(func(t *access.Token) { t.Scope = access.Scope{} })},
		{"an unknown role", bad(func(t *access.Token) { t.Role = "root" })},
		{"a role not as written", bad(func(t *access.Token) { t.Role = "Admin" })},
		{"no hash", bad(func(t *access.Token) { t.Hash = nil })},
		{"no expiry", bad(func(t *access.Token) { t.ExpiresAt = time.Time{} })},
		{"a NUL in its note", bad(func(t *access.Token) { t.Note = "a\x00b" })},
		{"a subject not UTF-8", bad(func(t *access.Token) { t.Subject = "caf\xe9" })},
	} {
		if err := s.CreateToken(ctx, c.tok); !errors.Is(err, errkind.Invalid) {
			t.Errorf("create a token with %s = %v, want Invalid", c.name, err)
		}
	}
	ts, err := s.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || !reflect.DeepEqual(ts[0], storedToken(first)) {
		t.Errorf("after refused creates the store lists %+v, want only %s as created", ts, first.ID)
	}
	if _, err := s.Token(ctx, "999999999999"); !errors.Is(err, errkind.NotFound) {
		t.Errorf("read an unknown token = %v, want NotFound", err)
	}
	if err := s.RevokeToken(ctx, "999999999999", zoned); !errors.Is(err, errkind.NotFound) {
		t.Errorf("revoke an unknown token = %v, want NotFound", err)
	}
	if err := s.RevokeToken(ctx, first.ID, time.Time{}); !errors.Is(err, errkind.Invalid) {
		t.Errorf("revoke at no time = %v, want Invalid", err)
	}
	if got, err := s.Token(ctx, first.ID); err != nil || !got.RevokedAt.IsZero() {
		t.Errorf("after a refused revocation: %+v %v, want it not revoked", got, err)
	}
}

func tokensRevoke(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Tokens
	samples := sampleTokens()
	for i := range samples {
		if err := s.CreateToken(ctx, &samples[i]); err != nil {
			t.Fatal(err)
		}
	}
	first := zoned.Add(24*time.Hour + 999*time.Nanosecond)
	if err := s.RevokeToken(ctx, samples[0].ID, first); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, samples[0].ID, first.Add(time.Hour)); err != nil {
		t.Fatalf("revoke twice = %v, want no error", err)
	}
	got, err := s.Token(ctx, samples[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := first.Truncate(time.Microsecond); !sameUTC(got.RevokedAt, want) || got.Usable(first) {
		t.Errorf("revoked at %s then again: RevokedAt %s, want the first time %s (in UTC), not usable", first, got.RevokedAt, want)
	}
	// One stored revoked keeps its time too.
	if err := s.RevokeToken(ctx, samples[2].ID, first); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Token(ctx, samples[2].ID); err != nil || !got.RevokedAt.Equal(samples[2].RevokedAt.Truncate(time.Microsecond)) {
		t.Errorf("a token stored revoked, revoked again: %+v %v, want its stored time", got, err)
	}
	// Revoking one leaves the others as they were.
	if got, err := s.Token(ctx, samples[1].ID); err != nil || !reflect.DeepEqual(got, storedToken(samples[1])) {
		t.Errorf("another token after a revocation: %+v %v", got, err)
	}
}

func tokensOrder(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Tokens
	mk := func(id string, created time.Time) access.Token {
		return access.Token{ID: id, Subject: "s-" + id, Role: access.Viewer, Scope: access.EstateScope(), Hash: []byte{1},
			CreatedAt: created, ExpiresAt: created.Add(time.Hour)}
	}
	// Created out of order, two at the same moment (then by id).
	ts := []access.Token{mk("000000000003", start.Add(time.Minute)), mk("00000000000b", start.Add(2*time.Minute)),
		mk("000000000001", start), mk("00000000000a", start.Add(2*time.Minute)), mk("000000000002", start.Add(time.Microsecond))}
	for i := range ts {
		if err := s.CreateToken(ctx, &ts[i]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tok := range got {
		ids = append(ids, tok.ID)
	}
	if want := []string{"00000000000a", "00000000000b", "000000000003", "000000000002", "000000000001"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("tokens listed %v, want newest first, then by id: %v", ids, want)
	}
}

func tokensAuthenticate(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Tokens
	random := bytes.NewReader(bytes.Repeat([]byte{7, 42, 0xfe}, 20))
	secret, tok, err := access.NewToken(random, "build-bot", access.Approver, access.RegionScope("south"), zoned, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tok.Note, tok.CreatedBy = "release approvals", "carol"
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	now := zoned.Add(time.Hour)
	p, err := access.Authenticate(ctx, s, secret, now)
	if err != nil {
		t.Fatalf("authenticate with the secret NewToken gave: %v", err)
	}
	if p.Subject != "build-bot" || p.Role != access.Approver || p.Scope.String() != "region:south" || p.TokenID != tok.ID {
		t.Errorf("principal %+v", p)
	}
	if _, err := access.Authenticate(ctx, s, secret, zoned.Add(25*time.Hour)); !errors.Is(err, access.ErrBadToken) {
		t.Errorf("authenticate after expiry = %v, want ErrBadToken", err)
	}
	if err := s.RevokeToken(ctx, tok.ID, now); err != nil {
		t.Fatal(err)
	}
	if _, err := access.Authenticate(ctx, s, secret, now.Add(time.Second)); !errors.Is(err, access.ErrBadToken) {
		t.Errorf("authenticate after revocation = %v, want ErrBadToken", err)
	}
	if _, err := access.Authenticate(ctx, s, access.TokenPrefix+"999999999999_"+secret[len(secret)-43:], now); !errors.Is(err, access.ErrBadToken) {
		t.Errorf("authenticate an unknown token = %v, want ErrBadToken", err)
	}
}
