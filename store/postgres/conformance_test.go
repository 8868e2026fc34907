package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/pgtest"
	"github.com/ringmaster-fleet/ringmaster/notify"
	"github.com/ringmaster-fleet/ringmaster/store/postgres"
	"github.com/ringmaster-fleet/ringmaster/store/storetest"
)

// open opens a database on the suite's clock, closed when t ends.
func open(t *testing.T, url string, now func() time.Time) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url, postgres.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// openStores opens every store over a new database.
func openStores(t *testing.T, now func() time.Time) storetest.Stores {
	t.Helper()
	db := open(t, pgtest.URL(t), now)
	return storetest.Stores{Plugins: db.Plugins(), History: db.History(), Notifications: db.Notifications(),
		Inventory:   db.Inventory(),
		Credentials: db.Credentials(),
		Alerts:      db.Alerts(),
		Campaigns:   db.Campaigns(),
		Nodes:       db.Nodes(),
		Tokens:      db.Tokens(),
		Audit:       db.Audit(),
	}
}

// TestConformance runs every store's conformance suite against
// PostgreSQL.
func TestConformance(t *testing.T) {
	for _, suite := range []struct {
		name string
		run  func(*testing.T, storetest.Open)
	}{
		{"Plugins", storetest.Plugins},
		{"History", storetest.History},
		{"Notifications", storetest.Notifications},
		{"Inventory", storetest.Inventory},
		{"Credentials", storetest.Credentials},
		{"Alerts", storetest.Alerts},
		{"Campaigns", storetest.Campaigns},
		{"Nodes", storetest.Nodes},
		{"Tokens", storetest.Tokens},
		{"Audit", storetest.Audit},
	} {
		t.Run(suite.name, func(t *testing.T) { suite.run(t, openStores) })
	}
}

// TestOpenTogether opens one new database from several nodes at once:
// each store's migrations are applied once (the advisory lock), and every
// node finds the schema current.
func TestOpenTogether(t *testing.T) {
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			db, err := postgres.Open(context.Background(), url, postgres.Options{})
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	db := open(t, url, time.Now)
	var applied int
	if err := db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM plugins_migrations`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir(filepath.Join("migrations", "plugins"))
	if err != nil {
		t.Fatal(err)
	}
	if applied != len(files) {
		t.Errorf("plugins_migrations holds %d versions, want %d (each applied once)", applied, len(files))
	}
}

// TestSchemaTooNew refuses a database a newer Ringmaster has migrated.
func TestSchemaTooNew(t *testing.T) {
	url := pgtest.URL(t)
	db := open(t, url, time.Now)
	if _, err := db.Pool().Exec(context.Background(), `INSERT INTO plugins_migrations (version, name, applied_at) VALUES (99, 'future', now())`); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.Open(context.Background(), url, postgres.Options{})
	if !errors.Is(err, postgres.ErrSchemaTooNew) {
		t.Fatalf("open a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

// TestOpenBadURL names what is wrong with a URL without echoing its
// password.
func TestOpenBadURL(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://u:secret-password@host:notaport/db", postgres.Options{})
	if err == nil {
		t.Fatal("a URL with a bad port opened")
	}
	if msg := err.Error(); msg == "" || strings.Contains(msg, "secret-password") {
		t.Errorf("error %q: want it to say what is wrong without the password", msg)
	}
}

// TestClaimFromSeveralNodes claims one outbox from several nodes at once:
// every delivery is claimed by exactly one of them.
func TestClaimFromSeveralNodes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	now := time.Date(2027, 1, 12, 9, 0, 0, 0, time.UTC)
	s := open(t, url, func() time.Time { return now }).Notifications()
	var subs []int64
	for i := range 50 {
		n, err := s.AddSubscription(ctx, notify.Subscription{Org: fmt.Sprintf("R%02d", i), Channel: notify.Webhook, URL: "https://example.nhs.uk/hook"})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, n.ID)
	}
	for e := range 4 {
		if _, err := s.Enqueue(ctx, fmt.Sprintf("event-%d", e), []byte(`{}`), subs, now); err != nil {
			t.Fatal(err)
		}
	}
	const nodes = 4
	claimed := make([][]int64, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		node := open(t, url, func() time.Time { return now }).Notifications()
		wg.Go(func() {
			for {
				ds, err := node.Claim(ctx, now, now.Add(time.Minute), 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				for _, d := range ds {
					claimed[i] = append(claimed[i], d.ID)
				}
			}
		})
	}
	wg.Wait()
	seen := map[int64]int{}
	for _, ids := range claimed {
		for _, id := range ids {
			seen[id]++
		}
	}
	if len(seen) != 4*len(subs) {
		t.Errorf("%d deliveries claimed, want %d", len(seen), 4*len(subs))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("delivery %d claimed %d times", id, n)
		}
	}
}
