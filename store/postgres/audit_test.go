package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ringmaster-fleet/ringmaster/audit"
	"github.com/ringmaster-fleet/ringmaster/internal/pgtest"
	"github.com/ringmaster-fleet/ringmaster/store/storetest"
)

// TestAuditAppendOnly: the database itself refuses to rewrite, remove or
// empty the audit trail, whatever statement tries (the conformance suite
// cannot run raw SQL): its trigger raises (raise_exception, P0001) and the
// trail is left as it was.
func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	db := open(t, pgtest.URL(t), func() time.Time { return now })
	trail := db.Audit()
	for _, action := range []string{"campaign.start", "campaign.pause"} {
		e := audit.Entry{At: now, Actor: "alice", Action: action, Org: "RXX", Outcome: audit.Done, After: []byte(`{"a":1}`)}
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
		`DELETE FROM audit_log`,
		`TRUNCATE audit_log`,
		`INSERT INTO audit_log (seq, at, actor, action, outcome) OVERRIDING SYSTEM VALUE VALUES (1, now(), 'mallory', 'nothing', 'done')
			ON CONFLICT (seq) DO UPDATE SET actor = excluded.actor`,
	} {
		_, err := db.Pool().Exec(ctx, q)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "P0001" {
			t.Errorf("%s: %v, want the trigger's exception (P0001)", q, err)
		}
	}
	after, err := trail.List(ctx, audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, before) {
		t.Errorf("the trail changed:\n%+v\nwas\n%+v", after, before)
	}
	e := audit.Entry{At: now, Actor: "bob", Action: "token.create", Outcome: audit.Done}
	if err := trail.Append(ctx, &e); err != nil || e.Seq != 3 {
		t.Errorf("append after the refusals: seq %d %v, want 3", e.Seq, err)
	}
}

// TestAuditFromSeveralNodes appends from several nodes (pools) at once
// while a reader on another follows the trail page by page, as a tail
// would: every append is given a seq of its own, the trail holds them
// from 1 without a gap, and the reader, which only ever asks for what
// comes after the last seq it saw, sees every entry once, none committed
// behind it with a smaller seq.
func TestAuditFromSeveralNodes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	reader := open(t, url, clock).Audit()
	const nodes, each = 4, 40
	got := make([][]int64, nodes)
	var done atomic.Bool
	var seen []int64
	var follow sync.WaitGroup
	follow.Go(func() {
		var after int64
		for {
			last := done.Load() // read before the page: a page after done is complete
			es, err := reader.List(ctx, audit.Query{After: after, Limit: 7})
			if err != nil {
				t.Error(err)
				return
			}
			for _, e := range es {
				seen = append(seen, e.Seq)
				after = e.Seq
			}
			if last && len(es) == 0 {
				return
			}
		}
	})
	var wg sync.WaitGroup
	for n := range nodes {
		node := open(t, url, clock).Audit()
		wg.Go(func() {
			for i := range each {
				e := audit.Entry{At: now, Actor: fmt.Sprintf("node-%d", n), Action: "device.observe", Target: fmt.Sprint(i), Outcome: audit.Done}
				if err := node.Append(ctx, &e); err != nil {
					t.Error(err)
					return
				}
				got[n] = append(got[n], e.Seq)
			}
		})
	}
	wg.Wait()
	done.Store(true)
	follow.Wait()
	storetest.CheckConcurrentSeqs(t, reader, got, nodes*each)
	want := make([]int64, nodes*each)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if !slices.Equal(seen, want) {
		t.Errorf("a reader following the trail saw %d entries (%v), want 1 to %d once each, in order", len(seen), seen, len(want))
	}
}
