package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// SetConnection stores c as its organisation's connection profile (c.Org
// empty: the estate default), replacing any, in one transaction with the
// organisation's credential (organisations.credential, which
// set-credential sets too). The organisation and a named credential must
// exist (else errors wrapping errkind.NotFound); c is validated first. The
// credential is held (FOR KEY SHARE) until the commit, so a removal of it
// meanwhile waits and then finds it in use.
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
	now := stamp(s.now())
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if c.Credential != "" {
			if err := holdCredential(ctx, tx, c.Credential); err != nil {
				return err
			}
		}
		var orgID *int64
		credential := c.Credential // the default's; an organisation's is its own column
		if c.Org != "" {
			var id int64
			err := tx.QueryRow(ctx, `UPDATE organisations SET credential = $1 WHERE code = $2 RETURNING id`, c.Credential, c.Org).Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("organisation %s: %w", c.Org, errkind.NotFound)
			}
			if err != nil {
				return err
			}
			orgID, credential = &id, ""
			if _, err := tx.Exec(ctx, `DELETE FROM connection_profiles WHERE org_id = $1`, id); err != nil {
				return err
			}
		} else if _, err := tx.Exec(ctx, `DELETE FROM connection_profiles WHERE org_id IS NULL`); err != nil {
			return err
		}
		var ca []byte
		if len(c.CACert) > 0 {
			ca = c.CACert
		}
		_, err := tx.Exec(ctx, `INSERT INTO connection_profiles (org_id, executor, https, port, auth, allow_basic_without_tls,
			ca_cert, ca_name, options, credential, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			orgID, c.Executor, c.HTTPS, c.Port, c.Auth, c.AllowBasicWithoutTLS, ca, c.CAName, string(options), credential, now)
		if uniqueViolation(err) {
			// Another node set the same profile at the same moment.
			return fmt.Errorf("%w: %s was set meanwhile by another change; try again", errkind.Conflict, who)
		}
		return err
	})
	if err != nil {
		if errkind.Of(err) != "" {
			return err
		}
		return fmt.Errorf("set %s: %w", who, err)
	}
	c.UpdatedAt = now
	return nil
}

// holdCredential checks a credential exists and keeps it from being
// removed until the transaction ends.
func holdCredential(ctx context.Context, tx pgx.Tx, name string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM credentials WHERE name = $1 FOR KEY SHARE`, name).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("credential %s: %w", name, errkind.NotFound)
	}
	if err != nil {
		return fmt.Errorf("credential %s: %w", name, err)
	}
	return nil
}

// Connection returns an organisation's connection profile ("" the estate
// default), or an error wrapping errkind.NotFound when it has none.
func (s *Inventory) Connection(ctx context.Context, org string) (inventory.Connection, error) {
	org = inventory.NormaliseOrgCode(org)
	where, args := `WHERE p.org_id IS NULL`, []any(nil)
	if org != "" {
		where, args = `WHERE o.code = $1`, []any{org}
	}
	cs, err := queryConnections(ctx, s.pool, where, args...)
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
	return queryConnections(ctx, s.pool, "")
}

// ClearConnection removes an organisation's connection profile ("" the
// estate default), or fails with errkind.NotFound when there is none. An
// organisation's credential stays (set-credential CODE "" clears it); the
// default's goes with its profile.
func (s *Inventory) ClearConnection(ctx context.Context, org string) error {
	org = inventory.NormaliseOrgCode(org)
	q, args := `DELETE FROM connection_profiles WHERE org_id IS NULL`, []any(nil)
	if org != "" {
		q, args = `DELETE FROM connection_profiles WHERE org_id = (SELECT id FROM organisations WHERE code = $1)`, []any{org}
	}
	return removeOne(ctx, s.pool, connectionName(org), q, args...)
}

func queryConnections(ctx context.Context, q querier, where string, args ...any) ([]inventory.Connection, error) {
	rows, _ := q.Query(ctx, `SELECT coalesce(o.code, ''), p.executor, p.https, p.port, p.auth, p.allow_basic_without_tls,
		p.ca_cert, p.ca_name, p.options, CASE WHEN o.id IS NULL THEN p.credential ELSE o.credential END, p.updated_at
		FROM connection_profiles p LEFT JOIN organisations o ON o.id = p.org_id `+where+`
		ORDER BY o.code IS NOT NULL, o.code COLLATE "C"`, args...)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (inventory.Connection, error) {
		var c inventory.Connection
		var options string
		if err := row.Scan(&c.Org, &c.Executor, &c.HTTPS, &c.Port, &c.Auth, &c.AllowBasicWithoutTLS,
			&c.CACert, &c.CAName, &options, &c.Credential, &c.UpdatedAt); err != nil {
			return c, err
		}
		c.UpdatedAt = c.UpdatedAt.UTC()
		if err := json.Unmarshal([]byte(options), &c.Options); err != nil {
			return c, fmt.Errorf("%s: stored options: %w", connectionName(c.Org), err)
		}
		if len(c.Options) == 0 {
			c.Options = nil
		}
		return c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read connection profiles: %w", err)
	}
	return out, nil
}

// connectionName names a profile in messages.
func connectionName(org string) string {
	if org == "" {
		return "the default connection profile"
	}
	return "organisation " + org + "'s connection profile"
}
