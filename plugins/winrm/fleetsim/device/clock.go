package device

import (
	"sync"
	"time"
)

// Clock is simulated time. Upgrades and reboots take simulated minutes; a
// scaled clock runs them in real seconds, a manual one in tests.
type Clock interface {
	Now() time.Time
	// After fires once d of simulated time has passed.
	After(d time.Duration) <-chan time.Time
}

// ScaledClock runs simulated time Scale times faster than real time,
// starting at Start.
type ScaledClock struct {
	Start time.Time
	Scale float64
	real0 time.Time
}

// NewScaledClock starts a clock at start running scale times real time.
func NewScaledClock(start time.Time, scale float64) *ScaledClock {
	if scale <= 0 {
		scale = 1
	}
	return &ScaledClock{Start: start, Scale: scale, real0: time.Now()}
}

// Now is the simulated time.
func (c *ScaledClock) Now() time.Time {
	return c.Start.Add(time.Duration(float64(time.Since(c.real0)) * c.Scale))
}

// After fires after d of simulated time.
func (c *ScaledClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	time.AfterFunc(time.Duration(float64(d)/c.Scale), func() { ch <- c.Now() })
	return ch
}

// ManualClock only moves when told to: tests advance it explicitly.
type ManualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewManualClock starts a manual clock at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{now: t} }

// Now is the current simulated time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After fires when the clock has been advanced past d from now.
func (c *ManualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	return ch
}

// Advance moves the clock forward and fires the timers that fall due.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	var keep []waiter
	var fire []waiter
	for _, w := range c.waiters {
		if !w.at.After(now) {
			fire = append(fire, w)
		} else {
			keep = append(keep, w)
		}
	}
	c.waiters = keep
	c.mu.Unlock()
	for _, w := range fire {
		w.ch <- now
	}
}

// Pending is how many timers wait on the clock (tests wait for work to be
// scheduled before advancing).
func (c *ManualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}
