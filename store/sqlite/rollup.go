package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"

	"github.com/ringmaster-fleet/ringmaster/internal/cohortrow"
	"github.com/ringmaster-fleet/ringmaster/internal/factsdoc"
	"github.com/ringmaster-fleet/ringmaster/internal/sqltx"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// The device rollup (migration 0004) counts devices per organisation, site,
// build, watched updates, day last seen and day of oldest observation.
// Triggers keep it in step with every write to devices; a bulk load, which
// drops the triggers, rebuilds it in one pass.

const dayMicros = 24 * 60 * 60 * 1_000_000

// watchedKBs reads the updates reports look for.
func watchedKBs(ctx context.Context, q querier) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT kb FROM watched_kbs`)
	if err != nil {
		return nil, fmt.Errorf("read watched updates: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var kb string
		if err := rows.Scan(&kb); err != nil {
			return nil, err
		}
		out[kb] = true
	}
	return out, rows.Err()
}

// rollupColumns returns a device's watched_kbs (nil when its updates were
// never observed) and observed_at (nil when nothing was) columns.
func rollupColumns(f *inventory.Facts, watched map[string]bool) (kbs, observed any) {
	if f.Known(inventory.FactKBs) {
		kbs = watchedOf(f.KBs, watched)
	}
	if t := f.Oldest(); !t.IsZero() {
		observed = micros(t)
	}
	return kbs, observed
}

func watchedOf(kbs []string, watched map[string]bool) string {
	var keep []string
	for _, kb := range kbs {
		if kb = strings.ToUpper(kb); watched[kb] {
			keep = append(keep, kb)
		}
	}
	slices.Sort(keep)
	return strings.Join(slices.Compact(keep), ",")
}

// rollupKey is a row of the rollup, compact: a bulk load counts a few
// hundred thousand of them in memory, its site and updates as indexes into
// the load's interned strings.
type rollupKey struct {
	orgID, site, kbs     int32
	seenDay, observedDay int32
	build                int64
}

// rollupCounter counts a bulk load's devices per rollup key.
type rollupCounter struct {
	counts map[rollupKey]int
	strs   []string
	strIdx map[string]int32
}

func newRollupCounter() *rollupCounter {
	return &rollupCounter{counts: map[rollupKey]int{}, strIdx: map[string]int32{}}
}

func (c *rollupCounter) intern(s string) int32 {
	if i, ok := c.strIdx[s]; ok {
		return i
	}
	s = strings.Clone(s) // it may share memory with the whole input line
	c.strIdx[s] = int32(len(c.strs))
	c.strs = append(c.strs, s)
	return int32(len(c.strs) - 1)
}

// add counts an encoded device row under its key (the triggers' columns).
func (c *rollupCounter) add(orgID int64, site string, r *encodedRow) {
	k := rollupKey{orgID: int32(orgID), site: c.intern(site), kbs: c.intern("?"), seenDay: -1, observedDay: -1}
	if b, ok := r.build.(int64); ok {
		k.build = b
	}
	if s, ok := r.watched.(string); ok {
		k.kbs = c.intern(s)
	}
	if v, ok := r.lastSeen.(int64); ok {
		k.seenDay = int32(v / dayMicros)
	}
	if v, ok := r.observed.(int64); ok {
		k.observedDay = int32(v / dayMicros)
	}
	c.counts[k]++
}

// writeRollup writes the rollup a bulk load counted (its devices table was
// empty, so the rollup was too).
func (t *importTx) writeRollup(ctx context.Context) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM device_rollup`); err != nil {
		return fmt.Errorf("write device rollup: %w", err)
	}
	// Many rows a statement: a national estate has a few hundred thousand.
	const perStmt = 128
	c := t.rollup
	args := make([]any, 0, perStmt*7)
	n := 0
	write := func() error {
		if n == 0 {
			return nil
		}
		q := `INSERT INTO device_rollup (org_id, site, os_build_key, watched_kbs, seen_day, observed_day, devices) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?), ", n), ", ")
		if _, err := t.tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("write device rollup: %w", err)
		}
		args, n = args[:0], 0
		return nil
	}
	// In primary key order, so that SQLite appends to its index.
	keys := slices.Collect(maps.Keys(c.counts))
	slices.SortFunc(keys, func(x, y rollupKey) int {
		return cmp.Or(cmp.Compare(x.orgID, y.orgID), strings.Compare(c.strs[x.site], c.strs[y.site]), cmp.Compare(x.build, y.build),
			strings.Compare(c.strs[x.kbs], c.strs[y.kbs]), cmp.Compare(x.seenDay, y.seenDay), cmp.Compare(x.observedDay, y.observedDay))
	})
	for _, k := range keys {
		args = append(args, int64(k.orgID), c.strs[k.site], k.build, c.strs[k.kbs], int64(k.seenDay), int64(k.observedDay), c.counts[k])
		if n++; n == perStmt {
			if err := write(); err != nil {
				return err
			}
		}
	}
	return write()
}

// likeTerms is the most new updates WatchKBs looks for in the devices'
// facts with LIKE, in one statement. Past it, reading every device whose
// updates are known costs one pass whatever the number of updates, where
// LIKE would cost a pass per update (and SQLite refuses an expression of a
// thousand terms).
const likeTerms = 32

// insertRows is the most rows one INSERT writes: bounded statements, well
// under SQLite's limit on bound parameters.
const insertRows = 500

// UnwatchedKBs returns those of kbs (any case) the rollup does not count,
// upper-cased, once each, in the order given: a report whose alerts name
// one cannot be drawn from cohorts and counts device by device instead.
// It only reads.
func (s *Inventory) UnwatchedKBs(ctx context.Context, kbs []string) ([]string, error) {
	watched, err := watchedKBs(ctx, s.db)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, kb := range kbs {
		kb = strings.ToUpper(kb)
		if !watched[kb] {
			watched[kb] = true // once each
			out = append(out, kb)
		}
	}
	return out, nil
}

// WatchKBs adds updates to those reports look for (an alert's remediating
// and superseding updates) and, when any is new, recomputes the watched
// updates of the devices that have one, in one transaction. It returns how
// many were new. Any number of updates may be given.
func (s *Inventory) WatchKBs(ctx context.Context, kbs []string) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	n, err := s.watchKBsTx(ctx, tx, kbs)
	if err != nil || n == 0 {
		return n, err
	}
	return n, sqltx.Commit(ctx, tx)
}

// watchKBsTx is WatchKBs inside a transaction on the same database: what
// makes the updates watched, such as storing an alert (Alerts.Add), then
// commits or rolls back with them.
func (s *Inventory) watchKBsTx(ctx context.Context, tx *sql.Tx, kbs []string) (int, error) {
	watched, err := watchedKBs(ctx, tx)
	if err != nil {
		return 0, err
	}
	var fresh []string
	for _, kb := range kbs {
		kb = strings.ToUpper(kb)
		if !watched[kb] {
			watched[kb] = true
			fresh = append(fresh, kb)
		}
	}
	if len(fresh) == 0 {
		return 0, nil
	}
	for chunk := range slices.Chunk(fresh, insertRows) {
		q := `INSERT INTO watched_kbs (kb) VALUES ` + strings.TrimSuffix(strings.Repeat("(?), ", len(chunk)), ", ")
		if _, err := tx.ExecContext(ctx, q, anys(chunk)...); err != nil {
			return 0, fmt.Errorf("watch updates: %w", err)
		}
	}
	// Only devices whose updates are known, and whose facts name a new
	// update, can change.
	q := `SELECT id, facts, watched_kbs FROM devices WHERE watched_kbs IS NOT NULL`
	var args []any
	if len(fresh) <= likeTerms {
		q += ` AND (` + strings.TrimSuffix(strings.Repeat("facts LIKE ? OR ", len(fresh)), " OR ") + `)`
		for _, kb := range fresh {
			args = append(args, "%"+kb+"%")
		}
	}
	return len(fresh), rewatch(ctx, tx, q, args, func(text string, _ any) (any, error) {
		var f inventory.Facts
		if err := factsdoc.Decode(text, &f); err != nil {
			return nil, err
		}
		kbs, _ := rollupColumns(&f, watched)
		return kbs, nil
	})
}

// retainWatchedKBsTx stops watching every update not in keep (the updates
// the remaining alerts name, once one is removed) and recomputes the
// watched updates of the devices that had one of them, inside a
// transaction on the same database (Alerts.Remove's). It returns how many
// updates are no longer watched.
func (s *Inventory) retainWatchedKBsTx(ctx context.Context, tx *sql.Tx, keep []string) (int, error) {
	watched, err := watchedKBs(ctx, tx)
	if err != nil {
		return 0, err
	}
	kept := make(map[string]bool, len(keep))
	for _, kb := range keep {
		kept[strings.ToUpper(kb)] = true
	}
	var drop []string
	for kb := range watched {
		if !kept[kb] {
			drop = append(drop, kb)
			delete(watched, kb)
		}
	}
	if len(drop) == 0 {
		return 0, nil
	}
	for chunk := range slices.Chunk(drop, insertRows) {
		q := `DELETE FROM watched_kbs WHERE kb IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ") + `)`
		if _, err := tx.ExecContext(ctx, q, anys(chunk)...); err != nil {
			return 0, fmt.Errorf("stop watching updates: %w", err)
		}
	}
	// A device's watched updates lose those no longer watched; its facts
	// need not be read.
	return len(drop), rewatch(ctx, tx, `SELECT id, '', watched_kbs FROM devices WHERE watched_kbs <> ''`, nil,
		func(_ string, old any) (any, error) {
			var keep []string
			for kb := range strings.SplitSeq(old.(string), ",") { // not NULL: selected so
				if watched[kb] {
					keep = append(keep, kb)
				}
			}
			return strings.Join(keep, ","), nil
		})
}

