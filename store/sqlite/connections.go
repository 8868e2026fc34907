package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/sqltx"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// SetConnection stores c as its organisation's connection profile (c.Org
// empty: the estate default), replacing any, in one transaction with the
// organisation's credential (organisations.credential, which
// set-credential sets too). The organisation and a named credential must
// exist (else errors wrapping errkind.NotFound); c is validated first.
func (s *Inventory) SetConnection(ctx context.Context, c *inventory.Connection) error {
	c.Normalise()
	if err := c.Validate(); err != nil {
		return err
	}
	who := connectionName(c.Org)
	options, err := json.Marshal(c.Options)
	if err != nil {
		return fmt.Errorf("%s: options: %w", who, err)
	}
	if c.Options == nil {
		options = []byte("{}")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set %s: %w", who, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if c.Credential != "" {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM credentials WHERE name = ?`, c.Credential).Scan(&n); err != nil {
			return fmt.Errorf("set %s: %w", who, err)
		}
		if n == 0 {
			return fmt.Errorf("credential %s: %w", c.Credential, errkind.NotFound)
		}
	}
	var orgID sql.NullInt64
	credential := c.Credential // the default's; an organisation's is its own column
	if c.Org != "" {
		err := tx.QueryRowContext(ctx, `SELECT id FROM organisations WHERE code = ?`, c.Org).Scan(&orgID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("organisation %s: %w", c.Org, errkind.NotFound)
		}
		if err != nil {
			return fmt.Errorf("set %s: %w", who, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE organisations SET credential = ? WHERE id = ?`, c.Credential, orgID); err != nil {
			return fmt.Errorf("set %s: %w", who, err)
		}
		credential = ""
		_, err = tx.ExecContext(ctx, `DELETE FROM connection_profiles WHERE org_id = ?`, orgID)
		if err != nil {
			return fmt.Errorf("set %s: %w", who, err)
		}
	} else if _, err := tx.ExecContext(ctx, `DELETE FROM connection_profiles WHERE org_id IS NULL`); err != nil {
		return fmt.Errorf("set %s: %w", who, err)
	}
	now := s.now()
	if _, err := tx.ExecContext(ctx, `INSERT INTO connection_profiles (org_id, executor, https, port, auth, allow_basic_without_tls,
		ca_cert, ca_name, options, credential, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		orgID, c.Executor, c.HTTPS, c.Port, c.Auth, c.AllowBasicWithoutTLS, nullBytes(c.CACert), c.CAName, string(options), credential, micros(now)); err != nil {
		return fmt.Errorf("set %s: %w", who, err)
	}
	if err := sqltx.Commit(ctx, tx); err != nil {
		return fmt.Errorf("set %s: %w", who, err)
	}
	c.UpdatedAt = fromMicros(sql.NullInt64{Int64: micros(now), Valid: true})
	return nil
}

// Connection returns an organisation's connection profile ("" the estate
// default), or an error wrapping errkind.NotFound when it has none.
func (s *Inventory) Connection(ctx context.Context, org string) (inventory.Connection, error) {
	org = inventory.NormaliseOrgCode(org)
	where, args := `WHERE p.org_id IS NULL`, []any(nil)
	if org != "" {
		where, args = `WHERE o.code = ?`, []any{org}
	}
	cs, err := queryConnections(ctx, s.db, where, args...)
	if err != nil {
		return inventory.Connection{}, err
	}
	if len(cs) == 0 {
		return inventory.Connection{}, fmt.Errorf("%s: %w", connectionName(org), errkind.NotFound)
	}
	return cs[0], nil
}

// Connections lists every connection profile: the estate default first,
// then the organisations' by code.
func (s *Inventory) Connections(ctx context.Context) ([]inventory.Connection, error) {
	return queryConnections(ctx, s.db, "")
}

// ClearConnection removes an organisation's connection profile ("" the
// estate default), or fails with errkind.NotFound when there is none. An
// organisation's credential stays (set-credential CODE "" clears it); the
// default's goes with its profile.
func (s *Inventory) ClearConnection(ctx context.Context, org string) error {
	org = inventory.NormaliseOrgCode(org)
	q, args := `DELETE FROM connection_profiles WHERE org_id IS NULL`, []any(nil)
	if org != "" {
		q, args = `DELETE FROM connection_profiles WHERE org_id = (SELECT id FROM organisations WHERE code = ?)`, []any{org}
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("clear %s: %w", connectionName(org), err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", connectionName(org), errkind.NotFound)
	}
	return nil
}

func queryConnections(ctx context.Context, db querier, where string, args ...any) ([]inventory.Connection, error) {
	rows, err := db.QueryContext(ctx, `SELECT COALESCE(o.code, ''), p.executor, p.https, p.port, p.auth, p.allow_basic_without_tls,
		p.ca_cert, p.ca_name, p.options, CASE WHEN o.id IS NULL THEN p.credential ELSE o.credential END, p.updated_at
		FROM connection_profiles p LEFT JOIN organisations o ON o.id = p.org_id `+where+`
		ORDER BY o.code IS NOT NULL, o.code`, args...)
	if err != nil {
		return nil, fmt.Errorf("read connection profiles: %w", err)
	}
	defer rows.Close()
	var out []inventory.Connection
	for rows.Next() {
		var c inventory.Connection
		var options string
		var updated sql.NullInt64
		if err := rows.Scan(&c.Org, &c.Executor, &c.HTTPS, &c.Port, &c.Auth, &c.AllowBasicWithoutTLS,
			&c.CACert, &c.CAName, &options, &c.Credential, &updated); err != nil {
			return nil, fmt.Errorf("read connection profiles: %w", err)
		}
		if err := json.Unmarshal([]byte(options), &c.Options); err != nil {
			return nil, fmt.Errorf("%s: stored options: %w", connectionName(c.Org), err)
		}
		if len(c.Options) == 0 {
			c.Options = nil
		}
		c.UpdatedAt = fromMicros(updated)
		out = append(out, c)
	}
	return out, rows.Err()
}

// connectionName names a profile in messages.
func connectionName(org string) string {
	if org == "" {
		return "the default connection profile"
	}
	return "organisation " + org + "'s connection profile"
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
