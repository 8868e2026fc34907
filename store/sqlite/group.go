package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// writeGroup runs the small writes of many workers (a campaign device's
// begin, heartbeat and finish, what a run observed) in shared transactions: group commit. A write joins the queue;
// if no batch is being committed, its writer commits the next batch (its
// own write first in it) and hands whatever queued meanwhile to a new
// goroutine, which does the same until the queue is empty; no worker is
// kept serving others. Every write is committed before its caller returns
// (a checkpoint is saved before the next step starts), and the writer's
// one connection is taken once per batch rather than once per write, so
// that the controller's pass waits behind one batch, not every worker.
type writeGroup struct {
	db *sql.DB // the writer

	mu      sync.Mutex
	pending []*groupWrite
	running bool // a batch is being committed; false only with nothing pending
	// first counts the controller's transactions waiting for the writer
	// or holding it; while there is one, no batch asks for the writer
	// (clear is closed when first falls back to zero). database/sql hands
	// a connection given back to one of its waiters at random, so without
	// this a control pass could wait behind several batches in turn.
	first int
	clear chan struct{}
}

// claim marks a controller's transaction as first in line for the
// writer until the returned release is first called.
func (g *writeGroup) claim() (release func()) {
	g.mu.Lock()
	if g.first == 0 {
		g.clear = make(chan struct{})
	}
	g.first++
	g.mu.Unlock()
	return sync.OnceFunc(func() {
		g.mu.Lock()
		if g.first--; g.first == 0 {
			close(g.clear)
		}
		g.mu.Unlock()
	})
}

// yield waits until no controller's transaction is in line for the writer.
func (g *writeGroup) yield() {
	for {
		g.mu.Lock()
		if g.first == 0 {
			g.mu.Unlock()
			return
		}
		clear := g.clear
		g.mu.Unlock()
		<-clear
	}
}

// groupWrite is one write waiting in a writeGroup.
type groupWrite struct {
	ctx  context.Context
	f    func(ctx context.Context, tx *sql.Tx) error
	err  error
	done chan struct{}
}

// maxGroup is the most writes one shared transaction commits.
const maxGroup = 256

// run runs f in a transaction shared with other workers' writes and
// returns its error once that transaction is over. f returns a refusal
// (orchestrator.ErrStale, orchestrator.ErrState, errkind.NotFound) before
// it writes anything, so a refusal leaves the others to commit; any other
// error rolls the batch back and runs each write of it alone.
func (g *writeGroup) run(ctx context.Context, f func(ctx context.Context, tx *sql.Tx) error) error {
	w := &groupWrite{ctx: ctx, f: f, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, w)
	if g.running {
		g.mu.Unlock()
		<-w.done // a batch runs it with w.ctx, which bounds it
		return w.err
	}
	g.running = true
	g.mu.Unlock()
	g.commitNext() // nothing was pending: w leads the batch
	<-w.done
	return w.err
}

// commitNext commits the next batch of queued writes, then hands what
// queued meanwhile to a new goroutine, or ends the run of batches.
func (g *writeGroup) commitNext() {
	g.mu.Lock()
	n := min(len(g.pending), maxGroup)
	batch := g.pending[:n:n]
	g.pending = g.pending[n:]
	g.mu.Unlock()
	rest := g.commitGroup(batch)
	g.mu.Lock()
	defer g.mu.Unlock()
	// What a control pass cut off goes first in the next batch.
	g.pending = append(rest, g.pending...)
	if len(g.pending) == 0 {
		g.running = false
		return
	}
	go g.commitNext()
}

// commitGroup commits a batch of writes in one transaction, or, when one
// fails other than by a refusal, each alone. If a control pass claims the
// writer while the batch runs, the batch commits what it has written so
// far and returns the rest, uncommitted, so that the pass waits for one
// write rather than a whole batch.
func (g *writeGroup) commitGroup(batch []*groupWrite) (rest []*groupWrite) {
	g.yield()
	if len(batch) > 1 {
		errs := make([]error, len(batch))
		cut := len(batch)
		err := withTx(context.Background(), g.db, func(tx *sql.Tx) error {
			for i, w := range batch {
				if i > 0 && g.claimed() {
					cut = i
					break
				}
				if err := w.f(w.ctx, tx); err != nil {
					if !refusal(err) {
						return err
					}
					errs[i] = err
				}
			}
			return g.mayCheckpoint(context.Background(), tx)
		})
		if err == nil {
			for i, w := range batch[:cut] {
				w.err = errs[i]
				close(w.done)
			}
			return batch[cut:]
		}
	}
	for _, w := range batch {
		w.err = withTx(w.ctx, g.db, func(tx *sql.Tx) error { return w.f(w.ctx, tx) })
		close(w.done)
	}
	return nil
}

// autoCheckpoint is the WAL's size in pages past which a commit copies
// it back into the database file (SQLite's default).
const autoCheckpoint = 1000

// mayCheckpoint lets the commit of tx, a batch, checkpoint the WAL unless
// a control pass waits for the writer. SQLite checkpoints in the commit
// that takes the WAL past autoCheckpoint pages, copying and syncing them:
// tens of milliseconds that a control pass would wait through.
func (g *writeGroup) mayCheckpoint(ctx context.Context, tx *sql.Tx) error {
	pages := autoCheckpoint
	if g.claimed() {
		pages = 0
	}
	return setAutoCheckpoint(ctx, tx, pages)
}

// noCheckpoint keeps the commit of tx, a control pass's, from
// checkpointing the WAL: the workers' next batch does it instead.
func noCheckpoint(ctx context.Context, tx *sql.Tx) error {
	return setAutoCheckpoint(ctx, tx, 0)
}

// restoreCheckpoints lets the writer's commits checkpoint the WAL again
// after a control pass, when no batch of the workers' will (none is
// running or waiting), so that the WAL does not grow while they are idle.
func (g *writeGroup) restoreCheckpoints(ctx context.Context) error {
	g.mu.Lock()
	busy := g.running
	g.mu.Unlock()
	if busy {
		return nil
	}
	_, err := g.db.ExecContext(ctx, fmt.Sprintf(`PRAGMA wal_autocheckpoint=%d`, autoCheckpoint))
	return err
}

// setAutoCheckpoint sets the connection's automatic checkpoint, which
// takes effect at the end of tx.
func setAutoCheckpoint(ctx context.Context, tx *sql.Tx, pages int) error {
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA wal_autocheckpoint=%d`, pages)); err != nil {
		return fmt.Errorf("wal_autocheckpoint: %w", err)
	}
	return nil
}

// claimed reports whether a controller's transaction is in line for the
// writer.
func (g *writeGroup) claimed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.first > 0
}

// refusal reports an error by which a store's write refuses, having
// written nothing.
func refusal(err error) bool {
	return errors.Is(err, orchestrator.ErrStale) || errors.Is(err, orchestrator.ErrState) || errors.Is(err, errkind.NotFound)
}
