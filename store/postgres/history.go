package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ringmaster-fleet/ringmaster/report"
)

// History keeps the reports' daily snapshots. It implements
// report.HistoryStore.
type History struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

var _ report.HistoryStore = (*History)(nil)

// Record stores snapshots, each replacing any taken earlier the same day
// for the same organisation, in one transaction.
func (s *History) Record(ctx context.Context, snaps []report.Snapshot) error {
	taken := s.now().UTC().Truncate(time.Microsecond)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, sn := range snaps {
			// A long batch stops when cancelled, and leaves nothing.
			if err := ctx.Err(); err != nil {
				return err
			}
			day := sn.Day.UTC()
			if _, err := tx.Exec(ctx, `INSERT INTO report_history (day, org, devices, on_target, supported, taken_at) VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (day, org) DO UPDATE SET devices = excluded.devices, on_target = excluded.on_target,
					supported = excluded.supported, taken_at = excluded.taken_at`,
				day, sn.Org, sn.Devices, sn.OnTarget, sn.Supported, taken); err != nil {
				return fmt.Errorf("record %s %s: %w", sn.Day.Format(time.DateOnly), sn.Org, err)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM report_history_alerts WHERE day = $1 AND org = $2`, day, sn.Org); err != nil {
				return fmt.Errorf("record %s %s: %w", sn.Day.Format(time.DateOnly), sn.Org, err)
			}
			for alert, n := range sn.Affected {
				if _, err := tx.Exec(ctx, `INSERT INTO report_history_alerts (day, org, alert, affected, compliant) VALUES ($1, $2, $3, $4, $5)`,
					day, sn.Org, alert, n, sn.Compliant[alert]); err != nil {
					return fmt.Errorf("record %s %s %s: %w", sn.Day.Format(time.DateOnly), sn.Org, alert, err)
				}
			}
		}
		return nil
	})
}

// Generation is a number that changes whenever the history does (a
// trigger counts every statement writing it), so a reader may keep what
// Load returned while it stays the same.
func (s *History) Generation(ctx context.Context) (int64, error) {
	var g int64
	if err := s.pool.QueryRow(ctx, `SELECT generation FROM report_history_generation`).Scan(&g); err != nil {
		return 0, fmt.Errorf("read the history's generation: %w", err)
	}
	return g, nil
}

// Load returns every snapshot, by day then organisation.
func (s *History) Load(ctx context.Context) ([]report.Snapshot, error) {
	type key struct {
		day time.Time
		org string
	}
	var out []report.Snapshot
	idx := map[key]int{}
	rows, _ := s.pool.Query(ctx, `SELECT day, org, devices, on_target, supported FROM report_history ORDER BY day, org COLLATE "C"`)
	var sn report.Snapshot
	_, err := pgx.ForEachRow(rows, []any{&sn.Day, &sn.Org, &sn.Devices, &sn.OnTarget, &sn.Supported}, func() error {
		sn.Day = sn.Day.UTC()
		sn.Affected, sn.Compliant = map[string]int{}, map[string]int{}
		idx[key{sn.Day, sn.Org}] = len(out)
		out = append(out, sn)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load report history: %w", err)
	}
	var (
		day                 time.Time
		org, alert          string
		affected, compliant int
	)
	rows, _ = s.pool.Query(ctx, `SELECT day, org, alert, affected, compliant FROM report_history_alerts`)
	_, err = pgx.ForEachRow(rows, []any{&day, &org, &alert, &affected, &compliant}, func() error {
		if i, ok := idx[key{day.UTC(), org}]; ok {
			out[i].Affected[alert], out[i].Compliant[alert] = affected, compliant
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load report history: %w", err)
	}
	return out, nil
}
