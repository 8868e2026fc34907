package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
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
// (the Age header, RFC 9111). A computation under way when a change is
// made is joined by no later reader and its result is not kept as fresh
// (each change begins a generation).
type cache struct {
	mu      sync.Mutex
	gen     uint64 // changes made through this server
	entries map[string]*cached
	order   []string // keys, oldest first
	// kept are the entries recent serves, which a change marks stale
	// rather than forgets; keptOrder their keys, oldest first.
	kept      map[string]*cached
	keptOrder []string
	group     singleflight.Group
	now       func() time.Time
	log       *slog.Logger
}

type cached struct {
	at          time.Time
	contentType string
	body        []byte
	// value is what a dashboard page computed, kept as it is (body is
	// then empty).
	value any
	// stale: a change was made since (recent serves it while it is
	// computed again).
	stale bool
}

// maxCached bounds the entries: a scope and a query each, so a few
// hundred organisations' teams with a handful of views each.
const maxCached = 4096

func newCache(now func() time.Time) *cache {
	return &cache{entries: map[string]*cached{}, kept: map[string]*cached{}, now: now}
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

// recent is value for figures that may be served a little old while they
// are computed anew: past ttl, or after a change cleared it, an entry
// younger than keep is returned at once (with its time, which the page
// shows) and computed again in the background, once for all callers; an
// entry older than keep, or none, is computed while the caller waits.
func (c *cache) recent(key string, ttl, keep time.Duration, fill func() (any, error)) (any, time.Time, error) {
	c.mu.Lock()
	e, gen := c.kept[key], c.gen
	c.mu.Unlock()
	flight := key + "\x00" + strconv.FormatUint(gen, 10)
	if e != nil && c.now().Sub(e.at) < keep {
		if e.stale || c.now().Sub(e.at) >= ttl {
			c.group.DoChan(flight, func() (any, error) { return c.fill(key, gen, wrapValue(fill), true) })
		}
		return e.value, e.at, nil
	}
	v, err, _ := c.group.Do(flight, func() (any, error) { return c.fill(key, gen, wrapValue(fill), true) })
	if err != nil {
		return nil, time.Time{}, err
	}
	e = v.(*cached)
	return e.value, e.at, nil
}

// wrapValue makes fill an entry's; a panic in it is an error, so one in a
// computation no request waits for does not stop the server.
func wrapValue(fill func() (any, error)) func() (*cached, error) {
	return func() (e *cached, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("computing the figures failed: %v", p)
			}
		}()
		v, err := fill()
		if err != nil {
			return nil, err
		}
		return &cached{value: v}, nil
	}
}

// load returns a fresh entry of key, or one fill makes (once for all
// concurrent callers of key), stamped with when fill began.
func (c *cache) load(key string, ttl time.Duration, fill func() (*cached, error)) (*cached, error) {
	c.mu.Lock()
	e, gen := c.entries[key], c.gen
	c.mu.Unlock()
	if e != nil && c.now().Sub(e.at) < ttl {
		return e, nil
	}
	flight := key + "\x00" + strconv.FormatUint(gen, 10)
	v, err, _ := c.group.Do(flight, func() (any, error) { return c.fill(key, gen, fill, false) })
	if err != nil {
		return nil, err
	}
	return v.(*cached), nil
}

// fill computes key's entry, begun in generation gen, and keeps it: among
// the entries a change clears, or, kept, among those it marks stale. One
// begun before a change is given to its callers but not kept as fresh.
func (c *cache) fill(key string, gen uint64, fill func() (*cached, error), kept bool) (*cached, error) {
	at := c.now()
	e, err := fill()
	if err != nil {
		// A background computation has no caller to tell; one stopped
		// with the server is no news.
		if kept && c.log != nil && !errors.Is(err, context.Canceled) {
			c.log.Warn("dashboard figures not computed", "key", strings.ReplaceAll(key, "\x00", " "), "err", err)
		}
		return nil, err
	}
	e.at = at
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		if !kept {
			return e, nil
		}
		stale := *e
		stale.stale = true
		e = &stale
	}
	m, order := c.entries, &c.order
	if kept {
		m, order = c.kept, &c.keptOrder
	}
	if _, ok := m[key]; !ok {
		*order = append(*order, key)
	}
	m[key] = e
	for len(*order) > maxCached {
		delete(m, (*order)[0])
		*order = (*order)[1:]
	}
	return e, nil
}

// clear forgets every entry, and marks the kept ones stale: the next
// reader of one has it computed again.
func (c *cache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries = map[string]*cached{}
	c.order = nil
	for k, e := range c.kept {
		stale := *e
		stale.stale = true
		c.kept[k] = &stale
	}
}
