package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ringmaster-fleet/ringmaster/credential"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/sqltx"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Credentials keeps credentials with their secrets sealed, and the check
// value of the key that sealed them. It implements credential.Store.
type Credentials struct {
	db  *sql.DB
	now func() time.Time
	inv *Inventory // for the organisations that use a credential
}

var _ credential.Store = (*Credentials)(nil)

// AddCredential stores a new credential with its already sealed secret
// and the check value of the key that sealed it, in one transaction. While
// credentials are stored, the key must be theirs: a different check value
// is refused with an error wrapping errkind.Conflict, as is any when
// credentials are stored with none recorded (a database from before check
// values: RecordKeyCheck, once a key opens one of them, comes first). With
// no credentials stored, the check value is recorded (replacing any).
func (s *Credentials) AddCredential(ctx context.Context, name, username string, sealed, keyCheck []byte) error {
	if len(keyCheck) == 0 {
		return fmt.Errorf("add credential %s: no key check value: %w", name, errkind.Invalid)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add credential %s: %w", name, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	recorded, n, err := readKeyCheck(ctx, tx)
	if err != nil {
		return fmt.Errorf("add credential %s: %w", name, err)
	}
	switch {
	case n > 0 && recorded == nil:
		return fmt.Errorf("add credential %s: the %d stored credentials have no key check value recorded yet: %w", name, n, errkind.Conflict)
	case n > 0 && !bytes.Equal(recorded, keyCheck):
		return fmt.Errorf("add credential %s: the key is not the one the %d stored credentials were sealed with: %w", name, n, errkind.Conflict)
	case n == 0 && !bytes.Equal(recorded, keyCheck):
		if err := recordKeyCheck(ctx, tx, keyCheck, s.now()); err != nil {
			return fmt.Errorf("add credential %s: %w", name, err)
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO credentials (name, username, secret, created_at) VALUES (?, ?, ?, ?)`,
		name, username, sealed, micros(s.now()))
	if constraint(err) == errkind.Exists {
		return fmt.Errorf("credential %s: %w (remove it first to replace it)", name, errkind.Exists)
	}
	if err != nil {
		return fmt.Errorf("add credential %s: %w", name, err)
	}
	if err := sqltx.Commit(ctx, tx); err != nil {
		return fmt.Errorf("add credential %s: %w", name, err)
	}
	return nil
}

// KeyCheck returns the check value of the key the stored credentials are
// sealed with (nil when none is recorded) and how many credentials are
// stored.
func (s *Credentials) KeyCheck(ctx context.Context) (check []byte, credentials int, err error) {
	return readKeyCheck(ctx, s.db)
}

// RecordKeyCheck records the check value of a key that opened a stored
// credential, when none is recorded: how a database from before check
// values gets one. A different value already recorded, while credentials
// are stored, is an error wrapping errkind.Conflict.
func (s *Credentials) RecordKeyCheck(ctx context.Context, check []byte) error {
	if len(check) == 0 {
		return fmt.Errorf("record key check value: none given: %w", errkind.Invalid)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record key check value: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	recorded, n, err := readKeyCheck(ctx, tx)
	if err != nil {
		return fmt.Errorf("record key check value: %w", err)
	}
	switch {
	case bytes.Equal(recorded, check):
		return nil
	case recorded != nil && n > 0:
		return fmt.Errorf("record key check value: the key is not the one the %d stored credentials were sealed with: %w", n, errkind.Conflict)
	}
	if err := recordKeyCheck(ctx, tx, check, s.now()); err != nil {
		return fmt.Errorf("record key check value: %w", err)
	}
	return sqltx.Commit(ctx, tx)
}

func readKeyCheck(ctx context.Context, q querier) (check []byte, credentials int, err error) {
	err = q.QueryRowContext(ctx, `SELECT (SELECT key_check FROM credential_key WHERE id = 1), (SELECT COUNT(*) FROM credentials)`).
		Scan(&check, &credentials)
	if err != nil {
		return nil, 0, fmt.Errorf("read key check value: %w", err)
	}
	return check, credentials, nil
}

func recordKeyCheck(ctx context.Context, tx *sql.Tx, check []byte, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO credential_key (id, key_check, recorded_at) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET key_check = excluded.key_check, recorded_at = excluded.recorded_at`, check, micros(now))
	return err
}

// Credential returns one stored credential.
func (s *Credentials) Credential(ctx context.Context, name string) (credential.Stored, error) {
	var c credential.Stored
	var created sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT name, username, secret, created_at FROM credentials WHERE name = ?`, name).
		Scan(&c.Name, &c.Username, &c.Sealed, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("credential %s: %w", name, errkind.NotFound)
	}
	if err != nil {
		return c, fmt.Errorf("credential %s: %w", name, err)
	}
	c.CreatedAt = fromMicros(created)
	return c, nil
}

// Credentials lists every credential with where it is used; secrets stay sealed.
func (s *Credentials) Credentials(ctx context.Context) ([]credential.Stored, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT c.name, c.username, c.created_at,
		(SELECT COUNT(*) FROM devices d WHERE d.credential = c.name)
		FROM credentials c ORDER BY c.name`)
	if err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	var out []credential.Stored
	for rows.Next() {
		var c credential.Stored
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
	orgs, err := s.inv.Organisations(ctx)
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

// RemoveCredential deletes a credential no organisation, device or the
// default connection profile uses.
func (s *Credentials) RemoveCredential(ctx context.Context, name string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	var orgs, devices, byDefault int
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM organisations WHERE credential = ?), (SELECT COUNT(*) FROM devices WHERE credential = ?),
		(SELECT COUNT(*) FROM connection_profiles WHERE org_id IS NULL AND credential = ?)`,
		name, name, name).Scan(&orgs, &devices, &byDefault); err != nil {
		return fmt.Errorf("remove credential %s: %w", name, err)
	}
	switch {
	case byDefault > 0:
		return fmt.Errorf("%w: credential %s is the default connection profile's (and used by %d organisation(s) and %d device(s))", errkind.InUse, name, orgs, devices)
	case orgs+devices > 0:
		return fmt.Errorf("%w: credential %s is used by %d organisation(s) and %d device(s)", errkind.InUse, name, orgs, devices)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM credentials WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("remove credential %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("credential %s: %w", name, errkind.NotFound)
	}
	return sqltx.Commit(ctx, tx)
}

// SetOrganisationCredential makes an organisation's devices use a
// credential by default ("" clears it). The credential must exist.
func (s *Credentials) SetOrganisationCredential(ctx context.Context, code, name string) error {
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
		return fmt.Errorf("organisation %s: %w", code, errkind.NotFound)
	}
	return nil
}
