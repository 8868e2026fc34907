package main

import (
	"context"

	"github.com/ringmaster-fleet/ringmaster/internal/inputfile"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

// The one place the CLI opens the database and builds the stores over it.
// A command opens it on first use (--db, $RINGMASTER_DB, else
// ./ringmaster.db) and run closes it after the command.

// open opens the database, once per command.
func (a *app) open(ctx context.Context) (*sqlite.DB, error) {
	if a.db != nil {
		return a.db, nil
	}
	db, err := sqlite.Open(ctx, a.dbFile(), sqlite.Options{Now: a.now, Logger: a.log})
	if err != nil {
		return nil, err
	}
	a.db = db
	return db, nil
}

// dbFile is the database's path: --db, else $RINGMASTER_DB, else
// ./ringmaster.db.
func (a *app) dbFile() string {
	for _, path := range []string{a.dbPath, a.getenv("RINGMASTER_DB")} {
		if path != "" {
			return path
		}
	}
	return "ringmaster.db"
}

func (a *app) close() {
	if a.db != nil {
		if err := a.db.Close(); err != nil {
			a.log.Error("close database", "err", err)
		}
		a.db = nil
	}
}

// inventory is the store of organisations and devices.
func (a *app) inventory(ctx context.Context) (*sqlite.Inventory, error) {
	db, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	return db.Inventory(), nil
}

// credentials is the store of sealed credentials.
func (a *app) credentials(ctx context.Context) (*sqlite.Credentials, error) {
	db, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	return db.Credentials(), nil
}

// plugins is the registry of executor plugins.
func (a *app) plugins(ctx context.Context) (*sqlite.Plugins, error) {
	db, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	return db.Plugins(), nil
}

// campaigns is the campaign store.
func (a *app) campaigns(ctx context.Context) (*sqlite.Campaigns, error) {
	db, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	return db.Campaigns(ctx)
}

// alerts is the alert store. A stored alert longer than the file limit is
// not parsed (one stored before files were limited): reading it fails with
// an error naming it.
func (a *app) alerts(ctx context.Context) (*sqlite.Alerts, error) {
	db, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	as, err := db.Alerts(ctx)
	if err != nil {
		return nil, err
	}
	limit := a.fileLimit().Max
	if limit <= 0 {
		limit = inputfile.DefaultMax
	}
	as.SetMaxSource(limit)
	return as, nil
}

// history is the reports' daily history.
func (a *app) history(ctx context.Context) (*sqlite.History, error) {
	db, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	return db.History(ctx)
}

// notifications is the store of notification subscriptions and their
// outbox.
func (a *app) notifications(ctx context.Context) (*sqlite.Notifications, error) {
	db, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	return db.Notifications(ctx)
}