// rewatch reads devices with q (id, facts, watched_kbs), computes each
// one's watched updates with f (a string, or nil when its updates are
// unknown, as rollupColumns returns them), and writes those that changed
// (the rollup's triggers move their counts). It stops when ctx is done.
func rewatch(ctx context.Context, tx *sql.Tx, q string, args []any, f func(facts string, old any) (any, error)) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("watch updates: %w", err)
	}
	type change struct {
		id  int64
		kbs any
	}
	var changes []change
	for n := 0; rows.Next(); n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				rows.Close()
				return err
			}
		}
		var id int64
		var text string
		var column sql.NullString
		if err := rows.Scan(&id, &text, &column); err != nil {
			rows.Close()
			return fmt.Errorf("watch updates: %w", err)
		}
		var old any
		if column.Valid {
			old = column.String
		}
		kbs, err := f(text, old)
		if err != nil {
			rows.Close()
			return fmt.Errorf("device %d: %w", id, err)
		}
		if kbs != old { // both nil or string: comparable
			changes = append(changes, change{id, kbs})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("watch updates: %w", err)
	}
	if len(changes) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `UPDATE devices SET watched_kbs = ? WHERE id = ?`)
	if err != nil {
		return fmt.Errorf("watch updates: %w", err)
	}
	defer stmt.Close()
	for _, c := range changes {
		if _, err := stmt.ExecContext(ctx, c.kbs, c.id); err != nil {
			return fmt.Errorf("watch updates: %w", err)
		}
	}
	return nil
}

