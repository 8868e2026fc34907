package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"riverqueue.com/riverui"

	"github.com/ringmaster-fleet/ringmaster/orchestrator/scheduler"
	"github.com/ringmaster-fleet/ringmaster/server"
	"github.com/ringmaster-fleet/ringmaster/store"
)

// riverUI is River's web UI (riverqueue.com/riverui) over the job queue's
// database, to be served under server.RiverPath (server.Config.River,
// which says who may use it). It is started with ctx's lifetime: its
// background counts of the jobs by state stop when ctx ends.
//
// Its River client is one of its own, insert-only: no queues, no workers,
// never started, so it runs nothing, elects no leader and needs no
// listener, whether or not this process runs the campaigns (the
// scheduler's client lives and dies inside the node). What the UI reads
// and changes is in the database, where every node's River reads it: a
// cancelled running job is told to its node by River's notification, as
// a cancel from any client is. River's tables are migrated first, so that
// a server not running campaigns on a fresh database serves the UI too.
//
// River's UI works on both of the queue's engines: SQLite (the write
// connection the scheduler's River uses) and PostgreSQL (the queue's own
// pool).
func (a *app) riverUI(ctx context.Context) (*riverui.Handler, error) {
	db, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	jobs, err := a.jobs(ctx)
	if err != nil {
		return nil, err
	}
	if err := scheduler.Migrate(ctx, jobs); err != nil {
		return nil, err
	}
	var h *riverui.Handler
	switch db := db.(type) {
	case *store.SQLite:
		h, err = riverUIOver(riversqlite.New(db.SQL()), a.log)
	case *store.Postgres:
		h, err = riverUIOver(riverpgxv5.New(db.QueuePool()), a.log)
	default:
		err = fmt.Errorf("the job queue cannot run on %s (a %T)", db.Where(), db)
	}
	if err != nil {
		return nil, fmt.Errorf("river UI: %w", err)
	}
	if err := h.Start(ctx); err != nil {
		return nil, fmt.Errorf("river UI: %w", err)
	}
	return h, nil
}

// riverUIOver is River's web UI over an insert-only client of driver.
func riverUIOver[TTx any](driver riverdriver.Driver[TTx], log *slog.Logger) (*riverui.Handler, error) {
	c, err := river.NewClient(driver, &river.Config{Logger: log})
	if err != nil {
		return nil, err
	}
	return riverui.NewHandler(&riverui.HandlerOpts{Endpoints: riverui.NewEndpoints(c, nil), Logger: log, Prefix: server.RiverPath})
}
