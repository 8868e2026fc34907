package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// Nodes is the registry of the scheduler nodes on this database (one, on
// SQLite, but it is listed and its placement honoured as on PostgreSQL).
// It implements orchestrator.Nodes.
type Nodes struct {
	db *sql.DB
}

var _ orchestrator.Nodes = (*Nodes)(nil)

// Nodes is the node registry, its table migrated with the campaign store's.
func (d *DB) Nodes(ctx context.Context) (*Nodes, error) {
	if err := d.ensure(ctx, campaignMigrations); err != nil {
		return nil, fmt.Errorf("node registry: %w", err)
	}
	return &Nodes{db: d.db}, nil
}

// Register records a node, replacing a registration of the same name, and
// marks the running campaigns for a decision (see markRunning).
func (s *Nodes) Register(ctx context.Context, n orchestrator.Node) error {
	return withTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := s.register(ctx, tx, n); err != nil {
			return err
		}
		return markRunning(ctx, tx)
	})
}

// markRunning marks the running campaigns for a decision: what the nodes
// serve changed, and organisations that waited for a node may have one.
func markRunning(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET dirty = 1 WHERE status = ? AND dirty = 0`, orchestrator.StatusRunning); err != nil {
		return fmt.Errorf("mark running campaigns for a decision: %w", err)
	}
	return nil
}

func (s *Nodes) register(ctx context.Context, tx *sql.Tx, n orchestrator.Node) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO nodes (name, serve, queue, host, pid, workers, version, started_at, seen_at, until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET serve = excluded.serve, queue = excluded.queue, host = excluded.host, pid = excluded.pid,
			workers = excluded.workers, version = excluded.version, started_at = excluded.started_at, seen_at = excluded.seen_at, until = excluded.until`,
		n.Name, n.Serve, n.Queue, n.Host, n.PID, n.Workers, n.Version, micros(n.Started), micros(n.Seen), micros(n.Until))
	if err != nil {
		return fmt.Errorf("register node %s: %w", n.Name, err)
	}
	return nil
}

// Renew extends a node's registration.
func (s *Nodes) Renew(ctx context.Context, name string, seen, until time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE nodes SET seen_at = ?, until = ? WHERE name = ?`, micros(seen), micros(until), name)
	if err != nil {
		return fmt.Errorf("renew node %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("node %s: %w", name, errkind.NotFound)
	}
	return nil
}

// Deregister removes a node's registration, and marks the running
// campaigns for a decision; a node not registered is no error (it is
// what was asked).
func (s *Nodes) Deregister(ctx context.Context, name string) error {
	return withTx(ctx, s.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM nodes WHERE name = ?`, name); err != nil {
			return fmt.Errorf("deregister node %s: %w", name, err)
		}
		return markRunning(ctx, tx)
	})
}

// List returns every registered node by name.
func (s *Nodes) List(ctx context.Context) ([]orchestrator.Node, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, serve, queue, host, pid, workers, version, started_at, seen_at, until FROM nodes ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	defer rows.Close()
	var out []orchestrator.Node
	for rows.Next() {
		var n orchestrator.Node
		var started, seen, until int64
		if err := rows.Scan(&n.Name, &n.Serve, &n.Queue, &n.Host, &n.PID, &n.Workers, &n.Version, &started, &seen, &until); err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		n.Started, n.Seen, n.Until = time.UnixMicro(started).UTC(), time.UnixMicro(seen).UTC(), time.UnixMicro(until).UTC()
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return out, nil
}

// Prune removes the registrations that lapsed before before.
func (s *Nodes) Prune(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM nodes WHERE until < ?`, micros(before))
	if err != nil {
		return 0, fmt.Errorf("prune nodes: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
