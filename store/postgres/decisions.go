package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// This file holds what a person decides on a running campaign (continue
// a halted wave, change its thresholds, exclude and include devices) and
// the paged listing of its devices they decide from. Every decision is
// recorded in campaign_events in the transaction that makes it.

// Devices returns up to limit devices of a campaign that f selects, in
// dispatch order, after the device of dispatch order after (-1 for the
// first page). Without a state it reads one range of the dispatch-order
// index; with one, a range of campaign_devices_group for each wave and
// organisation holding devices in that state (from the counts), each of
// at most limit devices (a LATERAL join), merged. Its cost follows the
// page and the campaign's organisations, not its devices.
func (s *Campaigns) Devices(ctx context.Context, name string, f orchestrator.DeviceFilter, after, limit int) ([]orchestrator.DeviceRecord, error) {
	q, a := devicesQuery(name, f, after, limit)
	rows, _ := s.pool.Query(ctx, q, a...)
	out, err := pgx.CollectRows(rows, scanMember)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: devices: %w", name, err)
	}
	return out, nil
}

// devicesQuery is the statement of Devices and its arguments.
func devicesQuery(name string, f orchestrator.DeviceFilter, after, limit int) (string, params) {
	a := params{name}
	var q string
	if f.State == "" {
		q = `SELECT ` + memberCols + ` FROM campaign_devices WHERE campaign = $1 AND ord > ` + a.add(after) + filterWhere(&a, f) +
			` ORDER BY ord LIMIT ` + a.add(limit)
	} else {
		state := a.add(string(f.State))
		groups := `SELECT wave, org FROM ` + countsOf + ` WHERE state = ` + state
		if f.Wave != "" {
			groups += ` AND wave = (SELECT idx FROM campaign_waves WHERE campaign = $1 AND name = ` + a.add(f.Wave) + `)`
		}
		if f.Org != "" {
			groups += ` AND org = ` + a.add(f.Org)
		}
		reason := ""
		if f.Reason != "" {
			p := a.add(string(f.Reason))
			groups += ` AND reason = ` + p
			reason = ` AND d.reason = ` + p
		}
		groups += ` GROUP BY wave, org HAVING sum(devices) > 0`
		lim := a.add(limit)
		q = `SELECT ` + prefixed("d.", memberCols) + ` FROM (` + groups + `) g CROSS JOIN LATERAL (SELECT * FROM campaign_devices d
			WHERE d.campaign = $1 AND d.state = ` + state + ` AND d.wave = g.wave AND d.org = g.org AND d.ord > ` + a.add(after) + reason + `
			ORDER BY d.ord LIMIT ` + lim + `) d ORDER BY d.ord LIMIT ` + lim
	}
	return q, a
}

