package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// Nodes is the registry of the scheduler nodes sharing this database. It
// implements orchestrator.Nodes.
type Nodes struct {
	pool *pgxpool.Pool
}

var _ orchestrator.Nodes = (*Nodes)(nil)

// Nodes is the node registry.
func (d *DB) Nodes() *Nodes { return &Nodes{pool: d.pool} }

// Register records a node, replacing a registration of the same name, and
// marks the running campaigns for a decision (see markRunning).
func (s *Nodes) Register(ctx context.Context, n orchestrator.Node) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := register(ctx, tx, n); err != nil {
			return err
		}
		return markRunning(ctx, tx)
	})
}

// markRunning marks the running campaigns for a decision: what the nodes
// serve changed, and organisations that waited for a node may have one.
func markRunning(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `UPDATE campaigns SET dirty = true WHERE status = $1 AND NOT dirty`, string(orchestrator.StatusRunning)); err != nil {
		return fmt.Errorf("mark running campaigns for a decision: %w", err)
	}
	return nil
}

func register(ctx context.Context, tx pgx.Tx, n orchestrator.Node) error {
	_, err := tx.Exec(ctx, `INSERT INTO nodes (name, serve, queue, host, pid, workers, version, started_at, seen_at, until)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (name) DO UPDATE SET serve = excluded.serve, queue = excluded.queue, host = excluded.host, pid = excluded.pid,
			workers = excluded.workers, version = excluded.version, started_at = excluded.started_at, seen_at = excluded.seen_at, until = excluded.until`,
		n.Name, n.Serve, n.Queue, n.Host, n.PID, n.Workers, n.Version, stamp(n.Started), stamp(n.Seen), stamp(n.Until))
	if err != nil {
		return fmt.Errorf("register node %s: %w", n.Name, err)
	}
	return nil
}

// Renew extends a node's registration.
func (s *Nodes) Renew(ctx context.Context, name string, seen, until time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE nodes SET seen_at = $1, until = $2 WHERE name = $3`, stamp(seen), stamp(until), name)
	if err != nil {
		return fmt.Errorf("renew node %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("node %s: %w", name, errkind.NotFound)
	}
	return nil
}

// Deregister removes a node's registration, and marks the running
// campaigns for a decision; a node not registered is no error (it is
// what was asked).
func (s *Nodes) Deregister(ctx context.Context, name string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM nodes WHERE name = $1`, name); err != nil {
			return fmt.Errorf("deregister node %s: %w", name, err)
		}
		return markRunning(ctx, tx)
	})
}

// List returns every registered node by name.
func (s *Nodes) List(ctx context.Context) ([]orchestrator.Node, error) {
	rows, _ := s.pool.Query(ctx, `SELECT name, serve, queue, host, pid, workers, version, started_at, seen_at, until FROM nodes ORDER BY name`)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (orchestrator.Node, error) {
		var n orchestrator.Node
		err := row.Scan(&n.Name, &n.Serve, &n.Queue, &n.Host, &n.PID, &n.Workers, &n.Version, &n.Started, &n.Seen, &n.Until)
		n.Started, n.Seen, n.Until = n.Started.UTC(), n.Seen.UTC(), n.Until.UTC()
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return out, nil
}

// Prune removes the registrations that lapsed before before.
func (s *Nodes) Prune(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM nodes WHERE until < $1`, stamp(before))
	if err != nil {
		return 0, fmt.Errorf("prune nodes: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
