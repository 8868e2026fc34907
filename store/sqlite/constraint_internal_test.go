package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// TestConstraint: violations are told apart by SQLite's extended result
// codes, whatever the message says.
func TestConstraint(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "c.db")+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, q := range []string{`CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT UNIQUE)`,
		`CREATE TABLE c (p INTEGER REFERENCES p (id))`, `INSERT INTO p VALUES (1, 'a')`, `INSERT INTO c VALUES (1)`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		q    string
		want errkind.Kind
	}{
		{`INSERT INTO p VALUES (1, 'b')`, errkind.Exists},
		{`INSERT INTO p VALUES (2, 'a')`, errkind.Exists},
		{`DELETE FROM p WHERE id = 1`, errkind.InUse},
		{`INSERT INTO nope VALUES (1)`, ""},
	} {
		_, err := db.ExecContext(ctx, tt.q)
		if err == nil {
			t.Fatalf("%s: no error", tt.q)
		}
		if got := constraint(fmt.Errorf("wrapped: %w", err)); got != tt.want {
			t.Errorf("%s: constraint(%v) = %v, want %v", tt.q, err, got, tt.want)
		}
	}
	if constraint(nil) != "" || constraint(errors.New("UNIQUE constraint failed")) != "" {
		t.Error("constraint of nil or of an error without a code has a kind")
	}
}
