package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ringmaster-fleet/ringmaster/audit"
)

// Audit is the audit trail, append-only: its table's triggers refuse
// every UPDATE, DELETE and TRUNCATE (migrations/access). It implements
// audit.Store.
type Audit struct {
	pool *pgxpool.Pool
}

var _ audit.Store = (*Audit)(nil)

// Audit is the audit trail.
func (d *DB) Audit() *Audit { return d.audit }

// auditLock is the advisory lock every append holds to its commit
// ("rmaudit").
const auditLock int64 = 0x726d6175646974

const auditColumns = `at, actor, via, token_id, from_addr, action, target, org, outcome, detail, before, after`

// Append validates e (audit.Entry.Validate: errkind.Invalid, nothing
// stored), stores it and sets e.Seq to its place in the trail. Appends
// from every node take one advisory lock to their commit, so entries
// become visible in the order of their seq: a reader paging by seq
// (Query.After) never passes one that commits later with a smaller seq.
// The trail records changes people and programs make, a few a second at
// most, so appends waiting on each other cost nothing that matters.
func (s *Audit) Append(ctx context.Context, e *audit.Entry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	var seq int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, auditLock); err != nil {
			return fmt.Errorf("lock the audit trail: %w", err)
		}
		return tx.QueryRow(ctx, `INSERT INTO audit_log (`+auditColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING seq`,
			stamp(e.At), e.Actor, e.Via, e.TokenID, e.From, e.Action, e.Target, e.Org, e.Outcome, e.Detail,
			record(e.Before), record(e.After)).Scan(&seq)
	})
	if err != nil {
		return fmt.Errorf("append to the audit trail (%s by %s): %w", e.Action, e.Actor, err)
	}
	e.Seq = seq
	return nil
}

// record is a JSON record as stored: its text exactly, NULL for none.
func record(r json.RawMessage) *string {
	if len(r) == 0 {
		return nil
	}
	s := string(r)
	return &s
}

// fromRecord is a stored JSON record (nil for NULL).
func fromRecord(s *string) json.RawMessage {
	if s == nil {
		return nil
	}
	return json.RawMessage(*s)
}

// List returns the entries q selects (audit.Query), oldest first: after
// q.After, at most q.Limit, every condition set met. An Orgs that is
// empty but not nil selects nothing.
func (s *Audit) List(ctx context.Context, q audit.Query) ([]audit.Entry, error) {
	if err := q.Normalise(); err != nil {
		return nil, err
	}
	if q.Orgs != nil && len(q.Orgs) == 0 {
		return nil, nil
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where = append(where, "seq > "+arg(q.After))
	if q.Actor != "" {
		where = append(where, "actor = "+arg(q.Actor))
	}
	if prefix, ok := strings.CutSuffix(q.Action, "."); ok {
		// A range on the text ordered by byte: every action that starts
		// with prefix + ".", and no other.
		where = append(where, `action COLLATE "C" >= `+arg(q.Action)+` AND action COLLATE "C" < `+arg(prefix+"/"))
	} else if q.Action != "" {
		where = append(where, "action = "+arg(q.Action))
	}
	if !q.Since.IsZero() {
		where = append(where, "at >= "+arg(stamp(q.Since)))
	}
	if !q.Until.IsZero() {
		where = append(where, "at < "+arg(stamp(q.Until)))
	}
	if q.Orgs != nil {
		where = append(where, "org = ANY("+arg(q.Orgs)+")")
	}
	rows, _ := s.pool.Query(ctx, `SELECT seq, `+auditColumns+` FROM audit_log WHERE `+strings.Join(where, " AND ")+
		` ORDER BY seq LIMIT `+arg(q.Limit), args...)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (audit.Entry, error) {
		var e audit.Entry
		var before, after *string
		err := row.Scan(&e.Seq, &e.At, &e.Actor, &e.Via, &e.TokenID, &e.From, &e.Action, &e.Target, &e.Org, &e.Outcome, &e.Detail,
			&before, &after)
		e.At, e.Before, e.After = e.At.UTC(), fromRecord(before), fromRecord(after)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the audit trail: %w", err)
	}
	return out, nil
}
