package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/sqltx"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// LabelDevices makes the label changes on every device sel matches in one
// transaction, and records each label added, changed or removed in
// device_label_history with the store's time and the actor. The devices
// are read inside the transaction, so the changes apply to what they
// were. Labels are not in the rollup: it is left as it is.
func (s *Inventory) LabelDevices(ctx context.Context, sel inventory.Selector, changes []inventory.LabelChange, actor string) (inventory.LabelResult, error) {
	var res inventory.LabelResult
	if sel.Empty() {
		return res, fmt.Errorf("label devices: refusing an empty selector, which would label every device: %w", errkind.Invalid)
	}
	for _, c := range changes {
		if err := inventory.ValidateLabel(c.Key, c.Value); err != nil {
			return res, fmt.Errorf("label devices: %w: %w", errkind.Invalid, err)
		}
	}
	where, args, err := s.pushdown(ctx, sel)
	if err != nil {
		return res, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	type match struct {
		id     int64
		labels inventory.Labels
		host   string
	}
	var matched []match
	rows, err := tx.QueryContext(ctx, `SELECT d.id, `+deviceColumns+` FROM devices d JOIN organisations o ON o.id = d.org_id`+where+` ORDER BY o.code, d.hostname`, args...)
	if err != nil {
		return res, fmt.Errorf("label devices: %w", err)
	}
	for rows.Next() {
		var id int64
		d := new(inventory.Device)
		if err := scanDevice(idScanner{rows, &id}, d); err != nil {
			rows.Close()
			return res, fmt.Errorf("label devices: %w", err)
		}
		if sel.Matches(d) {
			matched = append(matched, match{id, d.Labels, d.Hostname})
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return res, fmt.Errorf("label devices: %w", err)
	}
	now := micros(s.now())
	for _, m := range matched {
		if err := ctx.Err(); err != nil {
			return inventory.LabelResult{}, err
		}
		res.Matched = append(res.Matched, m.host)
		labels, done, err := m.labels.Apply(changes)
		if err != nil {
			return inventory.LabelResult{}, fmt.Errorf("device %s: %w", m.host, err)
		}
		if len(done) == 0 {
			continue
		}
		res.Changed = append(res.Changed, m.host)
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET labels = ?, updated_at = ? WHERE id = ?`, labels.String(), now, m.id); err != nil {
			return inventory.LabelResult{}, fmt.Errorf("label device %s: %w", m.host, err)
		}
		for _, e := range done {
			var old, nw any
			if e.HadPrevious {
				old = e.Previous
			}
			if !e.Change.Remove {
				nw = e.Change.Value
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO device_label_history (device_id, label_key, old_value, new_value, changed_at, actor)
				VALUES (?, ?, ?, ?, ?, ?)`, m.id, e.Change.Key, old, nw, now, actor); err != nil {
				return inventory.LabelResult{}, fmt.Errorf("label device %s: record history: %w", m.host, err)
			}
		}
	}
	if err := sqltx.Commit(ctx, tx); err != nil {
		return inventory.LabelResult{}, err
	}
	return res, nil
}

// idScanner scans a row's first column into id and the rest as asked.
type idScanner struct {
	rows *sql.Rows
	id   *int64
}

func (r idScanner) Scan(dest ...any) error { return r.rows.Scan(append([]any{r.id}, dest...)...) }

// LabelHistory returns up to limit of the device's label changes, newest
// first (in the order made, within one moment).
func (s *Inventory) LabelHistory(ctx context.Context, hostname string, limit int) ([]inventory.LabelEvent, error) {
	h := inventory.NormaliseHostname(hostname)
	var id int64
	if err := s.db.QueryRowContext(ctx, `SELECT id FROM devices WHERE hostname = ?`, h).Scan(&id); errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("device %s: %w", h, errkind.NotFound)
	} else if err != nil {
		return nil, fmt.Errorf("label history of %s: %w", h, err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT label_key, old_value, new_value, changed_at, actor FROM device_label_history
		WHERE device_id = ? ORDER BY changed_at DESC, id DESC LIMIT ?`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("label history of %s: %w", h, err)
	}
	defer rows.Close()
	var out []inventory.LabelEvent
	for rows.Next() {
		e := inventory.LabelEvent{Hostname: h}
		var old, nw sql.NullString
		var at sql.NullInt64
		if err := rows.Scan(&e.Change.Key, &old, &nw, &at, &e.Actor); err != nil {
			return nil, fmt.Errorf("label history of %s: %w", h, err)
		}
		e.Previous, e.HadPrevious = old.String, old.Valid
		e.Change.Value, e.Change.Remove = nw.String, !nw.Valid
		e.At = fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
