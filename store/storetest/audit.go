package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/audit"
	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// Audit runs the audit trail's conformance suite: seqs from 1 without
// gaps, every field read back as written (the records' JSON byte for
// byte, times to the microsecond in UTC), invalid entries refused with
// nothing stored, every field of a query, paging that walks every entry
// once, and appends from several goroutines at once given distinct seqs.
// That the database itself refuses UPDATE and DELETE is each engine's
// own test, with its raw handle.
func Audit(t *testing.T, open Open) {
	t.Run("RoundTrip", func(t *testing.T) { auditRoundTrip(t, open) })
	t.Run("Refused", func(t *testing.T) { auditRefused(t, open) })
	t.Run("Query", func(t *testing.T) { auditQuery(t, open) })
	t.Run("Paging", func(t *testing.T) { auditPaging(t, open) })
	t.Run("Concurrent", func(t *testing.T) { auditConcurrent(t, open) })
}

// storedEntry is e as a store returns it: its time in UTC to the
// microsecond, an empty record as none.
func storedEntry(e audit.Entry) audit.Entry {
	e.At = e.At.UTC().Truncate(time.Microsecond)
	if len(e.Before) == 0 {
		e.Before = nil
	}
	if len(e.After) == 0 {
		e.After = nil
	}
	return e
}

// list reads the entries q selects, failing t on an error.
func list(t *testing.T, s AuditStore, q audit.Query) []audit.Entry {
	t.Helper()
	es, err := s.List(ctx, q)
	if err != nil {
		t.Fatalf("list %+v: %v", q, err)
	}
	return es
}

func seqs(es []audit.Entry) []int64 {
	out := []int64{}
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func auditRoundTrip(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Audit
	if es := list(t, s, audit.Query{}); len(es) != 0 {
		t.Fatalf("a new trail lists %v", es)
	}
	at := zoned.Add(123456789 * time.Nanosecond)
	entries := []audit.Entry{
		{At: at, Actor: "ci-pipeline", Via: "token", TokenID: "0123456789ab", From: "10.1.2.3:51234", Action: "campaign.pause",
			Target: "win11-north", Org: "RXX", Outcome: audit.Done, Detail: "paused by schedule",
			// Spacing, key order, escapes and non-ASCII kept as given: the
			// bytes, not a re-encoding.
			Before: json.RawMessage(`{"status": "running",  "waves":[1, 2],"b":1,"a":"\u00e9t\u00e9 é"}`),
			After:  json.RawMessage("{\n  \"status\": \"paused\"\n}")},
		{At: at.Add(time.Second), Actor: "alice@ops-host", Via: "cli", From: "ops-host", Action: "token.create", Target: "abcdef012345",
			Outcome: audit.Refused, Detail: "role admin needed: forbidden"},
		{At: at.Add(2 * time.Second), Actor: "bob", Via: "oidc", From: "[2001:db8::1]:443", Action: "credential.remove", Target: "estate",
			Outcome: audit.Failed, Detail: "in use", Before: json.RawMessage(`null`), After: json.RawMessage(`[]`)},
		{At: at.Add(3 * time.Second), Actor: "carol", Action: "alert.add", Outcome: audit.Done, Before: json.RawMessage{}},
	}
	for i := range entries {
		e := entries[i]
		if err := s.Append(ctx, &e); err != nil {
			t.Fatalf("append %s: %v", e.Action, err)
		}
		if e.Seq != int64(i+1) {
			t.Errorf("entry %d given seq %d, want %d (from 1, without gaps)", i, e.Seq, i+1)
		}
		entries[i].Seq = e.Seq
	}
	got := list(t, s, audit.Query{})
	if len(got) != len(entries) {
		t.Fatalf("listed %d entries, want %d", len(got), len(entries))
	}
	for i, want := range entries {
		want = storedEntry(want)
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("entry %d reads back as\n%+v\nwant\n%+v", i, got[i], want)
		}
		if got[i].At.Location() != time.UTC {
			t.Errorf("entry %d: time %s not in UTC", i, got[i].At)
		}
		if string(got[i].Before) != string(want.Before) || string(got[i].After) != string(want.After) {
			t.Errorf("entry %d's records read back as %q and %q, want %q and %q", i, got[i].Before, got[i].After, want.Before, want.After)
		}
	}
}

