package storetest

import (
	"sync"
	"time"
)

// Clock is the time a suite's stores run on: a factory hands Now to the
// stores it opens, and the suite moves it.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start is where every suite's clock starts: a Tuesday evening in January,
// in UTC, with whole microseconds (what every engine keeps of a time).
var start = time.Date(2027, 1, 12, 20, 0, 0, 0, time.UTC)
