package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/audit"
)

// Audit is the audit trail, append-only: its table's triggers refuse
// every UPDATE and DELETE (migrations/access), and its schema is versioned
// with the API tokens' (access_migrations). It implements audit.Store.
type Audit struct {
	db  *sql.DB
	rdb *sql.DB
}

var _ audit.Store = (*Audit)(nil)

// Audit is the audit trail, its table migrated on first use
// (access_migrations, with the API tokens').
func (d *DB) Audit(ctx context.Context) (*Audit, error) {
	if err := d.ensure(ctx, accessMigrations); err != nil {
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	return &Audit{db: d.db, rdb: d.rdb}, nil
}

const auditColumns = `at, actor, via, token_id, from_addr, action, target, org, outcome, detail, before, after`

// Append validates e (audit.Entry.Validate: errkind.Invalid, nothing
// stored), stores it and sets e.Seq to its place in the trail.
func (s *Audit) Append(ctx context.Context, e *audit.Entry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO audit_log (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		micros(e.At), e.Actor, e.Via, e.TokenID, e.From, e.Action, e.Target, e.Org, e.Outcome, e.Detail, record(e.Before), record(e.After))
	if err != nil {
		return fmt.Errorf("append to the audit trail (%s by %s): %w", e.Action, e.Actor, err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("append to the audit trail (%s by %s): %w", e.Action, e.Actor, err)
	}
	e.Seq = seq
	return nil
}

// record is a JSON record as stored: its text exactly, NULL for none.
func record(r json.RawMessage) sql.NullString {
	if len(r) == 0 {
		return sql.NullString{}
	}
	return sql.NullString{String: string(r), Valid: true}
}

// fromRecord is a stored JSON record (nil for NULL).
func fromRecord(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return nil
	}
	return json.RawMessage(s.String)
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
	where, args := []string{"seq > ?"}, []any{q.After}
	if q.Actor != "" {
		where, args = append(where, "actor = ?"), append(args, q.Actor)
	}
	if prefix, ok := strings.CutSuffix(q.Action, "."); ok {
		// A range on the text, which the BINARY collation orders by byte:
		// every action that starts with prefix + ".", and no other.
		where, args = append(where, "action >= ? AND action < ?"), append(args, q.Action, prefix+"/")
	} else if q.Action != "" {
		where, args = append(where, "action = ?"), append(args, q.Action)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, micros(q.Since))
	}
	if !q.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, micros(q.Until))
	}
	if q.Orgs != nil {
		where, args = append(where, "org IN ("+marks(len(q.Orgs))+")"), append(args, anys(q.Orgs)...)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT seq, `+auditColumns+` FROM audit_log WHERE `+strings.Join(where, " AND ")+
		` ORDER BY seq LIMIT ?`, append(args, q.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("read the audit trail: %w", err)
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		var e audit.Entry
		var at int64
		var before, after sql.NullString
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Via, &e.TokenID, &e.From, &e.Action, &e.Target, &e.Org, &e.Outcome, &e.Detail,
			&before, &after); err != nil {
			return nil, fmt.Errorf("read the audit trail: %w", err)
		}
		e.At, e.Before, e.After = time.UnixMicro(at).UTC(), fromRecord(before), fromRecord(after)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the audit trail: %w", err)
	}
	return out, nil
}
