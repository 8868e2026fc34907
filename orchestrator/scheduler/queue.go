package scheduler

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/ringmaster-fleet/ringmaster/internal/sqlmigrate"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// Jobs is the database River keeps its jobs in: the campaign store's own,
// so that a plan's device jobs are inserted in the transaction that
// dispatches them. SQLiteJobs or PostgresJobs make one; the campaign
// store's transactions must be of the same engine.
type Jobs interface {
	// migrate creates or updates River's tables.
	migrate(ctx context.Context) error
	// client makes River's client for cfg; wake, if not nil, asks its
	// listener to read notifications now.
	client(cfg *river.Config) (q queue, wake func(), err error)
	// passLock waits until no other control pass runs on this database,
	// from any node, and returns what ends this one's turn.
	passLock(ctx context.Context) (unlock func(), err error)
	// leader is the River client ID of the elected leader, "" if none.
	leader(ctx context.Context) (string, error)
}

// queue is the part of River's client the scheduler uses, whatever its
// driver's transaction type.
type queue interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	JobCancel(ctx context.Context, id int64) (*rivertype.JobRow, error)
	// insertManyTx inserts jobs in a store's transaction, which must be
	// of the driver's type.
	insertManyTx(ctx context.Context, tx orchestrator.Tx, params []river.InsertManyParams) error
}

// client is River's client over a driver whose transactions are TTx.
type client[TTx any] struct {
	*river.Client[TTx]
	engine string
}

func (c client[TTx]) insertManyTx(ctx context.Context, t orchestrator.Tx, params []river.InsertManyParams) error {
	tx, ok := t.(TTx)
	if !ok {
		var want TTx
		return fmt.Errorf("the store's transaction is a %T; River on %s takes a %T: the campaign store and the job queue must share one database", t, c.engine, want)
	}
	_, err := c.InsertManyTx(ctx, tx, params)
	return err
}

// SQLiteJobs keeps the jobs in an SQLite database: db is its one write
// connection (the campaign store's), listen a read-only connection of its
// own on the same file where River's notifications are read (see
// pollListener; nil reads them on db).
func SQLiteJobs(db, listen *sql.DB) Jobs {
	if listen == nil {
		listen = db
	}
	return sqliteJobs{db: db, listen: listen, pass: new(sync.Mutex)}
}

type sqliteJobs struct {
	db, listen *sql.DB
	pass       *sync.Mutex // one control pass at a time: one node runs on an SQLite file
}

func (j sqliteJobs) passLock(context.Context) (func(), error) {
	j.pass.Lock()
	return j.pass.Unlock, nil
}

// migrate applies every pending version of River's schema in one
// transaction under SQLite's write lock (sqlmigrate.Locked), reading the
// applied versions inside it. River's own Migrate reads them outside the
// transaction that applies the next one, so two processes starting on a
// fresh database both tried to apply it ("table river_notification
// already exists"); now the second waits, then finds nothing to do.
func (j sqliteJobs) migrate(ctx context.Context) error {
	m, err := rivermigrate.New(riversqlite.New(j.db), nil)
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	// Every start but the first finds River up to date, reading only.
	if applied, err := m.ExistingVersions(ctx); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	} else if len(applied) == len(m.AllVersions()) {
		return nil
	}
	err = sqlmigrate.Locked(ctx, j.db, func(tx *sql.Tx) error {
		//lint:ignore SA1019 MigrateTx is deprecated because some PostgreSQL migrations cannot share a transaction; SQLite's DDL is transactional, and one transaction is what holds the lock from the version check on.
		_, err := m.MigrateTx(ctx, tx, rivermigrate.DirectionUp, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return nil
}

func (j sqliteJobs) leader(ctx context.Context) (string, error) {
	var id string
	err := j.db.QueryRowContext(ctx, `SELECT leader_id FROM river_leader LIMIT 1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

func (j sqliteJobs) client(cfg *river.Config) (queue, func(), error) {
	l := newPollListener(j.listen, listenPoll)
	c, err := river.NewClient(sqliteDriver{riversqlite.New(j.db), l}, cfg)
	if err != nil {
		return nil, nil, err
	}
	return client[*sql.Tx]{c, "SQLite"}, l.wake, nil
}

// PostgresJobs keeps the jobs in a PostgreSQL database, on the campaign
// store's pool. Several nodes share it: River elects one leader among
// them, which alone runs the periodic control and sweep jobs, and every
// node's workers take device jobs. PostgreSQL's LISTEN/NOTIFY tells each
// node of inserted jobs at once, on one connection River holds apart.
func PostgresJobs(pool *pgxpool.Pool) Jobs { return pgJobs{pool} }

type pgJobs struct{ pool *pgxpool.Pool }

// riverMigrationLock is the advisory lock under which a node migrates
// River's schema ("rivermig" in ASCII), apart from the stores' own;
// controlPassLock the one a control pass holds ("rmcontrl").
const (
	riverMigrationLock int64 = 0x72697665726d6967
	controlPassLock    int64 = 0x726d636f6e74726c
)

// passLock takes controlPassLock on a connection of the queue's pool,
// waiting for a pass under way on another node to end. The lock lives
// with the connection's session, so a node that dies mid-pass frees it.
func (j pgJobs) passLock(ctx context.Context) (func(), error) {
	conn, err := j.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("control pass lock: %w", err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, controlPassLock); err != nil {
		conn.Release()
		return nil, fmt.Errorf("control pass lock: %w", err)
	}
	return func() {
		ctx := context.WithoutCancel(ctx)
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, controlPassLock); err != nil {
			conn.Conn().Close(ctx) // its session, and the lock with it, end here
		}
		conn.Release()
	}, nil
}

// migrate applies River's pending versions under an advisory lock held
// on a connection of its own, so that nodes starting together on a fresh
// database apply each once: the second waits, then finds them applied.
// River applies each version in a transaction of its own; they cannot
// share one (version 4 adds an enum value that version 6 uses, which
// PostgreSQL refuses within the transaction that added it).
func (j pgJobs) migrate(ctx context.Context) error {
	m, err := rivermigrate.New(riverpgxv5.New(j.pool), nil)
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	if applied, err := m.ExistingVersions(ctx); err == nil && len(applied) == len(m.AllVersions()) {
		return nil
	}
	conn, err := j.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, riverMigrationLock); err != nil {
		return fmt.Errorf("river migrations: take the migration lock: %w", err)
	}
	defer func() {
		// A lock left held dies with its session: if the unlock fails
		// the connection is closed rather than returned to the pool.
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, riverMigrationLock); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return nil
}

func (j pgJobs) leader(ctx context.Context) (string, error) {
	var id string
	err := j.pool.QueryRow(ctx, `SELECT leader_id FROM river_leader WHERE expires_at > now() LIMIT 1`).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return id, err
}

func (j pgJobs) client(cfg *river.Config) (queue, func(), error) {
	c, err := river.NewClient(riverpgxv5.New(j.pool), cfg)
	if err != nil {
		return nil, nil, err
	}
	return client[pgx.Tx]{c, "PostgreSQL"}, nil, nil
}

// Migrate creates or updates River's tables in the job queue's database;
// every node calls it on start, and nodes starting together apply each
// version once.
func Migrate(ctx context.Context, jobs Jobs) error { return jobs.migrate(ctx) }
