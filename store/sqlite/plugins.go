package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/sqltx"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
)

// Plugins is the registry of executor plugins: each one's binary and the
// SHA-256 it is pinned to. It implements host.Registry.
type Plugins struct {
	db  *sql.DB
	now func() time.Time
}

var _ host.Registry = (*Plugins)(nil)

// InstallPlugin registers (or re-registers) a plugin binary and its digest.
func (s *Plugins) InstallPlugin(ctx context.Context, p host.Registration) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if _, err := tx.ExecContext(ctx, `DELETE FROM plugins WHERE name = ?`, p.Name); err != nil {
		return fmt.Errorf("install plugin %s: %w", p.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO plugins (name, path, sha256, installed_at, protocol, version) VALUES (?, ?, ?, ?, ?, ?)`,
		p.Name, p.Path, p.SHA256, micros(s.now()), p.Protocol, p.Version); err != nil {
		return fmt.Errorf("install plugin %s: %w", p.Name, err)
	}
	return sqltx.Commit(ctx, tx)
}

// Plugin returns a registered plugin.
func (s *Plugins) Plugin(ctx context.Context, name string) (host.Registration, error) {
	var p host.Registration
	var at sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT name, path, sha256, installed_at, protocol, version FROM plugins WHERE name = ?`, name).Scan(&p.Name, &p.Path, &p.SHA256, &at, &p.Protocol, &p.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("plugin %s: %w (ringmaster plugin install PATH)", name, errkind.NotFound)
	}
	if err != nil {
		return p, fmt.Errorf("plugin %s: %w", name, err)
	}
	p.InstalledAt = fromMicros(at)
	return p, nil
}

// Plugins lists the registered plugins by name.
func (s *Plugins) Plugins(ctx context.Context) ([]host.Registration, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, path, sha256, installed_at, protocol, version FROM plugins ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list plugins: %w", err)
	}
	defer rows.Close()
	var out []host.Registration
	for rows.Next() {
		var p host.Registration
		var at sql.NullInt64
		if err := rows.Scan(&p.Name, &p.Path, &p.SHA256, &at, &p.Protocol, &p.Version); err != nil {
			return nil, fmt.Errorf("list plugins: %w", err)
		}
		p.InstalledAt = fromMicros(at)
		out = append(out, p)
	}
	return out, rows.Err()
}

// RemovePlugin forgets a plugin.
func (s *Plugins) RemovePlugin(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM plugins WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("remove plugin %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("plugin %s: %w", name, errkind.NotFound)
	}
	return nil
}
