// Package ctxtest holds contexts for tests that cancel work at a chosen
// point rather than at a chosen time.
package ctxtest

import (
	"context"
	"sync"
)

// Countdown is a context whose Err reports context.Canceled from its n-th
// call on, and whose Done is closed then: a cancellation (as SIGINT or
// SIGTERM makes one) that arrives part way through some work, at the n-th
// place the work looks, without timing. database/sql and context also look
// from goroutines of their own, so it is safe for concurrent use.
type Countdown struct {
	context.Context
	mu   sync.Mutex
	n    int
	done chan struct{}
}

// NewCountdown returns a Countdown over parent that cancels at the n-th
// look.
func NewCountdown(parent context.Context, n int) *Countdown {
	return &Countdown{Context: parent, n: n, done: make(chan struct{})}
}

// Err implements context.Context.
func (c *Countdown) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n--; c.n > 0 {
		return nil
	}
	if c.n == 0 {
		close(c.done)
	}
	return context.Canceled
}

// Done implements context.Context.
func (c *Countdown) Done() <-chan struct{} { return c.done }

// Fired reports whether the cancellation came.
func (c *Countdown) Fired() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n <= 0
}
