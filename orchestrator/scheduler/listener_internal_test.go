package scheduler

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver"

	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

// TestPollListener checks River's notifications as pollListener hands them
// over from a real database with River's tables: only topics listened to,
// only those written after the topic was, in order; none after Unlisten;
// a wake-up reads at once (the listener here would otherwise wait an
// hour); and a cancelled wait returns the context's error.
func TestPollListener(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "r.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := Migrate(ctx, SQLiteJobs(db.SQL(), nil)); err != nil {
		t.Fatal(err)
	}
	notify := func(topic, payload string) {
		t.Helper()
		if _, err := db.SQL().ExecContext(ctx, `INSERT INTO river_notification (topic, payload) VALUES (?, ?)`, topic, payload); err != nil {
			t.Fatal(err)
		}
	}
	listen, err := db.ListenSQL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l := newPollListener(listen, time.Hour)
	if _, err := l.WaitForNotification(ctx); err == nil {
		t.Fatal("WaitForNotification before Connect: no error")
	}
	notify("insert", "before connect")
	if err := l.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(ctx, "insert"); err != nil {
		t.Fatal(err)
	}
	notify("leadership", "not listened to")
	notify("insert", "one")
	notify("insert", "two")
	if err := l.Listen(ctx, "leadership"); err != nil {
		t.Fatal(err)
	}
	notify("leadership", "three")

	want := []riverdriver.Notification{{Topic: "insert", Payload: "one"}, {Topic: "insert", Payload: "two"}, {Topic: "leadership", Payload: "three"}}
	for i, w := range want {
		if i > 0 {
			l.wake() // the first read found them all; later ones need no wake-up
		}
		got, err := l.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("notification %d: %v", i, err)
		}
		if *got != w {
			t.Errorf("notification %d: got %+v, want %+v", i, *got, w)
		}
	}

	if err := l.Unlisten(ctx, "leadership"); err != nil {
		t.Fatal(err)
	}
	notify("leadership", "after unlisten")
	notify("insert", "four")
	l.wake()
	if got, err := l.WaitForNotification(ctx); err != nil || got.Payload != "four" {
		t.Errorf("after Unlisten: got %+v, %v; want insert four", got, err)
	}

	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	if _, err := l.WaitForNotification(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a wait with nothing to read: got %v, want the context's deadline", err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(ctx, "insert"); err == nil {
		t.Error("Listen after Close: no error")
	}
}
