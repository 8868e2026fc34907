package sqlite

import (
	"context"
	"fmt"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/internal/sqlmigrate"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// TestCampaignCountsMigration: a database written before campaign
// migration 0003 keeps every campaign and device through it, each device
// numbered into its campaign's range in dispatch order, and starts with
// counts equal to its devices counted.
func TestCampaignCountsMigration(t *testing.T) {
	ctx := context.Background()
	db := openInternal(t)
	ms, err := campaignMigrations.load()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlmigrate.Apply(ctx, db.db, campaignMigrations.table, ms[:2], "2026-11-01T00:00:00Z"); err != nil {
		t.Fatal(err)
	}
	// Two campaigns as the old schema held them, the later one created
	// first in name order.
	for i, name := range []string{"zeta", "alpha"} {
		if _, err := db.db.ExecContext(ctx, `INSERT INTO campaigns (name, spec_file, spec, playbook_file, playbook, status, created_at, updated_at)
			VALUES (?, 'f', 's', 'p', 'p', 'running', ?, ?)`, name, i, i); err != nil {
			t.Fatal(err)
		}
		for d := range 5 {
			state, reason := "pending", ""
			if d%2 == 1 {
				state, reason = "failed", "rolled_back:0xC1900101"
			}
			if _, err := db.db.ExecContext(ctx, `INSERT INTO campaign_devices (campaign, hostname, org, site, wave, ord, state, reason, changed_at, accepted)
				VALUES (?, ?, 'RXX', 's1', ?, ?, ?, ?, 0, ?)`, name, fmt.Sprintf("d%d.%s", 4-d, name), d/3, d, state, reason, d == 3); err != nil {
				t.Fatal(err)
			}
		}
	}
	cs, err := db.Campaigns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"zeta", "alpha"} {
		all, err := cs.Members(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 5 {
			t.Fatalf("%s: %d members after the migration, want 5", name, len(all))
		}
		for i, m := range all {
			if m.Order != i || m.Hostname != fmt.Sprintf("d%d.%s", 4-i, name) || (m.Accepted != (i == 3)) {
				t.Fatalf("%s member %d = %+v after the migration", name, i, m)
			}
		}
		counts, err := cs.Counts(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		want := []orchestrator.Count{
			{Wave: 0, Org: "RXX", Site: "s1", State: "failed", Reason: "rolled_back:0xC1900101", Devices: 1},
			{Wave: 0, Org: "RXX", Site: "s1", State: "pending", Devices: 2},
			{Wave: 1, Org: "RXX", Site: "s1", State: "failed", Reason: "rolled_back:0xC1900101", Accepted: true, Devices: 1},
			{Wave: 1, Org: "RXX", Site: "s1", State: "pending", Devices: 1},
		}
		if fmt.Sprint(counts) != fmt.Sprint(want) {
			t.Fatalf("%s counts after the migration %v, want %v", name, counts, want)
		}
		page, err := cs.Devices(ctx, name, orchestrator.DeviceFilter{State: "pending"}, 0, 10)
		if err != nil || len(page) != 2 || page[0].Order != 2 || page[1].Order != 4 {
			t.Fatalf("%s pending after order 0: %+v %v", name, page, err)
		}
	}
	// A campaign created now takes the next number.
	if err := cs.Create(ctx, orchestrator.Campaign{Name: "new"}, []string{"w"}, func(yield func(orchestrator.Member) bool) {
		yield(orchestrator.Member{Hostname: "n.rxx", Org: "RXX"})
	}); err != nil {
		t.Fatal(err)
	}
	var num int
	if err := db.db.QueryRowContext(ctx, `SELECT num FROM campaigns WHERE name = 'new'`).Scan(&num); err != nil || num != 3 {
		t.Fatalf("new campaign number %d %v, want 3", num, err)
	}
	// Create drops the counts trigger while it writes and puts it back.
	var triggers int
	if err := db.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'campaign_counts_%'`).Scan(&triggers); err != nil || triggers != 3 {
		t.Fatalf("%d counts triggers after a create %v, want 3", triggers, err)
	}
}
