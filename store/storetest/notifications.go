package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/notify"
)

// Notifications runs the notification store's conformance suite.
func Notifications(t *testing.T, open Open) {
	t.Run("Subscriptions", func(t *testing.T) { notifySubscriptions(t, open) })
	t.Run("OutboxOncePerKey", func(t *testing.T) { notifyOutboxOncePerKey(t, open) })
	t.Run("ClaimLeasesAndSettles", func(t *testing.T) { notifyClaimLeasesAndSettles(t, open) })
}

func notifyStore(t *testing.T, open Open, c *Clock) NotificationStore {
	t.Helper()
	s := open(t, c.Now).Notifications
	if s == nil {
		t.Fatal("the engine opens no notification store")
	}
	return s
}

// notifySubscriptions adds, reads back, lists and removes subscriptions,
// every field kept, and missing ones are errkind.NotFound.
func notifySubscriptions(t *testing.T, open Open) {
	c := NewClock(start)
	s := notifyStore(t, open, c)
	hook := notify.Subscription{Org: "RAA", Channel: notify.Webhook, URL: "https://hooks.example/x", Format: notify.FormatTeams, SecretFile: "/etc/rm/secret"}
	mail := notify.Subscription{Channel: notify.Email, To: "a@b.uk", SMTP: "smtp:587", From: "r@b.uk", Username: "u", PasswordFile: "/p", AllowPlain: true}
	var added []notify.Subscription
	for _, sub := range []notify.Subscription{hook, mail} {
		got, err := s.AddSubscription(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID == 0 || !sameUTC(got.CreatedAt, start) {
			t.Errorf("added %+v", got)
		}
		sub.ID, sub.CreatedAt = got.ID, got.CreatedAt
		back, err := s.Subscription(ctx, got.ID)
		if err != nil || !reflect.DeepEqual(back, sub) {
			t.Errorf("read back\n got %+v, %v\nwant %+v", back, err, sub)
		}
		added = append(added, sub)
	}
	list, err := s.Subscriptions(ctx)
	if err != nil || !reflect.DeepEqual(list, added) {
		t.Errorf("list\n got %+v, %v\nwant %+v", list, err, added)
	}
	if err := s.RemoveSubscription(ctx, added[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscription(ctx, added[0].ID); !errors.Is(err, errkind.NotFound) {
		t.Errorf("removed subscription: %v", err)
	}
	if err := s.RemoveSubscription(ctx, added[0].ID); !errors.Is(err, errkind.NotFound) {
		t.Errorf("removed twice: %v", err)
	}
}

// notifyOutboxOncePerKey enqueues an event twice to overlapping
// subscriptions: one delivery per key and subscription; a subscription
// that does not exist, or was removed, gets none.
func notifyOutboxOncePerKey(t *testing.T, open Open) {
	c := NewClock(start)
	s := notifyStore(t, open, c)
	a, _ := s.AddSubscription(ctx, notify.Subscription{Channel: notify.Webhook, URL: "https://a/"})
	b, _ := s.AddSubscription(ctx, notify.Subscription{Channel: notify.Webhook, URL: "https://b/"})
	if n, err := s.Enqueue(ctx, "k1", []byte(`{"key":"k1"}`), []int64{a.ID}, c.Now()); err != nil || n != 1 {
		t.Fatalf("enqueue: %d, %v", n, err)
	}
	if n, err := s.Enqueue(ctx, "k1", []byte(`{"key":"k1"}`), []int64{a.ID, b.ID, 999}, c.Now()); err != nil || n != 1 {
		t.Fatalf("enqueue again: %d, %v (want only b's new)", n, err)
	}
	if p, err := s.Pending(ctx); err != nil || !reflect.DeepEqual(p, map[int64]int{a.ID: 1, b.ID: 1}) {
		t.Errorf("pending %v, %v", p, err)
	}
	if err := s.RemoveSubscription(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Pending(ctx); !reflect.DeepEqual(p, map[int64]int{a.ID: 1}) {
		t.Errorf("pending after removing b: %v", p)
	}
}

// notifyClaimLeasesAndSettles: a claimed delivery is not claimed again
// while leased; a failure makes it due at its next time with one more
// attempt; a delivery is never claimed again, nor one given up.
func notifyClaimLeasesAndSettles(t *testing.T, open Open) {
	c := NewClock(start)
	s := notifyStore(t, open, c)
	a, _ := s.AddSubscription(ctx, notify.Subscription{Channel: notify.Webhook, URL: "https://a/"})
	for _, k := range []string{"k1", "k2"} {
		if _, err := s.Enqueue(ctx, k, []byte(`{"key":"`+k+`"}`), []int64{a.ID}, c.Now()); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(want ...string) []notify.Delivery {
		t.Helper()
		ds, err := s.Claim(ctx, c.Now(), c.Now().Add(time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, d := range ds {
			keys = append(keys, d.Key)
		}
		if !reflect.DeepEqual(keys, want) {
			t.Fatalf("claimed %v, want %v", keys, want)
		}
		return ds
	}
	ds := claim("k1", "k2")
	if ds[0].Subscription != a.ID || string(ds[0].Event) != `{"key":"k1"}` || ds[0].Attempts != 0 {
		t.Errorf("delivery %+v", ds[0])
	}
	claim() // leased
	if err := s.Settle(ctx, ds[0].ID, notify.Result{At: c.Now()}); err != nil {
		t.Fatal(err)
	}
	// A late failure (a node whose lease outlived another's) leaves a
	// delivered one delivered: never due again, never pending.
	if err := s.Settle(ctx, ds[0].ID, notify.Result{At: c.Now(), Err: "late", Next: c.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, ds[1].ID, notify.Result{At: c.Now(), Err: "500", Next: c.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	claim()
	c.Advance(time.Hour)
	ds = claim("k2")
	if ds[0].Attempts != 1 {
		t.Errorf("attempts %d, want 1", ds[0].Attempts)
	}
	if err := s.Settle(ctx, ds[0].ID, notify.Result{At: c.Now(), Err: "500"}); err != nil { // given up
		t.Fatal(err)
	}
	c.Advance(24 * time.Hour)
	claim()
	if p, _ := s.Pending(ctx); len(p) != 0 {
		t.Errorf("pending %v", p)
	}
}