// prefixed is a list of columns each prefixed with p.
func prefixed(p, cols string) string {
	fields := strings.Split(cols, ",")
	for i, c := range fields {
		fields[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(fields, ", ")
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
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		n = 0
		c, err := campaignIn(ctx, tx, name)
		if err != nil {
			return err
		}
		if !c.Status.Live() {
			return fmt.Errorf("campaign %s is %s: nothing to continue: %w", name, c.Status, orchestrator.ErrState)
		}
		var idx int
		var st orchestrator.WaveStatus
		err = tx.QueryRow(ctx, `SELECT idx, status FROM campaign_waves WHERE campaign = $1 AND name = $2`, name, wave).Scan(&idx, &st)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("campaign %s has no wave %s: %w", name, wave, errkind.NotFound)
		}
		if err != nil {
			return fmt.Errorf("campaign %s wave %s: %w", name, wave, err)
		}
		if !slices.Contains(orchestrator.ContinueFrom, st) {
			return fmt.Errorf("wave %s of campaign %s is %s: it has not started, so has no failures to accept: %w", wave, name, st, orchestrator.ErrState)
		}
		// The failures' rows are locked in hostname order, as every
		// device move locks them.
		a := params{name, idx, string(orchestrator.DeviceFailed)}
		where := `campaign = $1 AND wave = $2 AND state = $3 AND NOT accepted`
		if org != "" {
			where += ` AND org = ` + a.add(org)
		}
		tag, err := tx.Exec(ctx, `UPDATE campaign_devices SET accepted = true WHERE campaign = $1 AND hostname IN (
			SELECT hostname FROM campaign_devices WHERE `+where+` ORDER BY hostname FOR UPDATE) AND `+where, a...)
		if err != nil {
			return fmt.Errorf("campaign %s wave %s: accept failures: %w", name, wave, err)
		}
		n = int(tag.RowsAffected())
		if n == 0 && st != orchestrator.WaveHalted {
			who := "it"
			if org != "" {
				who = "organisation " + org + " in it"
			}
			return fmt.Errorf("wave %s of campaign %s is %s and %s has no failure to accept: nothing to continue: %w", wave, name, st, who, orchestrator.ErrState)
		}
		if st == orchestrator.WaveHalted {
			tag, err := tx.Exec(ctx, `UPDATE campaign_waves SET status = $1, reason = '' WHERE campaign = $2 AND idx = $3 AND status = $4`,
				string(orchestrator.WaveActive), name, idx, string(st))
			if err != nil {
				return fmt.Errorf("campaign %s wave %s: continue: %w", name, wave, err)
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("wave %s of campaign %s changed meanwhile: %w", wave, name, orchestrator.ErrState)
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
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := campaignIn(ctx, tx, name)
		if err != nil {
			return err
		}
		if !slices.Contains(orchestrator.Amendable, c.Status) {
			return fmt.Errorf("campaign %s is %s: %w", name, c.Status, orchestrator.ErrState)
		}
		// The record goes in first: the campaign's row is locked last.
		if err := s.record(ctx, tx, name, ev); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE campaigns SET spec = $1, dirty = true, seq = seq + 1, updated_at = $2
			WHERE name = $3 AND spec = $4 AND status = ANY($5)`, spec, stamp(s.now()), name, old, texts(orchestrator.Amendable))
		if err != nil {
			return fmt.Errorf("campaign %s: set: %w", name, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("campaign %s was changed meanwhile: %w", name, orchestrator.ErrState)
		}
		return nil
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
	now := stamp(s.now())
	cause := ev.Actor + " (" + string(e) + ")"
	if ev.Reason != "" {
		cause += ": " + ev.Reason
	}
	var out orchestrator.DeviceChange
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out = orchestrator.DeviceChange{}
		if _, err := campaignIn(ctx, tx, name); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `SELECT `+memberCols+` FROM campaign_devices WHERE campaign = $1 AND hostname = ANY($2)
			ORDER BY hostname FOR UPDATE`, name, hosts)
		devs := map[string]orchestrator.DeviceRecord{}
		if _, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
			d, err := scanMember(row)
			devs[d.Hostname] = d
			return struct{}{}, err
		}); err != nil {
			return fmt.Errorf("campaign %s: %s: %w", name, e, err)
		}
		var from []string
		reopen := map[int]bool{}
		for _, h := range hosts {
			d, ok := devs[h]
			if !ok {
				out.Missing = append(out.Missing, h)
				continue
			}
			if !rule.Moves(d.State, d.Reason) {
				out.Unmoved = append(out.Unmoved, d.Member)
				continue
			}
			out.Moved, from = append(out.Moved, h), append(from, string(d.State))
			if to == orchestrator.DevicePending {
				reopen[d.Wave] = true
			}
			// Named again, it stands where this move leaves it.
			d.State, d.Reason = to, rule.Reason
			devs[h] = d
		}
		if len(out.Moved) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE campaign_devices SET state = $1, reason = $2, message = '', checkpoint = NULL, run_id = '',
				lease_until = NULL, next_attempt_at = NULL, accepted = false, changed_at = $3 WHERE campaign = $4 AND hostname = ANY($5)
				AND state = ANY($6)`, string(to), string(rule.Reason), now, name, out.Moved, texts(rule.From)); err != nil {
				return fmt.Errorf("campaign %s: %s: %w", name, e, err)
			}
			if err := transitions(ctx, tx, name, out.Moved, from, string(to), rule.Reason, cause, now); err != nil {
				return err
			}
		}
		if err := reopenWaves(ctx, tx, name, reopen, orchestrator.IncludeWaveFrom, false); err != nil {
			return err
		}
		ev.Detail = fmt.Sprintf("%d devices", len(out.Moved))
		if len(out.Moved) > 0 && len(out.Moved) <= maxNamedInEvent {
			ev.Detail += ": " + strings.Join(out.Moved, ", ")
		}
		if err := s.record(ctx, tx, name, ev); err != nil {
			return err
		}
		if len(reopen) > 0 {
			change, _ := orchestrator.ChangeFor(orchestrator.ActionInclude)
			if _, err := tx.Exec(ctx, `UPDATE campaigns SET status = $1 WHERE name = $2 AND status = ANY($3)`,
				string(change.To), name, texts(change.From)); err != nil {
				return fmt.Errorf("campaign %s: reopen: %w", name, err)
			}
		}
		return s.markDirty(ctx, tx, name)
	})
	return out, err
}

// maxNamedInEvent is how many moved devices an event names; beyond it,
// only their count (each device's own transitions name the decision).
const maxNamedInEvent = 10

// record inserts a person's decision into the campaign's events.
func (s *Campaigns) record(ctx context.Context, tx pgx.Tx, name string, ev orchestrator.Event) error {
	at := ev.At
	if at.IsZero() {
		at = s.now()
	}
	if _, err := tx.Exec(ctx, `INSERT INTO campaign_events (campaign, at, actor, action, wave, org, detail, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, name, stamp(at), ev.Actor, ev.Action, ev.Wave, ev.Org, ev.Detail, ev.Reason); err != nil {
		return fmt.Errorf("campaign %s: record %s: %w", name, ev.Action, err)
	}
	return nil
}

// Events returns a campaign's recorded decisions, oldest first.
func (s *Campaigns) Events(ctx context.Context, name string) ([]orchestrator.Event, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id, at, actor, action, wave, org, detail, reason FROM campaign_events
		WHERE campaign = $1 ORDER BY id`, name)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (orchestrator.Event, error) {
		e := orchestrator.Event{Campaign: name}
		err := row.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Wave, &e.Org, &e.Detail, &e.Reason)
		e.At = e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("campaign %s: events: %w", name, err)
	}
	return out, nil
}
