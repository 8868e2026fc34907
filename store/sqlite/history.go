package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/sqltx"
	"github.com/ringmaster-fleet/ringmaster/report"
)

// History keeps the reports' daily snapshots, with its own schema version
// (report_migrations). It implements report.HistoryStore.
type History struct {
	db  *sql.DB
	now func() time.Time
}

var _ report.HistoryStore = (*History)(nil)

// Record stores snapshots, each replacing any taken earlier the same day
// for the same organisation, in one transaction.
func (s *History) Record(ctx context.Context, snaps []report.Snapshot) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	taken := s.now().UnixMicro()
	for _, sn := range snaps {
		// A long batch stops when cancelled, and leaves nothing.
		if err := ctx.Err(); err != nil {
			return err
		}
		day := sn.Day.UnixMicro()
		if _, err := tx.ExecContext(ctx, `INSERT INTO report_history (day, org, devices, on_target, supported, taken_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (day, org) DO UPDATE SET devices = excluded.devices, on_target = excluded.on_target,
				supported = excluded.supported, taken_at = excluded.taken_at`,
			day, sn.Org, sn.Devices, sn.OnTarget, sn.Supported, taken); err != nil {
			return fmt.Errorf("record %s %s: %w", sn.Day.Format(time.DateOnly), sn.Org, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM report_history_alerts WHERE day = ? AND org = ?`, day, sn.Org); err != nil {
			return err
		}
		for alert, n := range sn.Affected {
			if _, err := tx.ExecContext(ctx, `INSERT INTO report_history_alerts (day, org, alert, affected, compliant) VALUES (?, ?, ?, ?, ?)`,
				day, sn.Org, alert, n, sn.Compliant[alert]); err != nil {
				return fmt.Errorf("record %s %s %s: %w", sn.Day.Format(time.DateOnly), sn.Org, alert, err)
			}
		}
	}
	return sqltx.Commit(ctx, tx)
}

// Generation is a number that changes whenever the history does (a
// trigger counts every write), so a reader may keep what Load returned
// while it stays the same.
func (s *History) Generation(ctx context.Context) (int64, error) {
	var g int64
	if err := s.db.QueryRowContext(ctx, `SELECT generation FROM report_history_generation`).Scan(&g); err != nil {
		return 0, fmt.Errorf("read the history's generation: %w", err)
	}
	return g, nil
}

// Load returns every snapshot, by day then organisation.
func (s *History) Load(ctx context.Context) ([]report.Snapshot, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT day, org, devices, on_target, supported FROM report_history ORDER BY day, org`)
	if err != nil {
		return nil, fmt.Errorf("load report history: %w", err)
	}
	type key struct {
		day int64
		org string
	}
	var out []report.Snapshot
	idx := map[key]int{}
	for rows.Next() {
		var day int64
		var sn report.Snapshot
		if err := rows.Scan(&day, &sn.Org, &sn.Devices, &sn.OnTarget, &sn.Supported); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load report history: %w", err)
		}
		sn.Day = time.UnixMicro(day).UTC()
		sn.Affected, sn.Compliant = map[string]int{}, map[string]int{}
		idx[key{day, sn.Org}] = len(out)
		out = append(out, sn)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	arows, err := s.db.QueryContext(ctx, `SELECT day, org, alert, affected, compliant FROM report_history_alerts`)
	if err != nil {
		return nil, fmt.Errorf("load report history: %w", err)
	}
	defer arows.Close()
	for arows.Next() {
		var day int64
		var org, alert string
		var affected, compliant int
		if err := arows.Scan(&day, &org, &alert, &affected, &compliant); err != nil {
			return nil, fmt.Errorf("load report history: %w", err)
		}
		if i, ok := idx[key{day, org}]; ok {
			out[i].Affected[alert], out[i].Compliant[alert] = affected, compliant
		}
	}
	return out, arows.Err()
}

// forgetAlert deletes an alert's figures from the history, inside the
// transaction that removes the alert (Alerts.Remove), and returns how many
// were deleted.
func forgetAlert(ctx context.Context, tx *sql.Tx, alert string) (int64, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM report_history_alerts WHERE alert = ?`, alert)
	if err != nil {
		return 0, fmt.Errorf("forget alert %s: %w", alert, err)
	}
	return res.RowsAffected()
}
