package sqlite

import (
	"context"
	"database/sql"
)

// ForgetAlert runs forgetAlert, which Alerts.Remove calls inside its
// transaction, in a transaction of its own: the history's tests check it
// alone.
func ForgetAlert(ctx context.Context, d *DB, alert string) (n int64, err error) {
	err = withTx(ctx, d.db, func(tx *sql.Tx) error {
		n, err = forgetAlert(ctx, tx, alert)
		return err
	})
	return n, err
}

// RetainWatchedKBs runs Inventory.retainWatchedKBsTx, which Alerts.Remove
// calls inside its transaction, in a transaction of its own: the rollup's
// tests check it alone.
func RetainWatchedKBs(ctx context.Context, d *DB, keep []string) (n int, err error) {
	err = withTx(ctx, d.db, func(tx *sql.Tx) error {
		n, err = d.inv.retainWatchedKBsTx(ctx, tx, keep)
		return err
	})
	return n, err
}
