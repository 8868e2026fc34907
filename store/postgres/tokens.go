package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/tokenrow"
)

// Tokens keeps the API tokens (their secrets' hashes, never the secrets),
// its table versioned with the audit trail's (access_migrations). It
// implements access.TokenStore.
type Tokens struct {
	pool *pgxpool.Pool
}

var _ access.TokenStore = (*Tokens)(nil)

// Tokens is the API token store.
func (d *DB) Tokens() *Tokens { return d.tokens }

const tokenColumns = `id, subject, role, scope, hash, note, created_by, created_at, expires_at, revoked_at`

// CreateToken stores t: a token that tokenrow.Check refuses is an error
// wrapping errkind.Invalid, an id taken one wrapping errkind.Exists.
func (s *Tokens) CreateToken(ctx context.Context, t *access.Token) error {
	if err := tokenrow.Check(t); err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO api_tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		t.ID, t.Subject, string(t.Role), t.Scope.String(), t.Hash, t.Note, t.CreatedBy,
		stamp(t.CreatedAt), stamp(t.ExpiresAt), nullTime(t.RevokedAt))
	if uniqueViolation(err) {
		return fmt.Errorf("token %s: %w", t.ID, errkind.Exists)
	}
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	return nil
}

// scanToken reads a row of tokenColumns, its role and scope as stored.
func scanToken(row pgx.Row) (t access.Token, role, scope string, err error) {
	var revoked *time.Time
	err = row.Scan(&t.ID, &t.Subject, &role, &scope, &t.Hash, &t.Note, &t.CreatedBy, &t.CreatedAt, &t.ExpiresAt, &revoked)
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC(), fromNull(revoked)
	return t, role, scope, err
}

// Token returns one token by id (errkind.NotFound). A stored role or
// scope that no longer parses is an error naming the token.
func (s *Tokens) Token(ctx context.Context, id string) (access.Token, error) {
	t, role, scope, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return access.Token{}, fmt.Errorf("token %s: %w", id, errkind.NotFound)
	}
	if err != nil {
		return access.Token{}, fmt.Errorf("token %s: %w", id, err)
	}
	if t.Role, t.Scope, err = tokenrow.Parse(t.ID, role, scope); err != nil {
		return access.Token{}, err
	}
	return t, nil
}

// Tokens lists every token, newest first (by creation, then id). A
// stored role or scope that no longer parses is an error naming the
// token.
func (s *Tokens) Tokens(ctx context.Context) ([]access.Token, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at DESC, id COLLATE "C"`)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (access.Token, error) {
		t, role, scope, err := scanToken(row)
		if err == nil {
			t.Role, t.Scope, err = tokenrow.Parse(t.ID, role, scope)
		}
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken marks a token revoked at at; one revoked before keeps its
// first time, and is no error. An unknown id is an error wrapping
// errkind.NotFound; a zero at one wrapping errkind.Invalid.
func (s *Tokens) RevokeToken(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("revoke token %s: no time given: %w", id, errkind.Invalid)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`, stamp(at), id)
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("token %s: %w", id, errkind.NotFound)
	}
	return nil
}
