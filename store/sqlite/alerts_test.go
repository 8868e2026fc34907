package sqlite_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/alerts"
)

// TestAlertsMaxSource: an alert stored before alert files were limited,
// longer than SetMaxSource allows, reads as unreadable without being
// parsed (the conformance suite covers what the contract says of
// unreadable alerts).
func TestAlertsMaxSource(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, func() time.Time { return testNow })
	as, err := db.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src := "# " + strings.Repeat("x", 2000) + "\nid: HSA-LONG\ntitle: long\nissued: 2019-01-08\ndeadline: 2019-01-22\nremediation:\n  \"10.0.17763\": [KB4480966]\n"
	a, err := alerts.Parse("long.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := as.Add(ctx, a, []byte(src)); err != nil {
		t.Fatal(err)
	}
	as.SetMaxSource(1000)
	var ue *alerts.UnreadableError
	if _, err := as.Get(ctx, "HSA-LONG"); !errors.As(err, &ue) || !strings.Contains(err.Error(), "over the limit of 1000") {
		t.Fatalf("get over the size limit: %v", err)
	}
	if _, err := as.List(ctx); !errors.As(err, &ue) || ue.ID != "HSA-LONG" {
		t.Fatalf("list over the size limit: %v", err)
	}
	as.SetMaxSource(0)
	if got, err := as.Get(ctx, "HSA-LONG"); err != nil || got.ID != "HSA-LONG" {
		t.Fatalf("get without a limit: %v %v", got, err)
	}
}
