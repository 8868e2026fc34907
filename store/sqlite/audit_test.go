package sqlite_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ringmaster-fleet/ringmaster/audit"
)

// TestAuditAppendOnly: the database itself refuses to rewrite or remove
// an entry of the audit trail, whatever statement tries (the conformance
// suite cannot run raw SQL): its triggers abort, by SQLite's
// constraint-trigger code, and the trail is left as it was.
func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, func() time.Time { return testNow })
	trail, err := db.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"campaign.start", "campaign.pause"} {
		e := audit.Entry{At: testNow, Actor: "alice", Action: action, Org: "RXX", Outcome: audit.Done, After: []byte(`{"a":1}`)}
		if err := trail.Append(ctx, &e); err != nil {
			t.Fatal(err)
		}
	}
	before, err := trail.List(ctx, audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE audit_log SET actor = 'mallory' WHERE seq = 1`,
		`UPDATE audit_log SET after = NULL`,
		`DELETE FROM audit_log WHERE seq = 2`,
		`DELETE FROM audit_log`, // SQLite's truncate optimisation is off where a trigger watches
		`INSERT OR REPLACE INTO audit_log (seq, at, actor, action, outcome) VALUES (1, 0, 'mallory', 'nothing', 'done')`,
		`REPLACE INTO audit_log (seq, at, actor, action, outcome) VALUES (2, 0, 'mallory', 'nothing', 'done')`,
		`INSERT INTO audit_log (seq, at, actor, action, outcome) VALUES (1, 0, 'mallory', 'nothing', 'done')
			ON CONFLICT (seq) DO UPDATE SET actor = excluded.actor`,
	} {
		_, err := db.SQL().ExecContext(ctx, q)
		var coded interface{ Code() int }
		if !errors.As(err, &coded) || coded.Code() != sqlite3.SQLITE_CONSTRAINT_TRIGGER {
			t.Errorf("%s: %v, want the trigger's abort (SQLITE_CONSTRAINT_TRIGGER)", q, err)
		}
	}
	after, err := trail.List(ctx, audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, before) {
		t.Errorf("the trail changed:\n%+v\nwas\n%+v", after, before)
	}
	// Appending goes on, after the entries kept.
	e := audit.Entry{At: testNow, Actor: "bob", Action: "token.create", Outcome: audit.Done}
	if err := trail.Append(ctx, &e); err != nil || e.Seq != 3 {
		t.Errorf("append after the refusals: seq %d %v, want 3", e.Seq, err)
	}
}
