package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// LabelDevices makes the label changes on every device sel matches in one
// transaction, and records each label added, changed or removed in
// device_label_history with the store's time and the actor. The devices
// are read and locked inside the transaction (NOWAIT: see retryLocked), so
// the changes apply to what they are, not to what another node's change
// has since replaced.
// Labels are not in the rollup: it is left as it is.
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
	where, args, err := pushdown(sel)
	if err != nil {
		return res, err
	}
	now := stamp(s.now())
	err = retryLocked(ctx, func() error {
		res = inventory.LabelResult{}
		return s.labelDevices(ctx, sel, where, args, changes, actor, now, &res)
	})
	if err != nil {
		return inventory.LabelResult{}, err
	}
	return res, nil
}

// labelDevices is one attempt of LabelDevices.
func (s *Inventory) labelDevices(ctx context.Context, sel inventory.Selector, where string, args []any, changes []inventory.LabelChange,
	actor string, now time.Time, res *inventory.LabelResult) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		type match struct {
			id     int64
			labels inventory.Labels
			host   string
		}
		var matched []match
		rows, _ := tx.Query(ctx, `SELECT d.id, `+deviceColumns+deviceFrom+where+
			` ORDER BY o.code COLLATE "C", d.hostname COLLATE "C" FOR NO KEY UPDATE OF d NOWAIT`, args...)
		for rows.Next() {
			var id int64
			d := new(inventory.Device)
			if err := scanDevice(rows, d, &id); err != nil {
				rows.Close()
				return fmt.Errorf("label devices: %w", err)
			}
			if sel.Matches(d) {
				matched = append(matched, match{id, d.Labels, d.Hostname})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("label devices: %w", err)
		}
		var (
			ids       []int64
			labels    []string
			hIDs      []int64
			keys      []string
			olds, nws []*string
		)
		for _, m := range matched {
			res.Matched = append(res.Matched, m.host)
			after, done, err := m.labels.Apply(changes)
			if err != nil {
				return fmt.Errorf("device %s: %w", m.host, err)
			}
			if len(done) == 0 {
				continue
			}
			res.Changed = append(res.Changed, m.host)
			ids, labels = append(ids, m.id), append(labels, after.String())
			for _, e := range done {
				var old, nw *string
				if e.HadPrevious {
					old = &e.Previous
				}
				if !e.Change.Remove {
					nw = &e.Change.Value
				}
				hIDs, keys, olds, nws = append(hIDs, m.id), append(keys, e.Change.Key), append(olds, old), append(nws, nw)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE devices d SET labels = u.labels, updated_at = $3
			FROM unnest($1::bigint[], $2::text[]) AS u (id, labels) WHERE d.id = u.id`, ids, labels, now); err != nil {
			return fmt.Errorf("label devices: %w", err)
		}
		// WITH ORDINALITY keeps the order the changes were made in, which
		// the identity column records for LabelHistory.
		if _, err := tx.Exec(ctx, `INSERT INTO device_label_history (device_id, label_key, old_value, new_value, changed_at, actor)
			SELECT u.id, u.k, u.o, u.n, $5, $6 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u (id, k, o, n, i)
			ORDER BY u.i`, hIDs, keys, olds, nws, now, actor); err != nil {
			return fmt.Errorf("label devices: record history: %w", err)
		}
		return nil
	})
}

// LabelHistory returns up to limit of the device's label changes, newest
// first (in the order made, within one moment).
func (s *Inventory) LabelHistory(ctx context.Context, hostname string, limit int) ([]inventory.LabelEvent, error) {
	h := inventory.NormaliseHostname(hostname)
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM devices WHERE hostname = $1`, h).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("device %s: %w", h, errkind.NotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("label history of %s: %w", h, err)
	}
	rows, _ := s.pool.Query(ctx, `SELECT label_key, old_value, new_value, changed_at, actor FROM device_label_history
		WHERE device_id = $1 ORDER BY changed_at DESC, id DESC LIMIT $2`, id, limit)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (inventory.LabelEvent, error) {
		e := inventory.LabelEvent{Hostname: h}
		var old, nw *string
		var at time.Time
		err := row.Scan(&e.Change.Key, &old, &nw, &at, &e.Actor)
		if old != nil {
			e.Previous, e.HadPrevious = *old, true
		}
		if nw != nil {
			e.Change.Value = *nw
		} else {
			e.Change.Remove = true
		}
		e.At = at.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("label history of %s: %w", h, err)
	}
	return out, nil
}
