package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// This file holds what a person decides on a running campaign (continue
// a halted wave, change its thresholds, exclude and include devices) and
// the paged listing of its devices they decide from. Every decision is
// recorded in campaign_events in the transaction that makes it.

// filterWhere is the SQL condition (starting " AND", or empty) and its
// arguments selecting the devices of campaign name that f selects.
func filterWhere(name string, f orchestrator.DeviceFilter) (string, []any) {
	var b strings.Builder
	var args []any
	if f.Wave != "" {
		b.WriteString(` AND wave = (SELECT idx FROM campaign_waves WHERE campaign = ? AND name = ?)`)
		args = append(args, name, f.Wave)
	}
	if f.Org != "" {
		b.WriteString(` AND org = ?`)
		args = append(args, f.Org)
	}
	if f.State != "" {
		b.WriteString(` AND state = ?`)
		args = append(args, f.State)
	}
	if f.Reason != "" {
		b.WriteString(` AND reason = ?`)
		args = append(args, f.Reason)
	}
	return b.String(), args
}

// Devices returns up to limit devices of a campaign that f selects, in
// dispatch order, after the device of dispatch order after (-1 for the
// first page). Without a state it reads one range of the table, which is
// in dispatch order; with one, it reads a range of campaign_devices_group
// per wave and organisation holding devices in that state (from the
// counts) and merges them. Its cost follows the page and the campaign's
// organisations, not its devices.
func (s *Campaigns) Devices(ctx context.Context, name string, f orchestrator.DeviceFilter, after, limit int) ([]orchestrator.DeviceRecord, error) {
	if f.State == "" {
		where, args := filterWhere(name, f)
		rows, err := s.rdb.QueryContext(ctx, `SELECT `+memberCols+` FROM campaign_devices WHERE `+idAfter+where+` ORDER BY id LIMIT ?`,
			slices.Concat([]any{name, after, name}, args, []any{limit})...)
		if err != nil {
			return nil, fmt.Errorf("campaign %s: devices: %w", name, err)
		}
		return scanMembers(rows)
	}
	q, args := `SELECT DISTINCT wave, org FROM campaign_counts WHERE campaign = ? AND state = ? AND devices > 0`, []any{name, f.State}
	if f.Wave != "" {
		q += ` AND wave = (SELECT idx FROM campaign_waves WHERE campaign = ? AND name = ?)`
		args = append(args, name, f.Wave)
	}
	if f.Org != "" {
		q += ` AND org = ?`
		args = append(args, f.Org)
	}
	if f.Reason != "" {
		q += ` AND reason = ?`
		args = append(args, f.Reason)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: devices: %w", name, err)
	}
	type group struct {
		wave int
		org  string
	}
	var groups []group
	for rows.Next() {
		var g group
		if err := rows.Scan(&g.wave, &g.org); err != nil {
			rows.Close()
			return nil, err
		}
		groups = append(groups, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// A small first page of every group, in compound SELECTs; then, for
	// the groups whose page was full and might hold more of the first
	// limit devices, their devices up to the limit-th order found so far.
	reason := ""
	if f.Reason != "" {
		reason = ` AND reason = ?`
	}
	page := func(g group, from, to, n int) (string, []any) {
		args := []any{name, f.State, g.wave, g.org, from, to}
		if f.Reason != "" {
			args = append(args, f.Reason)
		}
		return `SELECT * FROM (SELECT ` + memberCols + ` FROM campaign_devices WHERE campaign = ? AND state = ? AND wave = ? AND org = ?
			AND ord > ? AND ord <= ?` + reason + ` ORDER BY ord LIMIT ` + fmt.Sprint(n) + `)`, args
	}
	read := func(gs []group, from []int, to, n int) ([]orchestrator.DeviceRecord, error) {
		var out []orchestrator.DeviceRecord
		for start := 0; start < len(gs); start += headsBatch {
			var q strings.Builder
			var args []any
			for i, g := range gs[start:min(start+headsBatch, len(gs))] {
				if i > 0 {
					q.WriteString(" UNION ALL ")
				}
				part, a := page(g, from[start+i], to, n)
				q.WriteString(part)
				args = append(args, a...)
			}
			rows, err := s.rdb.QueryContext(ctx, q.String(), args...)
			if err != nil {
				return nil, fmt.Errorf("campaign %s: devices: %w", name, err)
			}
			ms, err := scanMembers(rows)
			if err != nil {
				return nil, fmt.Errorf("campaign %s: devices: %w", name, err)
			}
			out = append(out, ms...)
		}
		return out, nil
	}
	first := min(limit, 8)
	froms := make([]int, len(groups))
	for i := range froms {
		froms[i] = after
	}
	out, err := read(groups, froms, math.MaxInt64, first)
	if err != nil {
		return nil, err
	}
	byOrder := func(a, b orchestrator.DeviceRecord) int { return a.Order - b.Order }
	slices.SortFunc(out, byOrder)
	threshold := math.MaxInt64
	if len(out) >= limit {
		threshold = out[limit-1].Order
	}
	last, n := map[group]int{}, map[group]int{}
	for _, d := range out {
		g := group{d.Wave, d.Org}
		last[g], n[g] = max(last[g], d.Order), n[g]+1
	}
	var more []group
	froms = froms[:0]
	for _, g := range groups {
		if n[g] == first && last[g] < threshold {
			more, froms = append(more, g), append(froms, last[g])
		}
	}
	if len(more) > 0 && limit > first {
		rest, err := read(more, froms, threshold, limit-first)
		if err != nil {
			return nil, err
		}
		out = append(out, rest...)
	}
	slices.SortFunc(out, func(a, b orchestrator.DeviceRecord) int { return a.Order - b.Order })
	return out[:min(len(out), limit)], nil
}

// headsBatch is how many groups one compound SELECT of a device page
// reads (SQLite allows 500 terms in a compound SELECT).
const headsBatch = 200

// idAfter is the condition selecting a campaign's rows after a dispatch
// order, by row id (the campaign's number << 32 | order); its arguments
// are the campaign's name, the order and the name again.
const idAfter = `id > (SELECT num << 32 FROM campaigns WHERE name = ?) + ? AND id < (SELECT (num + 1) << 32 FROM campaigns WHERE name = ?)`

// Orgs lists the organisations a campaign's devices belong to.
func (s *Campaigns) Orgs(ctx context.Context, name string) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT DISTINCT org FROM campaign_counts WHERE campaign = ? AND devices > 0 ORDER BY org`, name)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: organisations: %w", name, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// Continue accepts the failures so far of a wave (of one organisation in
// it, if org is not "") so that they no longer count towards a halt, makes
// the wave active again if it halted, and records ev, in one transaction.
// The campaign must be live and the wave in orchestrator.ContinueFrom
// (else orchestrator.ErrState), and there must be something to continue:
// a halted wave, or failures not yet accepted. It returns how many
// failures it accepted.
func (s *Campaigns) Continue(ctx context.Context, name, wave, org string, ev orchestrator.Event) (int, error) {
	n := 0
	err := withTx(ctx, s.db, func(tx *sql.Tx) error {
		c, err := s.campaignIn(ctx, tx, name)
		if err != nil {
			return err
		}
		if !c.Status.Live() {
			return fmt.Errorf("campaign %s is %s: nothing to continue: %w", name, c.Status, orchestrator.ErrState)
		}
		var idx int
		var st orchestrator.WaveStatus
		err = tx.QueryRowContext(ctx, `SELECT idx, status FROM campaign_waves WHERE campaign = ? AND name = ?`, name, wave).Scan(&idx, &st)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("campaign %s has no wave %s: %w", name, wave, errkind.NotFound)
		}
		if err != nil {
			return err
		}
		if !slices.Contains(orchestrator.ContinueFrom, st) {
			return fmt.Errorf("wave %s of campaign %s is %s: it has not started, so has no failures to accept: %w", wave, name, st, orchestrator.ErrState)
		}
		q, args := `UPDATE campaign_devices SET accepted = 1 WHERE campaign = ? AND wave = ? AND state = ? AND accepted = 0`,
			[]any{name, idx, orchestrator.DeviceFailed}
		if org != "" {
			q += ` AND org = ?`
			args = append(args, org)
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("campaign %s wave %s: accept failures: %w", name, wave, err)
		}
		accepted, _ := res.RowsAffected()
		n = int(accepted)
		if n == 0 && st != orchestrator.WaveHalted {
			who := "it"
			if org != "" {
				who = "organisation " + org + " in it"
			}
			return fmt.Errorf("wave %s of campaign %s is %s and %s has no failure to accept: nothing to continue: %w", wave, name, st, who, orchestrator.ErrState)
		}
		if st == orchestrator.WaveHalted {
			if _, err := tx.ExecContext(ctx, `UPDATE campaign_waves SET status = ?, reason = '' WHERE campaign = ? AND idx = ?`,
				orchestrator.WaveActive, name, idx); err != nil {
				return fmt.Errorf("campaign %s wave %s: continue: %w", name, wave, err)
			}
		}
		ev.Wave, ev.Org = wave, org
		ev.Detail = fmt.Sprintf("accepted %d failures", n)
		if err := s.record(ctx, tx, name, ev); err != nil {
			return err
		}
		return s.markDirty(ctx, tx, name)
	})
	return n, err
}

// Amend replaces a campaign's spec, as it was (old), with spec and
// records ev, marking the campaign for the controller, whose next pass
// decides on it. The campaign must be in orchestrator.Amendable (else
// orchestrator.ErrState), and its spec still old: a change meanwhile is
// an error wrapping orchestrator.ErrState, changing nothing.
func (s *Campaigns) Amend(ctx context.Context, name, old, spec string, ev orchestrator.Event) error {
	return withTx(ctx, s.db, func(tx *sql.Tx) error {
		c, err := s.campaignIn(ctx, tx, name)
		if err != nil {
			return err
		}
		if !slices.Contains(orchestrator.Amendable, c.Status) {
			return fmt.Errorf("campaign %s is %s: %w", name, c.Status, orchestrator.ErrState)
		}
		res, err := tx.ExecContext(ctx, `UPDATE campaigns SET spec = ?, dirty = 1, seq = seq + 1, updated_at = ? WHERE name = ? AND spec = ?`,
			spec, nullMicros(s.now()), name, old)
		if err != nil {
			return fmt.Errorf("campaign %s: set: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("campaign %s was changed meanwhile: %w", name, orchestrator.ErrState)
		}
		return s.record(ctx, tx, name, ev)
	})
}

// MoveDevices moves the named devices of a campaign by a person's event
// (orchestrator.EventExclude or EventInclude) as the state machine allows,
// giving them the row's reason and recording each transition (caused by
// ev's actor) and ev itself, in one transaction. A device the row does
// not move from where it stands is left as it is and reported, as is a
// name not in the campaign. Putting a device back (its row's To is
// pending) makes its wave active again if it was done
// (orchestrator.IncludeWaveFrom) and a done campaign running
// (orchestrator.ActionInclude).
func (s *Campaigns) MoveDevices(ctx context.Context, name string, e orchestrator.DeviceEvent, hosts []string, ev orchestrator.Event) (orchestrator.DeviceChange, error) {
	rule, ok := orchestrator.MoveFor(e)
	if !ok || len(rule.To) != 1 {
		return orchestrator.DeviceChange{}, fmt.Errorf("campaign %s: %s is not a person's move: %w", name, e, orchestrator.ErrState)
	}
	to := rule.To[0]
	now := s.now()
	cause := ev.Actor + " (" + string(e) + ")"
	if ev.Reason != "" {
		cause += ": " + ev.Reason
	}
	var out orchestrator.DeviceChange
	err := withTx(ctx, s.db, func(tx *sql.Tx) error {
		out = orchestrator.DeviceChange{}
		if _, err := s.campaignIn(ctx, tx, name); err != nil {
			return err
		}
		reopen := map[int]bool{}
		for _, h := range hosts {
			d, err := scanMember(tx.QueryRowContext(ctx, `SELECT `+memberCols+` FROM campaign_devices WHERE campaign = ? AND rank = ? AND hostname = ?`, name, hostRank(name, h), h))
			if errors.Is(err, sql.ErrNoRows) {
				out.Missing = append(out.Missing, h)
				continue
			}
			if err != nil {
				return err
			}
			if !rule.Moves(d.State, d.Reason) {
				out.Unmoved = append(out.Unmoved, d.Member)
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE campaign_devices SET state = ?, reason = ?, message = '', checkpoint = NULL, run_id = '',
				lease_until = NULL, next_attempt_at = NULL, accepted = 0, changed_at = ? WHERE campaign = ? AND rank = ? AND hostname = ?`,
				to, rule.Reason, nullMicros(now), name, hostRank(name, h), h); err != nil {
				return fmt.Errorf("campaign %s device %s: %s: %w", name, h, e, err)
			}
			if err := s.transition(ctx, tx, name, h, d.State, to, rule.Reason, cause, now); err != nil {
				return err
			}
			out.Moved = append(out.Moved, h)
			if to == orchestrator.DevicePending {
				reopen[d.Wave] = true
			}
		}
		for w := range reopen {
			if _, err := tx.ExecContext(ctx, `UPDATE campaign_waves SET status = ?, completed_at = NULL
				WHERE campaign = ? AND idx = ? AND status IN (`+marks(len(orchestrator.IncludeWaveFrom))+`)`,
				append([]any{orchestrator.WaveActive, name, w}, anys(orchestrator.IncludeWaveFrom)...)...); err != nil {
				return fmt.Errorf("campaign %s wave %d: reopen: %w", name, w, err)
			}
		}
		if len(reopen) > 0 {
			change, _ := orchestrator.ChangeFor(orchestrator.ActionInclude)
			if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET status = ? WHERE name = ? AND status IN (`+marks(len(change.From))+`)`,
				append([]any{change.To, name}, anys(change.From)...)...); err != nil {
				return fmt.Errorf("campaign %s: reopen: %w", name, err)
			}
		}
		ev.Detail = fmt.Sprintf("%d devices", len(out.Moved))
		if len(out.Moved) > 0 && len(out.Moved) <= maxNamedInEvent {
			ev.Detail += ": " + strings.Join(out.Moved, ", ")
		}
		if err := s.record(ctx, tx, name, ev); err != nil {
			return err
		}
		return s.markDirty(ctx, tx, name)
	})
	return out, err
}

// maxNamedInEvent is how many moved devices an event names; beyond it,
// only their count (each device's own transitions name the decision).
const maxNamedInEvent = 10

// record inserts a person's decision into the campaign's events.
func (s *Campaigns) record(ctx context.Context, tx *sql.Tx, name string, ev orchestrator.Event) error {
	at := ev.At
	if at.IsZero() {
		at = s.now()
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_events (campaign, at, actor, action, wave, org, detail, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, name, nullMicros(at), ev.Actor, ev.Action, ev.Wave, ev.Org, ev.Detail, ev.Reason); err != nil {
		return fmt.Errorf("campaign %s: record %s: %w", name, ev.Action, err)
	}
	return nil
}

// Events returns a campaign's recorded decisions, oldest first.
func (s *Campaigns) Events(ctx context.Context, name string) ([]orchestrator.Event, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, at, actor, action, wave, org, detail, reason FROM campaign_events
		WHERE campaign = ? ORDER BY id`, name)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: events: %w", name, err)
	}
	defer rows.Close()
	var out []orchestrator.Event
	for rows.Next() {
		e := orchestrator.Event{Campaign: name}
		var at sql.NullInt64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Wave, &e.Org, &e.Detail, &e.Reason); err != nil {
			return nil, err
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
