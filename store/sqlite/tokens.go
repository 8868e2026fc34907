package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/tokenrow"
)

// Tokens keeps the API tokens (their secrets' hashes, never the secrets),
// its table versioned with the audit trail's (access_migrations). It
// implements access.TokenStore.
type Tokens struct {
	db  *sql.DB
	rdb *sql.DB
}

var _ access.TokenStore = (*Tokens)(nil)

// Tokens is the API token store, its table migrated on first use
// (access_migrations, with the audit trail's).
func (d *DB) Tokens(ctx context.Context) (*Tokens, error) {
	if err := d.ensure(ctx, accessMigrations); err != nil {
		return nil, fmt.Errorf("token store: %w", err)
	}
	return &Tokens{db: d.db, rdb: d.rdb}, nil
}

const tokenColumns = `id, subject, role, scope, hash, note, created_by, created_at, expires_at, revoked_at`

// CreateToken stores t: a token that tokenrow.Check refuses is an error
// wrapping errkind.Invalid, an id taken one wrapping errkind.Exists.
func (s *Tokens) CreateToken(ctx context.Context, t *access.Token) error {
	if err := tokenrow.Check(t); err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO api_tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Subject, string(t.Role), t.Scope.String(), t.Hash, t.Note, t.CreatedBy,
		micros(t.CreatedAt), micros(t.ExpiresAt), nullMicros(t.RevokedAt))
	if constraint(err) == errkind.Exists {
		return fmt.Errorf("token %s: %w", t.ID, errkind.Exists)
	}
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	return nil
}

// scanToken reads a row of tokenColumns, its role and scope as stored.
func scanToken(row interface{ Scan(...any) error }) (t access.Token, role, scope string, err error) {
	var created, expires int64
	var revoked sql.NullInt64
	err = row.Scan(&t.ID, &t.Subject, &role, &scope, &t.Hash, &t.Note, &t.CreatedBy, &created, &expires, &revoked)
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = time.UnixMicro(created).UTC(), time.UnixMicro(expires).UTC(), fromMicros(revoked)
	return t, role, scope, err
}

// Token returns one token by id (errkind.NotFound). A stored role or
// scope that no longer parses is an error naming the token.
func (s *Tokens) Token(ctx context.Context, id string) (access.Token, error) {
	t, role, scope, err := scanToken(s.rdb.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
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
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []access.Token
	for rows.Next() {
		t, role, scope, err := scanToken(rows)
		if err == nil {
			t.Role, t.Scope, err = tokenrow.Parse(t.ID, role, scope)
		}
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
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
	res, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, micros(at), id)
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("token %s: %w", id, errkind.NotFound)
	}
	return nil
}
