package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
)

// Plugins is the registry of executor plugins: each one's binary and the
// SHA-256 it is pinned to. It implements host.Registry.
type Plugins struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

var _ host.Registry = (*Plugins)(nil)

// InstallPlugin registers (or re-registers) a plugin binary and its digest.
func (s *Plugins) InstallPlugin(ctx context.Context, p host.Registration) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO plugins (name, path, sha256, installed_at, protocol, version) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (name) DO UPDATE SET path = excluded.path, sha256 = excluded.sha256, installed_at = excluded.installed_at,
			protocol = excluded.protocol, version = excluded.version`,
		p.Name, p.Path, p.SHA256, s.now().UTC().Truncate(time.Microsecond), p.Protocol, p.Version)
	if err != nil {
		return fmt.Errorf("install plugin %s: %w", p.Name, err)
	}
	return nil
}

// Plugin returns a registered plugin.
func (s *Plugins) Plugin(ctx context.Context, name string) (host.Registration, error) {
	rows, _ := s.pool.Query(ctx, `SELECT name, path, sha256, installed_at, protocol, version FROM plugins WHERE name = $1`, name)
	p, err := pgx.CollectExactlyOneRow(rows, scanPlugin)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("plugin %s: %w (ringmaster plugin install PATH)", name, errkind.NotFound)
	}
	if err != nil {
		return p, fmt.Errorf("plugin %s: %w", name, err)
	}
	return p, nil
}

// Plugins lists the registered plugins by name.
func (s *Plugins) Plugins(ctx context.Context) ([]host.Registration, error) {
	rows, _ := s.pool.Query(ctx, `SELECT name, path, sha256, installed_at, protocol, version FROM plugins ORDER BY name COLLATE "C"`)
	ps, err := pgx.CollectRows(rows, scanPlugin)
	if err != nil {
		return nil, fmt.Errorf("list plugins: %w", err)
	}
	return ps, nil
}

func scanPlugin(row pgx.CollectableRow) (host.Registration, error) {
	var p host.Registration
	err := row.Scan(&p.Name, &p.Path, &p.SHA256, &p.InstalledAt, &p.Protocol, &p.Version)
	p.InstalledAt = p.InstalledAt.UTC()
	return p, err
}

// RemovePlugin forgets a plugin.
func (s *Plugins) RemovePlugin(ctx context.Context, name string) error {
	return removeOne(ctx, s.pool, "plugin "+name, `DELETE FROM plugins WHERE name = $1`, name)
}
