package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ringmaster-fleet/ringmaster/internal/pgtest"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// openFeed opens a node's store (a pool of its own) on the database url.
func openFeed(t *testing.T, url string) *Campaigns {
	t.Helper()
	db, err := Open(context.Background(), url, Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db.Campaigns()
}

// feedCampaign creates and starts campaign c of n devices in five
// organisations, and returns their hostnames.
func feedCampaign(t *testing.T, s *Campaigns, n int) []string {
	t.Helper()
	ctx := context.Background()
	var ms []orchestrator.Member
	var hosts []string
	for i := range n {
		ms = append(ms, orchestrator.Member{Hostname: fmt.Sprintf("d%04d.nhs.uk", i), Org: fmt.Sprintf("R%02d", i%5), Site: "s", Order: i})
		hosts = append(hosts, ms[i].Hostname)
	}
	c := orchestrator.Campaign{Name: "c", SpecFile: "c.yaml", Spec: "name: c", PlaybookFile: "p.yaml", Playbook: "name: p"}
	if err := s.Create(ctx, c, []string{"all"}, slices.Values(ms)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangeStatus(ctx, "c", orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	return hosts
}

// errRolledBack rolls a move back.
var errRolledBack = errors.New("rolled back")

// move records a move of host in tx as the store's writers do: the
// device's row locked, then its transition.
func move(ctx context.Context, tx pgx.Tx, host string) error {
	if _, err := tx.Exec(ctx, `SELECT 1 FROM campaign_devices WHERE campaign = 'c' AND hostname = $1 FOR UPDATE`, host); err != nil {
		return err
	}
	return transitions(ctx, tx, "c", []string{host}, []string{"queued"}, "running", "", "worker", time.Now())
}

// ids are the ids of ts.
func ids(ts []orchestrator.Transition) []int64 {
	out := make([]int64, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// TestTransitionsAfterWaitsForEarlierIDs: a transition whose transaction
// commits after one with a larger id is missed for ever by a reader
// paging by id without a bound; TransitionsAfter returns neither until
// the earlier id has committed, then both, in id order.
func TestTransitionsAfterWaitsForEarlierIDs(t *testing.T) {
	ctx := context.Background()
	s := openFeed(t, pgtest.URL(t))
	hosts := feedCampaign(t, s, 2)
	slow, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(ctx)
	if err := move(ctx, slow, hosts[0]); err != nil { // takes the smaller id
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return move(ctx, tx, hosts[1]) }); err != nil {
		t.Fatal(err)
	}

	// Unbounded, a reader sees the larger id alone, and then never the
	// smaller one.
	naive, err := s.transitionsPage(ctx, "c", 0, math.MaxInt64, nil, 10)
	if err != nil || len(naive) != 1 || naive[0].Hostname != hosts[1] {
		t.Fatalf("unbounded page = %+v %v, want %s's transition alone", naive, err, hosts[1])
	}
	// Bounded: nothing while the smaller id's transaction is open.
	began := time.Now()
	page, err := s.TransitionsAfter(ctx, "c", 0, nil, 10)
	if err != nil || len(page) != 0 {
		t.Fatalf("transitions while an earlier id is being written = %+v %v, want none", page, err)
	}
	t.Logf("returned none after %s", time.Since(began).Round(time.Millisecond))
	// A reader waiting meanwhile gets both once it commits.
	done := make(chan []orchestrator.Transition, 1)
	go func() {
		page, err := s.TransitionsAfter(ctx, "c", 0, nil, 10)
		if err != nil {
			t.Error(err)
		}
		done <- page
	}()
	time.Sleep(feedWait / 5)
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	page = <-done
	if len(page) != 2 || page[0].Hostname != hosts[0] || page[1].Hostname != hosts[1] || page[0].ID >= page[1].ID || page[0].Org != "R00" {
		t.Fatalf("transitions once it committed = %+v, want %s's then %s's", page, hosts[0], hosts[1])
	}
	if rest, err := s.transitionsPage(ctx, "c", naive[0].ID, math.MaxInt64, nil, 10); err != nil || len(rest) != 0 {
		t.Fatalf("unbounded page after %d = %+v %v", naive[0].ID, rest, err)
	}
}

// TestTransitionsAfterFromSeveralNodes: workers on several nodes (pools
// of their own) record transitions at once, each transaction held open
// a few milliseconds after its ids are taken, some rolled back, while
// readers on other nodes follow the campaign a page at a time. Following
// with TransitionsAfter sees every transition exactly once, in id order,
// past the rolled back ones' gaps, its organisation filter too; paging by
// id without its bound misses some (three rounds of writes, and more
// until it has, up to five).
func TestTransitionsAfterFromSeveralNodes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	admin := openFeed(t, url)
	hosts := feedCampaign(t, admin, 120)
	const nodes, workersPerNode, limit = 3, 4, 7
	var workers []*Campaigns
	for range nodes {
		workers = append(workers, openFeed(t, url))
	}
	// A follower reads pages after the last id it saw.
	type follower struct {
		read  func(after int64) ([]orchestrator.Transition, error)
		seen  []orchestrator.Transition
		after int64
	}
	filter := []string{"R01", "R03"}
	bounded, filtered, naive := &follower{}, &follower{}, &follower{}
	for _, f := range []struct {
		f    *follower
		read func(s *Campaigns, after int64) ([]orchestrator.Transition, error)
	}{
		{bounded, func(s *Campaigns, after int64) ([]orchestrator.Transition, error) {
			return s.TransitionsAfter(ctx, "c", after, nil, limit)
		}},
		{filtered, func(s *Campaigns, after int64) ([]orchestrator.Transition, error) {
			return s.TransitionsAfter(ctx, "c", after, filter, limit)
		}},
		{naive, func(s *Campaigns, after int64) ([]orchestrator.Transition, error) {
			return s.transitionsPage(ctx, "c", after, math.MaxInt64, nil, limit)
		}},
	} {
		s := openFeed(t, url)
		f.f.read = func(after int64) ([]orchestrator.Transition, error) { return f.read(s, after) }
	}

	var all []orchestrator.Transition
	for round := range 5 {
		var writers sync.WaitGroup
		errs := make(chan error, nodes*workersPerNode)
		writing := make(chan struct{})
		for n, s := range workers {
			for w := range workersPerNode {
				writers.Add(1)
				go func() {
					defer writers.Done()
					r := rand.New(rand.NewPCG(uint64(round), uint64(n*workersPerNode+w)))
					for i := n*workersPerNode + w; i < len(hosts); i += nodes * workersPerNode {
						err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
							if err := move(ctx, tx, hosts[i]); err != nil {
								return err
							}
							time.Sleep(time.Duration(r.IntN(6000)) * time.Microsecond)
							if r.IntN(10) == 0 {
								return errRolledBack
							}
							return nil
						})
						if err != nil && !errors.Is(err, errRolledBack) {
							errs <- err
							return
						}
					}
				}()
			}
		}
		go func() {
			writers.Wait()
			close(writing)
		}()
		// Each follower reads until the writers are done and a page comes
		// back short.
		var readers sync.WaitGroup
		for _, f := range []*follower{bounded, filtered, naive} {
			readers.Add(1)
			go func() {
				defer readers.Done()
				for {
					over := false
					select {
					case <-writing:
						over = true
					default:
					}
					page, err := f.read(f.after)
					if err != nil {
						errs <- err
						return
					}
					f.seen = append(f.seen, page...)
					if len(page) > 0 {
						f.after = page[len(page)-1].ID
					}
					if over && len(page) < limit {
						return
					}
				}
			}()
		}
		readers.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}

		var err error
		if all, err = admin.Transitions(ctx, "c", ""); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(bounded.seen), ids(all)) {
			t.Fatalf("round %d: TransitionsAfter followed %d transitions, want the %d recorded, each once in id order:\n got %v\nwant %v",
				round, len(bounded.seen), len(all), ids(bounded.seen), ids(all))
		}
		var want []int64
		for _, tr := range all {
			if slices.Contains(filter, tr.Org) {
				want = append(want, tr.ID)
			}
		}
		if !slices.Equal(ids(filtered.seen), want) {
			t.Fatalf("round %d: TransitionsAfter of %v followed %d transitions, want %d:\n got %v\nwant %v",
				round, filter, len(filtered.seen), len(want), ids(filtered.seen), want)
		}
		missed := len(all) - len(naive.seen)
		t.Logf("round %d: %d transitions (%d rolled back so far); following by id, %d missed without the bound, none with it",
			round, len(all), (round+1)*len(hosts)-len(all), missed)
		if missed > 0 && round >= 2 {
			return
		}
	}
	t.Errorf("paging by id without the bound missed nothing in 5 rounds: the test no longer reproduces the race it guards against")
}
