package sqltx_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/ringmaster-fleet/ringmaster/internal/sqltx"
)

func TestCommit(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	count := func() (n int) {
		if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Committed.
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	if err := sqltx.Commit(context.Background(), tx); err != nil || count() != 1 {
		t.Fatalf("commit: %v, %d rows", err, count())
	}

	// Cancelled before the commit: the cancellation, and nothing kept.
	ctx, cancel := context.WithCancel(context.Background())
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO t VALUES (2)`); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := sqltx.Commit(ctx, tx); !errors.Is(err, context.Canceled) {
		t.Fatalf("commit after cancel: %v, want context.Canceled", err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d rows after a cancelled commit, want 1", n)
	}
}
