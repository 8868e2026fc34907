package report

import "context"

// HistoryStore is the contract every store of the daily history implements
// (store/sqlite's History today, PostgreSQL's next). An alert's figures
// leave it in the transaction that removes the alert (alerts.Store.Remove).
type HistoryStore interface {
	// Record stores snapshots, each replacing any taken earlier the same
	// day for the same organisation, all or none.
	Record(ctx context.Context, snaps []Snapshot) error
	// Load returns every snapshot, by day then organisation.
	Load(ctx context.Context) ([]Snapshot, error)
}
