package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ringmaster-fleet/ringmaster/credential"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Credentials keeps credentials with their secrets sealed by the caller
// (the store never sees one in clear), and the check value of the key that
// sealed them. Its tables are the inventory's (migrations/inventory), as
// organisations and connection profiles name credentials. It implements
// credential.Store.
type Credentials struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

var _ credential.Store = (*Credentials)(nil)

// keyLock is the advisory lock under which the key check value is read
// and written with the credentials it covers ("rmkeychk").
const keyLock int64 = 0x726d6b6579636b

// AddCredential stores a new credential with its already sealed secret
// and the check value of the key that sealed it, in one transaction. While
// credentials are stored, the key must be theirs: a different check value
// is refused with an error wrapping errkind.Conflict, as is any when
// credentials are stored with none recorded (RecordKeyCheck, once a key
// opens one of them, comes first). With no credentials stored, the check
// value is recorded (replacing any). Nodes adding credentials at once do
// so one after the other (an advisory lock), so two keys cannot both be
// taken for the first.
func (s *Credentials) AddCredential(ctx context.Context, name, username string, sealed, keyCheck []byte) error {
	if len(keyCheck) == 0 {
		return fmt.Errorf("add credential %s: no key check value: %w", name, errkind.Invalid)
	}
	now := stamp(s.now())
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		recorded, n, err := lockKeyCheck(ctx, tx)
		if err != nil {
			return fmt.Errorf("add credential %s: %w", name, err)
		}
		switch {
		case n > 0 && recorded == nil:
			return fmt.Errorf("add credential %s: the %d stored credentials have no key check value recorded yet: %w", name, n, errkind.Conflict)
		case n > 0 && !bytes.Equal(recorded, keyCheck):
			return fmt.Errorf("add credential %s: the key is not the one the %d stored credentials were sealed with: %w", name, n, errkind.Conflict)
		case n == 0 && !bytes.Equal(recorded, keyCheck):
			if err := recordKeyCheck(ctx, tx, keyCheck, now); err != nil {
				return fmt.Errorf("add credential %s: %w", name, err)
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO credentials (name, username, secret, created_at) VALUES ($1, $2, $3, $4)`,
			name, username, sealed, now)
		if uniqueViolation(err) {
			return fmt.Errorf("credential %s: %w (remove it first to replace it)", name, errkind.Exists)
		}
		if err != nil {
			return fmt.Errorf("add credential %s: %w", name, err)
		}
		return nil
	})
}

// KeyCheck returns the check value of the key the stored credentials are
// sealed with (nil when none is recorded) and how many credentials are
// stored.
func (s *Credentials) KeyCheck(ctx context.Context) (check []byte, credentials int, err error) {
	return readKeyCheck(ctx, s.pool)
}

// RecordKeyCheck records the check value of a key that opened a stored
// credential, when none is recorded: how a database from before check
// values gets one. A different value already recorded, while credentials
// are stored, is an error wrapping errkind.Conflict.
func (s *Credentials) RecordKeyCheck(ctx context.Context, check []byte) error {
	if len(check) == 0 {
		return fmt.Errorf("record key check value: none given: %w", errkind.Invalid)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		recorded, n, err := lockKeyCheck(ctx, tx)
		if err != nil {
			return fmt.Errorf("record key check value: %w", err)
		}
		switch {
		case bytes.Equal(recorded, check):
			return nil
		case recorded != nil && n > 0:
			return fmt.Errorf("record key check value: the key is not the one the %d stored credentials were sealed with: %w", n, errkind.Conflict)
		}
		if err := recordKeyCheck(ctx, tx, check, stamp(s.now())); err != nil {
			return fmt.Errorf("record key check value: %w", err)
		}
		return nil
	})
}

// lockKeyCheck takes keyLock for the transaction and reads the key check
// value and how many credentials are stored.
func lockKeyCheck(ctx context.Context, tx pgx.Tx) ([]byte, int, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, keyLock); err != nil {
		return nil, 0, fmt.Errorf("lock key check value: %w", err)
	}
	return readKeyCheck(ctx, tx)
}

func readKeyCheck(ctx context.Context, q querier) (check []byte, credentials int, err error) {
	err = q.QueryRow(ctx, `SELECT (SELECT key_check FROM credential_key WHERE id = 1), (SELECT count(*) FROM credentials)`).
		Scan(&check, &credentials)
	if err != nil {
		return nil, 0, fmt.Errorf("read key check value: %w", err)
	}
	return check, credentials, nil
}

func recordKeyCheck(ctx context.Context, tx pgx.Tx, check []byte, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO credential_key (id, key_check, recorded_at) VALUES (1, $1, $2)
		ON CONFLICT (id) DO UPDATE SET key_check = excluded.key_check, recorded_at = excluded.recorded_at`, check, now)
	return err
}

// Credential returns one stored credential.
func (s *Credentials) Credential(ctx context.Context, name string) (credential.Stored, error) {
	var c credential.Stored
	err := s.pool.QueryRow(ctx, `SELECT name, username, secret, created_at FROM credentials WHERE name = $1`, name).
		Scan(&c.Name, &c.Username, &c.Sealed, &c.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("credential %s: %w", name, errkind.NotFound)
	}
	if err != nil {
		return c, fmt.Errorf("credential %s: %w", name, err)
	}
	c.CreatedAt = c.CreatedAt.UTC()
	return c, nil
}

// Credentials lists every credential, by name, with the organisations
// that use it and how many devices name it; secrets stay sealed.
func (s *Credentials) Credentials(ctx context.Context) ([]credential.Stored, error) {
	rows, _ := s.pool.Query(ctx, `SELECT c.name, c.username, c.created_at,
			(SELECT count(*) FROM devices d WHERE d.credential = c.name AND d.credential <> ''), -- devices_credential's predicate: an index read, not 1.3M rows per credential
			coalesce((SELECT array_agg(o.code ORDER BY o.code COLLATE "C") FROM organisations o WHERE o.credential = c.name), '{}')
		FROM credentials c ORDER BY c.name COLLATE "C"`)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (credential.Stored, error) {
		var c credential.Stored
		err := row.Scan(&c.Name, &c.Username, &c.CreatedAt, &c.Devices, &c.Orgs)
		if len(c.Orgs) == 0 {
			c.Orgs = nil
		}
		c.CreatedAt = c.CreatedAt.UTC()
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	return out, nil
}

// RemoveCredential deletes a credential no organisation, device or the
// default connection profile uses. The credential is locked first, so a
// change that makes something use it (SetOrganisationCredential,
// SetConnection hold it) either finishes before the uses are counted or
// finds it gone.
func (s *Credentials) RemoveCredential(ctx context.Context, name string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `SELECT id FROM credentials WHERE name = $1 FOR UPDATE`, name).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("credential %s: %w", name, errkind.NotFound)
		}
		if err != nil {
			return fmt.Errorf("remove credential %s: %w", name, err)
		}
		var orgs, devices, byDefault int
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM organisations WHERE credential = $1),
				(SELECT count(*) FROM devices WHERE credential = $1),
				(SELECT count(*) FROM connection_profiles WHERE org_id IS NULL AND credential = $1)`,
			name).Scan(&orgs, &devices, &byDefault); err != nil {
			return fmt.Errorf("remove credential %s: %w", name, err)
		}
		switch {
		case byDefault > 0:
			return fmt.Errorf("%w: credential %s is the default connection profile's (and used by %d organisation(s) and %d device(s))", errkind.InUse, name, orgs, devices)
		case orgs+devices > 0:
			return fmt.Errorf("%w: credential %s is used by %d organisation(s) and %d device(s)", errkind.InUse, name, orgs, devices)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM credentials WHERE id = $1`, id); err != nil {
			return fmt.Errorf("remove credential %s: %w", name, err)
		}
		return nil
	})
}

// SetOrganisationCredential makes an organisation's devices use a
// credential by default ("" clears it). The credential must exist; it is
// held until the change commits, so a removal meanwhile finds it in use.
func (s *Credentials) SetOrganisationCredential(ctx context.Context, code, name string) error {
	code = inventory.NormaliseOrgCode(code)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if name != "" {
			if err := holdCredential(ctx, tx, name); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `UPDATE organisations SET credential = $1 WHERE code = $2`, name, code)
		if err != nil {
			return fmt.Errorf("organisation %s: %w", code, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("organisation %s: %w", code, errkind.NotFound)
		}
		return nil
	})
}
