package server

import (
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// cache keeps the responses of read operations that compute over the whole
// estate (reports, a campaign's summary) for a short while, per scope and
// query: hundreds of teams polling the same figures cost one computation a
// period, and concurrent misses wait for the one under way (singleflight).
// Any change made through this server empties it, so a person sees their
// own action at once; changes made elsewhere (another node, the CLI, the
// scheduler) show within the period. Every cached response says its age
// (the Age header, RFC 9111).
type cache struct {
	mu      sync.Mutex
	entries map[string]*cached
	order   []string // keys, oldest first
	group   singleflight.Group
	now     func() time.Time
}

type cached struct {
	at          time.Time
	contentType string
	body        []byte
	// value is what a dashboard page computed, kept as it is (body is
	// then empty).
	value any
}

// maxCached bounds the entries: a scope and a query each, so a few
// hundred organisations' teams with a handful of views each.
const maxCached = 4096

func newCache(now func() time.Time) *cache {
	return &cache{entries: map[string]*cached{}, now: now}
}

// get returns a fresh entry, or computes one with fill (once for all
// concurrent callers of key). fill returns the response's content type and
// body, or an error, which is not cached.
func (c *cache) get(key string, ttl time.Duration, fill func() (string, []byte, error)) (*cached, error) {
	return c.load(key, ttl, func() (*cached, error) {
		ct, body, err := fill()
		if err != nil {
			return nil, err
		}
		return &cached{contentType: ct, body: body}, nil
	})
}

// value is get for a value kept as it is, not encoded: fill computes it.
// It returns the value and when it was computed.
func (c *cache) value(key string, ttl time.Duration, fill func() (any, error)) (any, time.Time, error) {
	e, err := c.load(key, ttl, func() (*cached, error) {
		v, err := fill()
		if err != nil {
			return nil, err
		}
		return &cached{value: v}, nil
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return e.value, e.at, nil
}

// load returns a fresh entry of key, or one fill makes (once for all
// concurrent callers of key), stamped with when fill began.
func (c *cache) load(key string, ttl time.Duration, fill func() (*cached, error)) (*cached, error) {
	c.mu.Lock()
	e := c.entries[key]
	c.mu.Unlock()
	if e != nil && c.now().Sub(e.at) < ttl {
		return e, nil
	}
	v, err, _ := c.group.Do(key, func() (any, error) {
		at := c.now()
		e, err := fill()
		if err != nil {
			return nil, err
		}
		e.at = at
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.entries[key]; !ok {
			c.order = append(c.order, key)
		}
		c.entries[key] = e
		for len(c.order) > maxCached {
			delete(c.entries, c.order[0])
			c.order = c.order[1:]
		}
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*cached), nil
}

// clear forgets every entry.
func (c *cache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = map[string]*cached{}
	c.order = nil
}
