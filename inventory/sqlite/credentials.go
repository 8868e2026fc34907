package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// StoredCredential is a credential as stored: the secret stays sealed.
type StoredCredential struct {
	Name, Username string
	Sealed         []byte
	CreatedAt      time.Time
	Orgs           []string // organisations that use it by default
	Devices        int      // devices that name it themselves
}

// AddCredential stores a new credential with its already sealed secret.
func (s *Store) AddCredential(ctx context.Context, name, username string, sealed []byte) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO credentials (name, username, secret, created_at) VALUES (?, ?, ?, ?)`,
		name, username, sealed, micros(s.now()))
	if isConstraint(err, errUnique) {
		return fmt.Errorf("credential %s: %w (remove it first to replace it)", name, inventory.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add credential %s: %w", name, err)
	}
	return nil
}

// Credential returns one stored credential.
func (s *Store) Credential(ctx context.Context, name string) (StoredCredential, error) {
	var c StoredCredential
	var created sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT name, username, secret, created_at FROM credentials WHERE name = ?`, name).
		Scan(&c.Name, &c.Username, &c.Sealed, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("credential %s: %w", name, inventory.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("credential %s: %w", name, err)
	}
	c.CreatedAt = fromMicros(created)
	return c, nil
}

// Credentials lists every credential with where it is used; secrets stay sealed.
func (s *Store) Credentials(ctx context.Context) ([]StoredCredential, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT c.name, c.username, c.created_at,
		(SELECT COUNT(*) FROM devices d WHERE d.credential = c.name)
		FROM credentials c ORDER BY c.name`)
	if err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	var out []StoredCredential
	for rows.Next() {
		var c StoredCredential
		var created sql.NullInt64
		if err := rows.Scan(&c.Name, &c.Username, &created, &c.Devices); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list credentials: %w", err)
		}
		c.CreatedAt = fromMicros(created)
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	orgs, err := s.Organisations(ctx)
	if err != nil {
		return nil, err
	}
	for i := range out {
		for _, o := range orgs {
			if o.Credential == out[i].Name {
				out[i].Orgs = append(out[i].Orgs, o.Code)
			}
		}
	}
	return out, nil
}

// RemoveCredential deletes a credential no organisation or device uses.
func (s *Store) RemoveCredential(ctx context.Context, name string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	var orgs, devices int
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM organisations WHERE credential = ?), (SELECT COUNT(*) FROM devices WHERE credential = ?)`,
		name, name).Scan(&orgs, &devices); err != nil {
		return fmt.Errorf("remove credential %s: %w", name, err)
	}
	if orgs+devices > 0 {
		return fmt.Errorf("%w: credential %s is used by %d organisation(s) and %d device(s)", inventory.ErrInUse, name, orgs, devices)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM credentials WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("remove credential %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("credential %s: %w", name, inventory.ErrNotFound)
	}
	return tx.Commit()
}

// SetOrganisationCredential makes an organisation's devices use a
// credential by default ("" clears it). The credential must exist.
func (s *Store) SetOrganisationCredential(ctx context.Context, code, name string) error {
	code = inventory.NormaliseOrgCode(code)
	if name != "" {
		if _, err := s.Credential(ctx, name); err != nil {
			return err
		}
	}
	res, err := s.db.ExecContext(ctx, `UPDATE organisations SET credential = ? WHERE code = ?`, name, code)
	if err != nil {
		return fmt.Errorf("organisation %s: %w", code, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("organisation %s: %w", code, inventory.ErrNotFound)
	}
	return nil
}
