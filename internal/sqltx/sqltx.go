// Package sqltx holds what every store does with a database/sql
// transaction the same way.
package sqltx

import (
	"context"
	"database/sql"
	"errors"
)

// Commit commits tx. database/sql rolls a transaction back by itself when
// the context it began under is cancelled, and Commit then says only
// "transaction has already been committed or rolled back"; Commit here
// reports the cancellation instead (nothing was committed either way), so a
// caller can tell a stopped command from a broken one.
func Commit(ctx context.Context, tx *sql.Tx) error {
	err := tx.Commit()
	if errors.Is(err, sql.ErrTxDone) && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