func auditRefused(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Audit
	good := func() audit.Entry {
		return audit.Entry{At: zoned, Actor: "alice", Via: "cli", Action: "campaign.start", Target: "c", Outcome: audit.Done}
	}
	first := good()
	if err := s.Append(ctx, &first); err != nil {
		t.Fatal(err)
	}
	bad := func(change func(*audit.Entry)) audit.Entry {
		e := good()
		change(&e)
		return e
	}
	for _, c := range []struct {
		name string
		e    audit.Entry
	}{
		{"no time", bad(func(e *audit.Entry) { e.At = time.Time{} })},
		{"no actor", bad(func(e *audit.Entry) { e.Actor = " " })},
		{"no action", bad(func(e *audit.Entry) { e.Action = "" })},
		{"an unknown outcome", bad(func(e *audit.Entry) { e.Outcome = "maybe" })},
		{"a detail over the limit", bad(func(e *audit.Entry) { e.Detail = strings.Repeat("x", audit.MaxText+1) })},
		{"a record over the limit", bad(func(e *audit.Entry) { e.After = json.RawMessage(`"` + strings.Repeat("x", audit.MaxRecord) + `"`) })},
		{"a record not JSON", bad(func(e *audit.Entry) { e.Before = json.RawMessage(`{"status":`) })},
		{"a NUL in its detail", bad(func(e *audit.Entry) { e.Detail = "a\x00b" })},
		{"a target not UTF-8", bad(func(e *audit.Entry) { e.Target = "caf\xe9" })},
		{"a record not UTF-8", bad(func(e *audit.Entry) { e.After = json.RawMessage("\"caf\xe9\"") })},
	} {
		e := c.e
		if err := s.Append(ctx, &e); !errors.Is(err, errkind.Invalid) || e.Seq != 0 {
			t.Errorf("append an entry with %s = %v (seq %d), want Invalid and no seq", c.name, err, e.Seq)
		}
	}
	if es := list(t, s, audit.Query{}); len(es) != 1 {
		t.Errorf("after refused appends the trail holds %d entries, want 1", len(es))
	}
	// A refused entry takes no seq.
	next := good()
	if err := s.Append(ctx, &next); err != nil || next.Seq != 2 {
		t.Errorf("append after refused ones: seq %d %v, want 2", next.Seq, err)
	}
}

// queryTrail appends the trail the query cases read; entry i (seq i+1) is
// at zoned plus i minutes.
func queryTrail(t *testing.T, s AuditStore) {
	t.Helper()
	for i, e := range []struct{ actor, action, org string }{
		{"alice", "campaign.create", "RXX"},  // 1
		{"alice", "campaign.pause", "RYY"},   // 2
		{"bob", "token.create", ""},          // 3
		{"bob", "campaign.start", "RXX"},     // 4
		{"carol", "campaigns.create", "RZZ"}, // 5: not under "campaign."
		{"alice", "campaign", "RXX"},         // 6: nor this
		{"carol", "token.revoke", "RYY"},     // 7
		{"Alice", "Campaign.create", "rxx"},  // 8: matched exactly, case and all
	} {
		entry := audit.Entry{At: zoned.Add(time.Duration(i) * time.Minute), Actor: e.actor, Action: e.action, Org: e.org, Outcome: audit.Done}
		if err := s.Append(ctx, &entry); err != nil {
			t.Fatal(err)
		}
	}
}

func auditQuery(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Audit
	queryTrail(t, s)
	minute := func(n int) time.Time {
		return zoned.Add(time.Duration(n) * time.Minute).In(time.FixedZone("UTC-5", -5*3600))
	}
	for _, c := range []struct {
		name string
		q    audit.Query
		want []int64
	}{
		{"everything", audit.Query{}, []int64{1, 2, 3, 4, 5, 6, 7, 8}},
		{"an actor", audit.Query{Actor: "alice"}, []int64{1, 2, 6}},
		{"an unknown actor", audit.Query{Actor: "dave"}, []int64{}},
		{"an action", audit.Query{Action: "campaign.pause"}, []int64{2}},
		{"an action without a dot, exactly", audit.Query{Action: "campaign"}, []int64{6}},
		{"an action's prefix", audit.Query{Action: "campaign."}, []int64{1, 2, 4}},
		{"another prefix", audit.Query{Action: "token."}, []int64{3, 7}},
		{"a prefix nothing has", audit.Query{Action: "plugin."}, []int64{}},
		{"since, inclusive", audit.Query{Since: minute(2)}, []int64{3, 4, 5, 6, 7, 8}},
		{"until, exclusive", audit.Query{Until: minute(2)}, []int64{1, 2}},
		{"since and until", audit.Query{Since: minute(1), Until: minute(4)}, []int64{2, 3, 4}},
		{"a moment's microsecond", audit.Query{Since: minute(3), Until: minute(3).Add(time.Microsecond)}, []int64{4}},
		{"an organisation", audit.Query{Orgs: []string{"RXX"}}, []int64{1, 4, 6}},
		{"organisations", audit.Query{Orgs: []string{"RYY", "RXX"}}, []int64{1, 2, 4, 6, 7}},
		{"an unknown organisation", audit.Query{Orgs: []string{"RQQ"}}, []int64{}},
		{"no organisations (not nil)", audit.Query{Orgs: []string{}}, []int64{}},
		{"after", audit.Query{After: 4}, []int64{5, 6, 7, 8}},
		{"after the last", audit.Query{After: 8}, []int64{}},
		{"a limit", audit.Query{Limit: 3}, []int64{1, 2, 3}},
		{"after and a limit", audit.Query{After: 2, Limit: 2}, []int64{3, 4}},
		{"every field", audit.Query{After: 1, Limit: 5, Actor: "alice", Action: "campaign.", Since: minute(0), Until: minute(7), Orgs: []string{"RYY"}}, []int64{2}},
		{"a limit after filters", audit.Query{Actor: "alice", Limit: 2}, []int64{1, 2}},
		{"filters and after", audit.Query{Orgs: []string{"RXX", "RYY"}, After: 2, Action: "campaign."}, []int64{4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := c.q
			if got := seqs(list(t, s, q)); !slices.Equal(got, c.want) {
				t.Errorf("List(%+v) = %v, want %v", c.q, got, c.want)
			}
		})
	}
	for _, q := range []audit.Query{{Limit: -1}, {After: -1}} {
		if _, err := s.List(ctx, q); !errors.Is(err, errkind.Invalid) {
			t.Errorf("List(%+v) = %v, want Invalid", q, err)
		}
	}
}

