package scheduler

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
)

// listenPoll is how often pollListener reads River's notifications when
// nothing in this process woke it: how late, at most, a notified insert by
// another process (or by River's periodic enqueuer) is fetched. An insert
// whose notification River's limiter held back, or that came while the
// listener reconnected, waits for its queue's poll instead.
const listenPoll = 200 * time.Millisecond

// pollListener is River's listener on SQLite, which has no LISTEN: River
// writes a notification row into river_notification in the transaction
// that inserts jobs, and the listener reads the rows after the last it
// saw. River's own SQLite listener reads them twenty times a second on the
// driver's pool; this one reads on a read-only connection (SQLiteJobs' listen), listenPoll
// apart, and at once when this process says it has just committed jobs
// (wake), which is when nearly every notification is written. On an idle
// node those reads were the largest part of its CPU.
type pollListener struct {
	db    *sql.DB
	every time.Duration
	woken chan struct{} // holds one wake-up at most

	mu        sync.Mutex
	connected bool
	lastID    int64            // the last notification read
	topics    map[string]int64 // topics listened to, each with the last ID before it was
	pending   []notification   // read, not yet handed to River
}

// notification is a row of river_notification.
type notification struct {
	id             int64
	topic, payload string
}

var _ riverdriver.Listener = (*pollListener)(nil)

func newPollListener(db *sql.DB, every time.Duration) *pollListener {
	return &pollListener{db: db, every: every, woken: make(chan struct{}, 1), topics: map[string]int64{}}
}

// wake makes a WaitForNotification read now rather than at its next poll:
// this process has just committed jobs, and with them their notification.
func (l *pollListener) wake() {
	select {
	case l.woken <- struct{}{}:
	default:
	}
}

func (l *pollListener) Connect(ctx context.Context) error {
	id, err := l.maxID(ctx)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.connected {
		return errors.New("river listener: already connected")
	}
	l.connected, l.lastID, l.pending = true, id, nil
	return nil
}

func (l *pollListener) Close(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.connected, l.pending = false, nil
	clear(l.topics)
	return nil
}

// Listen subscribes to a topic from now: notifications written before
// are not delivered, even those already read for other topics.
func (l *pollListener) Listen(ctx context.Context, topic string) error {
	id, err := l.maxID(ctx)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.connected {
		return errors.New("river listener: not connected")
	}
	if _, ok := l.topics[topic]; !ok {
		l.topics[topic] = max(l.lastID, id)
	}
	return nil
}

func (l *pollListener) Unlisten(_ context.Context, topic string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.topics, topic)
	return nil
}

func (l *pollListener) Ping(ctx context.Context) error { return l.db.PingContext(ctx) }

// Schema is River's schema: the main database (the scheduler sets none).
func (l *pollListener) Schema() string { return "" }

// SetAfterConnectExec is for River's own driver tests; it is not used.
func (l *pollListener) SetAfterConnectExec(string) {}

// WaitForNotification returns the next notification on a topic listened
// to, reading River's table every listenPoll (or when woken) until there
// is one or ctx ends.
func (l *pollListener) WaitForNotification(ctx context.Context) (*riverdriver.Notification, error) {
	var t *time.Timer
	for {
		if n := l.next(); n != nil {
			return n, nil
		}
		read, err := l.read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		if read {
			continue
		}
		if t == nil {
			t = time.NewTimer(l.every)
			defer t.Stop()
		} else {
			t.Reset(l.every)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		case <-l.woken:
		}
	}
}

// next hands over the first pending notification on a topic listened to
// since before it was written.
func (l *pollListener) next() *riverdriver.Notification {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.pending) > 0 {
		n := l.pending[0]
		l.pending = l.pending[1:]
		if from, ok := l.topics[n.topic]; ok && n.id > from {
			return &riverdriver.Notification{Topic: n.topic, Payload: n.payload}
		}
	}
	return nil
}

// read reads the notifications after the last one read; it reports
// whether there were any. The IDs are a cursor because SQLite has one
// writer: a transaction holding a lower ID holds the write lock until it
// commits, so no higher ID can be seen before it.
func (l *pollListener) read(ctx context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.connected {
		return false, errors.New("river listener: not connected")
	}
	if len(l.topics) == 0 {
		return false, nil
	}
	rows, err := l.db.QueryContext(ctx, `SELECT id, topic, payload FROM river_notification WHERE id > ? ORDER BY id LIMIT 256`, l.lastID)
	if err != nil {
		return false, fmt.Errorf("river listener: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n notification
		if err := rows.Scan(&n.id, &n.topic, &n.payload); err != nil {
			return false, fmt.Errorf("river listener: %w", err)
		}
		l.pending = append(l.pending, n)
		l.lastID = n.id
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("river listener: %w", err)
	}
	return len(l.pending) > 0, nil
}

func (l *pollListener) maxID(ctx context.Context) (int64, error) {
	var id int64
	if err := l.db.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM river_notification`).Scan(&id); err != nil {
		return 0, fmt.Errorf("river listener: %w", err)
	}
	return id, nil
}

// sqliteDriver is River's SQLite driver with pollListener for its listener.
type sqliteDriver struct {
	*riversqlite.Driver
	listener *pollListener
}

func (d sqliteDriver) GetListener(*riverdriver.GetListenenerParams) riverdriver.Listener {
	return d.listener
}
