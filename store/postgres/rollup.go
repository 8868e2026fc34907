package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ringmaster-fleet/ringmaster/internal/cohortrow"
	"github.com/ringmaster-fleet/ringmaster/internal/factsdoc"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// The device rollup (migrations/inventory) counts devices per
// organisation, site, build, watched updates, day last seen and day of
// oldest observation. Statement triggers on devices keep it exact in the
// transaction of every write, as signed counts summed per key (see the
// migration), so that writers on several nodes never wait for one another
// over a cohort's row.
//
// A device's watched updates depend on the watched set, read by every
// write of devices' observed columns. Those writes take watchLock shared
// (pg_advisory_xact_lock_shared) before reading the set; changing the set
// takes it exclusively, so it waits for the writes under way and the
// writes after it see the new set: no device is left with watched updates
// computed from a set that has since changed.

// watchLock is the advisory lock over the watched updates ("rmwatchd").
const watchLock int64 = 0x726d7761746368

// shareWatched takes watchLock shared for the transaction, waiting for it
// (an import), and reads the updates reports look for.
func shareWatched(ctx context.Context, tx pgx.Tx) (map[string]bool, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, watchLock); err != nil {
		return nil, fmt.Errorf("lock watched updates: %w", err)
	}
	return watchedKBs(ctx, tx)
}

// errWatchBusy is watchLock not taken at once by a short writer: a change
// of the watched updates holds or waits for it. The writer's transaction
// is tried again (retryable), holding no connection meanwhile.
var errWatchBusy = errors.New("the watched updates are being changed")

// tryShareWatched is shareWatched for a short writer (an observation): it
// never waits. PostgreSQL queues a shared request behind an exclusive one
// already waiting, and an alert added during an import waits for the
// whole import: waiting here would hold every node's observing workers,
// and the pool connections their leases are renewed on, for as long.
func tryShareWatched(ctx context.Context, tx pgx.Tx) (map[string]bool, error) {
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock_shared($1)`, watchLock).Scan(&ok); err != nil {
		return nil, fmt.Errorf("lock watched updates: %w", err)
	}
	if !ok {
		return nil, errWatchBusy
	}
	return watchedKBs(ctx, tx)
}

// likeTerms is the most new updates WatchKBs looks for in the devices'
// facts by pattern.
const likeTerms = 32

// watchedKBs reads the updates reports look for.
func watchedKBs(ctx context.Context, q querier) (map[string]bool, error) {
	rows, _ := q.Query(ctx, `SELECT kb FROM watched_kbs`)
	out := map[string]bool{}
	var kb string
	if _, err := pgx.ForEachRow(rows, []any{&kb}, func() error { out[kb] = true; return nil }); err != nil {
		return nil, fmt.Errorf("read watched updates: %w", err)
	}
	return out, nil
}

// rollupColumns returns a device's watched_kbs (nil when its updates were
// never observed) and observed_at (nil when nothing was) columns.
func rollupColumns(f *inventory.Facts, watched map[string]bool) (kbs *string, observed *time.Time) {
	if f.Known(inventory.FactKBs) {
		w := watchedOf(f.KBs, watched)
		kbs = &w
	}
	return kbs, nullTime(f.Oldest())
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

// UnwatchedKBs returns those of kbs (any case) the rollup does not count,
// upper-cased, once each, in the order given: a report whose alerts name
// one cannot be drawn from cohorts and counts device by device instead.
// It only reads.
func (s *Inventory) UnwatchedKBs(ctx context.Context, kbs []string) ([]string, error) {
	watched, err := watchedKBs(ctx, s.pool)
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
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		n, err = watchKBsTx(ctx, tx, kbs)
		return err
	})
	return n, err
}

// lockWatched takes watchLock exclusively for the transaction and reads
// the watched updates.
func lockWatched(ctx context.Context, tx pgx.Tx) (map[string]bool, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, watchLock); err != nil {
		return nil, fmt.Errorf("lock watched updates: %w", err)
	}
	return watchedKBs(ctx, tx)
}

// watchKBsTx is WatchKBs inside a transaction: what makes the updates
// watched, such as storing an alert (Alerts.Add), then commits or rolls
// back with them.
func watchKBsTx(ctx context.Context, tx pgx.Tx, kbs []string) (int, error) {
	watched, err := lockWatched(ctx, tx)
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
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO watched_kbs (kb) SELECT unnest($1::text[])`, fresh); err != nil {
		return 0, fmt.Errorf("watch updates: %w", err)
	}
	// Only devices whose updates are known, and whose facts name a new
	// update, can change. Past likeTerms new updates, reading every device
	// whose updates are known costs one pass whatever their number, where
	// the patterns would cost a match per update and device.
	q, args := `SELECT id, facts, watched_kbs FROM devices WHERE watched_kbs IS NOT NULL`, []any(nil)
	if len(fresh) <= likeTerms {
		likes := make([]string, len(fresh))
		for i, kb := range fresh {
			likes[i] = "%" + kb + "%" // KB numbers: letters and digits
		}
		q, args = q+` AND upper(facts) LIKE ANY($1::text[])`, []any{likes}
	}
	err = rewatch(ctx, tx, q,
		args, func(text string, old *string) (*string, error) {
			var f inventory.Facts
			if err := factsdoc.Decode(text, &f); err != nil {
				return nil, err
			}
			kbs, _ := rollupColumns(&f, watched)
			return kbs, nil
		})
	return len(fresh), err
}

