package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/sqltx"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Inventory is the store of organisations and devices, with the rollup
// reports read (devices alike counted per organisation, site, build and
// watched updates, kept exact in the transaction that changes a device).
// It implements inventory.Store.
type Inventory struct {
	db       *sql.DB
	rdb      *sql.DB // read-only connections, for scans and look-ups
	group    *writeGroup
	now      func() time.Time
	log      *slog.Logger
	cacheKiB int
}

var _ inventory.Store = (*Inventory)(nil)

// CreateOrganisation stores a new organisation after validating it.
func (s *Inventory) CreateOrganisation(ctx context.Context, o *inventory.Organisation) error {
	return createOrg(ctx, s.db, o, s.now())
}

func createOrg(ctx context.Context, db execer, o *inventory.Organisation, now time.Time) error {
	o.Normalise()
	if err := o.Validate(); err != nil {
		return err
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = now
	}
	_, err := db.ExecContext(ctx, `INSERT INTO organisations (code, name, time_zone, tags, created_at) VALUES (?, ?, ?, ?, ?)`,
		o.Code, o.Name, o.TimeZone, strings.Join(o.Tags, ","), micros(o.CreatedAt))
	if constraint(err) == errkind.Exists {
		return fmt.Errorf("organisation %s: %w", o.Code, errkind.Exists)
	}
	if err != nil {
		return fmt.Errorf("create organisation %s: %w", o.Code, err)
	}
	return nil
}

// Organisation returns one organisation by code.
func (s *Inventory) Organisation(ctx context.Context, code string) (inventory.Organisation, error) {
	code = inventory.NormaliseOrgCode(code)
	orgs, err := queryOrgs(ctx, s.db, `WHERE code = ?`, code)
	if err != nil {
		return inventory.Organisation{}, err
	}
	if len(orgs) == 0 {
		return inventory.Organisation{}, fmt.Errorf("organisation %s: %w", code, errkind.NotFound)
	}
	return orgs[0].Organisation, nil
}

// Organisations lists every organisation, by code.
func (s *Inventory) Organisations(ctx context.Context) ([]inventory.Organisation, error) {
	rows, err := queryOrgs(ctx, s.rdb, "")
	if err != nil {
		return nil, err
	}
	out := make([]inventory.Organisation, len(rows))
	for i, r := range rows {
		out[i] = r.Organisation
	}
	return out, nil
}

type orgRow struct {
	id int64
	inventory.Organisation
}

func queryOrgs(ctx context.Context, db execer, where string, args ...any) ([]orgRow, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, code, name, time_zone, tags, credential, created_at FROM organisations `+where+` ORDER BY code`, args...)
	if err != nil {
		return nil, fmt.Errorf("list organisations: %w", err)
	}
	defer rows.Close()
	var out []orgRow
	for rows.Next() {
		var r orgRow
		var tags string
		var created sql.NullInt64
		if err := rows.Scan(&r.id, &r.Code, &r.Name, &r.TimeZone, &tags, &r.Credential, &created); err != nil {
			return nil, fmt.Errorf("list organisations: %w", err)
		}
		if tags != "" {
			r.Tags = strings.Split(tags, ",")
		}
		r.CreatedAt = fromMicros(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

// RemoveOrganisation deletes an organisation that has no devices.
func (s *Inventory) RemoveOrganisation(ctx context.Context, code string) error {
	code = inventory.NormaliseOrgCode(code)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM devices d JOIN organisations o ON o.id = d.org_id WHERE o.code = ?`, code).Scan(&n); err != nil {
		return fmt.Errorf("remove organisation %s: %w", code, err)
	}
	if n > 0 {
		return fmt.Errorf("%w: organisation %s has %d device(s); remove them first (ringmaster inventory remove -l org=%s)", errkind.InUse, code, n, code)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM organisations WHERE code = ?`, code)
	if err != nil {
		return fmt.Errorf("remove organisation %s: %w", code, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("organisation %s: %w", code, errkind.NotFound)
	}
	return sqltx.Commit(ctx, tx)
}