// Cohorts yields the devices the selector matches as cohorts, counted by
// the rollup when the selector names only what cohorts keep, and device by
// device otherwise (then each cohort is one device, with all its updates).
func (s *Inventory) Cohorts(ctx context.Context, sel inventory.Selector) iter.Seq2[inventory.Cohort, error] {
	if !sel.ForCohorts() {
		return func(yield func(inventory.Cohort, error) bool) {
			for d, err := range s.Devices(ctx, sel) {
				if err != nil {
					yield(inventory.Cohort{}, err)
					return
				}
				if !yield(inventory.CohortOf(d), nil) {
					return
				}
			}
		}
	}
	return func(yield func(inventory.Cohort, error) bool) {
		// The organisations asked for are read alone (the rollup's key
		// begins with them); Each checks every requirement again.
		where, args, err := pushdownOn(sel, onRollup)
		if err != nil {
			yield(inventory.Cohort{}, fmt.Errorf("read device rollup: %w", err))
			return
		}
		where = strings.Replace(where, " WHERE ", " AND ", 1)
		rows, err := s.db.QueryContext(ctx, `SELECT o.code, r.site, r.os_build_key, r.watched_kbs, r.seen_day, r.observed_day, r.devices
			FROM device_rollup r JOIN organisations o ON o.id = r.org_id WHERE r.devices > 0`+where, args...)
		if err != nil {
			yield(inventory.Cohort{}, fmt.Errorf("read device rollup: %w", err))
			return
		}
		defer rows.Close()
		cohortrow.Each(rows, sel, yield)
	}
}
