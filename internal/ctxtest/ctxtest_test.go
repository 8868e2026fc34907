package ctxtest

import (
	"context"
	"errors"
	"testing"
)

func TestCountdown(t *testing.T) {
	c := NewCountdown(context.Background(), 3)
	for i := 1; i <= 2; i++ {
		if err := c.Err(); err != nil || c.Fired() {
			t.Fatalf("look %d: %v, fired %v", i, err, c.Fired())
		}
		select {
		case <-c.Done():
			t.Fatalf("look %d: done already", i)
		default:
		}
	}
	if err := c.Err(); !errors.Is(err, context.Canceled) || !c.Fired() {
		t.Fatalf("third look: %v, fired %v", err, c.Fired())
	}
	<-c.Done()
	if err := c.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("after: %v", err)
	}
}