func auditPaging(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Audit
	const n = 57
	for i := range n {
		e := audit.Entry{At: zoned.Add(time.Duration(i) * time.Second), Actor: fmt.Sprintf("actor-%d", i%3), Action: "device.label",
			Target: fmt.Sprintf("pc%02d", i), Org: []string{"RXX", "RYY"}[i%2], Outcome: audit.Done}
		if err := s.Append(ctx, &e); err != nil {
			t.Fatal(err)
		}
	}
	walk := func(q audit.Query) []audit.Entry {
		t.Helper()
		var all []audit.Entry
		for pages := 0; ; pages++ {
			page := list(t, s, q)
			if len(page) == 0 {
				return all
			}
			if len(page) > q.Limit {
				t.Fatalf("a page of %d entries, over its limit %d", len(page), q.Limit)
			}
			if pages > n {
				t.Fatal("paging does not end")
			}
			all = append(all, page...)
			q.After = page[len(page)-1].Seq
		}
	}
	every := walk(audit.Query{Limit: 10})
	if got := seqs(every); len(got) != n || got[0] != 1 || got[n-1] != n || !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != n {
		t.Errorf("pages of 10 walked %v, want 1 to %d once each", got, n)
	}
	for i, e := range every {
		if e.Target != fmt.Sprintf("pc%02d", i) {
			t.Errorf("entry %d is %s's, want pc%02d's", e.Seq, e.Target, i)
		}
	}
	ryy := walk(audit.Query{Limit: 4, Orgs: []string{"RYY"}, Actor: "actor-1"})
	var want []int64
	for i := range n {
		if i%2 == 1 && i%3 == 1 {
			want = append(want, int64(i+1))
		}
	}
	if got := seqs(ryy); !slices.Equal(got, want) {
		t.Errorf("pages of 4 of RYY's by actor-1 walked %v, want %v", got, want)
	}
	if got := list(t, s, audit.Query{}); len(got) != n {
		t.Errorf("the default limit gave %d entries, want all %d", len(got), n)
	}
}

func auditConcurrent(t *testing.T, open Open) {
	s := open(t, NewClock(start).Now).Audit
	const writers, each = 8, 25
	got := make([][]int64, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				e := audit.Entry{At: zoned, Actor: fmt.Sprintf("writer-%d", w), Action: "device.observe", Target: fmt.Sprint(i), Outcome: audit.Done}
				if err := s.Append(ctx, &e); err != nil {
					t.Error(err)
					return
				}
				got[w] = append(got[w], e.Seq)
			}
		})
	}
	wg.Wait()
	CheckConcurrentSeqs(t, s, got, writers*each)
}

// CheckConcurrentSeqs checks what several writers appended to the trail
// at once, the seqs each was given in got: every seq given once, each
// writer's increasing, and the trail holding 1 to total without a gap,
// each entry under the seq its writer was given. An engine's own test
// that appends from several nodes calls it too.
func CheckConcurrentSeqs(t *testing.T, s AuditStore, got [][]int64, total int) {
	t.Helper()
	given := map[int64]bool{}
	for w, ss := range got {
		if !slices.IsSorted(ss) {
			t.Errorf("writer %d was given seqs out of order: %v", w, ss)
		}
		for _, seq := range ss {
			if given[seq] {
				t.Errorf("seq %d given twice", seq)
			}
			given[seq] = true
		}
	}
	es := list(t, s, audit.Query{Limit: audit.MaxLimit})
	if len(es) != total || len(given) != total {
		t.Fatalf("the trail holds %d entries, %d seqs were given, want %d", len(es), len(given), total)
	}
	for i, e := range es {
		if e.Seq != int64(i+1) || !given[e.Seq] {
			t.Fatalf("entry %d has seq %d (given: %v), want %d: seqs from 1 without gaps", i, e.Seq, given[e.Seq], i+1)
		}
	}
}
