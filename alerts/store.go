package alerts

import (
	"context"
	"fmt"
)

// Store is the contract every alert store implements (store/sqlite's
// Alerts today, PostgreSQL's next). What follows from an alert and is kept
// with it changes in the same transaction: the updates the inventory's
// rollup watches, and the reports' daily history.
type Store interface {
	// Add stores an alert parsed from source and makes the inventory watch
	// the updates it names, both or neither. An alert with the same id is
	// refused with an error wrapping errkind.Exists.
	Add(ctx context.Context, a *Alert, source []byte) error
	// Remove deletes an alert, readable or not, stops watching the updates
	// only it named (all stay watched while a remaining alert cannot be
	// read) and forgets its figures in the daily history, all or nothing.
	// An unknown id is an error wrapping errkind.NotFound.
	Remove(ctx context.Context, id string) error
	// Get returns one alert: an error wrapping errkind.NotFound when there
	// is none, an *UnreadableError when it cannot be read.
	Get(ctx context.Context, id string) (*Alert, error)
	// List returns every alert, by issue date; one that cannot be read
	// fails the whole list with an *UnreadableError naming it.
	List(ctx context.Context) ([]*Alert, error)
}

// UnreadableError reports a stored alert that can no longer be read: one
// stored by an earlier version, before files and their lists were
// limited. Removing it is the remedy.
type UnreadableError struct {
	ID  string
	Err error
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("alert %s as stored cannot be read: %v", e.ID, e.Err)
}

// Unwrap returns why the alert cannot be read.
func (e *UnreadableError) Unwrap() error { return e.Err }
