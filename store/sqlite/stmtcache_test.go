package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
)

// TestStatementCache runs statements on one cached connection in the ways
// that could go wrong with a shared prepared statement: the same text again
// while its rows are open, more texts than the cache keeps, a schema
// change under a cached statement, column types, and an error.
func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	db, err := openDB("file:" + filepath.Join(t.TempDir(), "c.db") + "?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	mustExec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	mustExec(`CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`)
	for i := range 5 {
		mustExec(`INSERT INTO t (k, v) VALUES (?, ?)`, i, fmt.Sprint("v", i))
	}
	const sel = `SELECT k, v FROM t WHERE k >= ? ORDER BY k`
	collect := func(rows *sql.Rows) []string {
		t.Helper()
		var out []string
		for rows.Next() {
			var k int
			var v string
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(k, v))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}

	t.Run("same text while its rows are open", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		outer, err := tx.QueryContext(ctx, sel, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !outer.Next() {
			t.Fatal("no first row")
		}
		inner, err := tx.QueryContext(ctx, sel, 3)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := collect(inner), []string{"3v3", "4v4"}; !slices.Equal(got, want) {
			t.Errorf("inner rows %v, want %v", got, want)
		}
		if got, want := collect(outer), []string{"2v2", "3v3", "4v4"}; !slices.Equal(got, want) {
			t.Errorf("outer rows after the first %v, want %v", got, want)
		}
		outer.Close()
		again, err := tx.QueryContext(ctx, sel, 4)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := collect(again), []string{"4v4"}; !slices.Equal(got, want) {
			t.Errorf("rows again %v, want %v", got, want)
		}
	})

	t.Run("more texts than the cache keeps", func(t *testing.T) {
		for round := range 2 {
			for i := range stmtsPerConn + 20 {
				var got string
				q := fmt.Sprintf(`SELECT v || '%d' FROM t WHERE k = ?`, i)
				if err := db.QueryRowContext(ctx, q, i%5).Scan(&got); err != nil {
					t.Fatalf("round %d, text %d: %v", round, i, err)
				}
				if want := fmt.Sprintf("v%d%d", i%5, i); got != want {
					t.Fatalf("round %d, text %d: %q, want %q", round, i, got, want)
				}
			}
		}
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.Raw(func(dc any) error {
			c := dc.(*cachingConn)
			if n := len(c.stmts); n != stmtsPerConn || c.lru.Len() != n {
				t.Errorf("the connection keeps %d statements (%d in its list), want %d", n, c.lru.Len(), stmtsPerConn)
			}
			return nil
		})
	})

	t.Run("schema change under a cached statement", func(t *testing.T) {
		const star = `SELECT * FROM t WHERE k = ?`
		rows, err := db.QueryContext(ctx, star, 1)
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
		mustExec(`ALTER TABLE t ADD COLUMN w TEXT NOT NULL DEFAULT 'w'`)
		rows, err = db.QueryContext(ctx, star, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"k", "v", "w"}; !slices.Equal(cols, want) {
			t.Errorf("columns after ALTER %v, want %v", cols, want)
		}
		types, err := rows.ColumnTypes()
		if err != nil {
			t.Fatal(err)
		}
		if got := types[0].DatabaseTypeName(); got != "INTEGER" {
			t.Errorf("k's type %q, want INTEGER", got)
		}
	})

	t.Run("an error leaves the statement usable", func(t *testing.T) {
		const ins = `INSERT INTO t (k, v) VALUES (?, ?)`
		if _, err := db.ExecContext(ctx, ins, 1, "dup"); err == nil {
			t.Fatal("a duplicate key was inserted")
		}
		mustExec(ins, 10, "v10")
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 6 {
			t.Fatalf("count %d, %v; want 6", n, err)
		}
	})
}
