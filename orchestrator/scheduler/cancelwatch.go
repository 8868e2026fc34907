package scheduler

import (
	"context"
	"sync"
	"time"

	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// cancelWatch tells running devices that their campaign was cancelled. One
// goroutine reads the status of every campaign with a device running here,
// once a poll, and calls the cancel of each of its devices when it finds it
// cancelled: ten thousand devices running one campaign cost one read a
// poll, not ten thousand, and no goroutine each.
type cancelWatch struct {
	// campaign reads a campaign (the store's Campaign).
	campaign func(ctx context.Context, name string) (orchestrator.Campaign, error)
	every    time.Duration // how often statuses are read
	timeout  time.Duration // the most one read may take

	mu      sync.Mutex
	byName  map[string]*watched
	polling bool // the poll goroutine runs
}

// watched is one campaign's watch.
type watched struct {
	next      int
	onCancel  map[int]func() // the running devices' cancels
	cancelled bool           // the campaign was seen cancelled
}

// watch calls onCancel once campaign is seen cancelled (at once if it
// already was), unless release was called first; call release when the
// device stops running. It starts the poll goroutine if none runs; the
// goroutine ends once nothing is watched. onCancel must not block.
func (w *cancelWatch) watch(campaign string, onCancel func()) (release func()) {
	w.mu.Lock()
	if w.byName == nil {
		w.byName = map[string]*watched{}
	}
	e := w.byName[campaign]
	if e == nil {
		e = &watched{onCancel: map[int]func(){}}
		w.byName[campaign] = e
	}
	id := e.next
	e.next++
	e.onCancel[id] = onCancel
	if !w.polling {
		w.polling = true
		go w.run()
	}
	already := e.cancelled
	w.mu.Unlock()
	if already {
		onCancel()
	}
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if _, ok := e.onCancel[id]; !ok {
			return
		}
		delete(e.onCancel, id)
		if len(e.onCancel) == 0 && w.byName[campaign] == e {
			delete(w.byName, campaign)
		}
	}
}

// run polls until nothing is watched.
func (w *cancelWatch) run() {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for range t.C {
		if !w.poll(context.Background()) {
			return
		}
	}
}

// poll reads the status of every watched campaign once and calls the
// cancels of the devices of those cancelled. It reports whether anything is still
// watched; when not, the poll goroutine is marked stopped under the same
// lock, so a watch that comes later starts another.
func (w *cancelWatch) poll(ctx context.Context) bool {
	w.mu.Lock()
	if len(w.byName) == 0 {
		w.polling = false
		w.mu.Unlock()
		return false
	}
	names := make([]string, 0, len(w.byName))
	for name, e := range w.byName {
		if !e.cancelled {
			names = append(names, name)
		}
	}
	w.mu.Unlock()
	for _, name := range names {
		rctx, cancel := context.WithTimeout(ctx, w.timeout)
		c, err := w.campaign(rctx, name)
		cancel()
		if err != nil || c.Status != orchestrator.StatusCancelled {
			// A failed read is tried again at the next poll; the lease
			// keeper's own writes fail if the store is gone.
			continue
		}
		var cancels []func()
		w.mu.Lock()
		if e := w.byName[name]; e != nil && !e.cancelled {
			e.cancelled = true
			for _, f := range e.onCancel {
				cancels = append(cancels, f)
			}
		}
		w.mu.Unlock()
		for _, f := range cancels {
			f()
		}
	}
	return true
}