// retainWatchedKBsTx stops watching every update not in keep (the updates
// the remaining alerts name, once one is removed) and recomputes the
// watched updates of the devices that had one of them, inside a
// transaction (Alerts.Remove's). It returns how many updates are no
// longer watched.
func retainWatchedKBsTx(ctx context.Context, tx pgx.Tx, keep []string) (int, error) {
	watched, err := lockWatched(ctx, tx)
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
	if _, err := tx.Exec(ctx, `DELETE FROM watched_kbs WHERE kb = ANY($1)`, drop); err != nil {
		return 0, fmt.Errorf("stop watching updates: %w", err)
	}
	// A device's watched updates lose those no longer watched; its facts
	// need not be read.
	return len(drop), rewatch(ctx, tx, `SELECT id, '', watched_kbs FROM devices WHERE watched_kbs <> ''`, nil,
		func(_ string, old *string) (*string, error) {
			var keep []string
			for kb := range strings.SplitSeq(*old, ",") { // not NULL: selected so
				if watched[kb] {
					keep = append(keep, kb)
				}
			}
			s := strings.Join(keep, ",")
			return &s, nil
		})
}

// rewatch reads devices with q (id, facts, watched_kbs), computes each
// one's watched updates with f (nil when its updates are unknown, as
// rollupColumns returns them), and writes those that changed in one
// statement (the rollup's triggers move their counts). It stops when ctx
// is done.
func rewatch(ctx context.Context, tx pgx.Tx, q string, args []any, f func(facts string, old *string) (*string, error)) error {
	var ids []int64
	var kbs []*string
	rows, _ := tx.Query(ctx, q, args...)
	var (
		id   int64
		text string
		old  *string
		n    int
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &text, &old}, func() error {
		if n++; n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		nw, err := f(text, old)
		if err != nil {
			return fmt.Errorf("device %d: %w", id, err)
		}
		if (nw == nil) != (old == nil) || (nw != nil && *nw != *old) {
			ids, kbs = append(ids, id), append(kbs, nw)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("watch updates: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE devices d SET watched_kbs = u.kbs FROM unnest($1::bigint[], $2::text[]) AS u (id, kbs) WHERE d.id = u.id`,
		ids, kbs); err != nil {
		return fmt.Errorf("watch updates: %w", err)
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
		// A key's count is the sum of its rows (see the migration). The
		// organisations asked for are read alone; Each checks every
		// requirement again.
		where, args, err := pushdownOn(sel, onRollup)
		if err != nil {
			yield(inventory.Cohort{}, fmt.Errorf("read device rollup: %w", err))
			return
		}
		rows, err := s.pool.Query(ctx, `SELECT o.code, r.site, r.os_build_key, r.watched_kbs, r.seen_day, r.observed_day, sum(r.devices)
			FROM device_rollup r JOIN organisations o ON o.id = r.org_id`+where+`
			GROUP BY o.code, r.site, r.os_build_key, r.watched_kbs, r.seen_day, r.observed_day HAVING sum(r.devices) > 0`, args...)
		if err != nil {
			yield(inventory.Cohort{}, fmt.Errorf("read device rollup: %w", err))
			return
		}
		defer rows.Close()
		cohortrow.Each(rows, sel, yield)
	}
}
