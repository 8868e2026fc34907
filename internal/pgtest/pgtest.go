// Package pgtest gives a test a PostgreSQL database of its own on the
// server RINGMASTER_TEST_POSTGRES names (an administrator's URL; .ci/postgres
// starts one from Debian's packages and prints it):
//
//	export RINGMASTER_TEST_POSTGRES=$(.ci/postgres)
//
// Without it the test is skipped, unless RINGMASTER_REQUIRE_POSTGRES is set
// (as CI sets it), when it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The environment variables pgtest reads.
const (
	EnvURL     = "RINGMASTER_TEST_POSTGRES"
	EnvRequire = "RINGMASTER_REQUIRE_POSTGRES"
)

// URL creates a new, empty database and returns its URL; the database is
// dropped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvURL)
	if admin == "" {
		if os.Getenv(EnvRequire) != "" {
			t.Fatalf("%s is set but %s is not: start PostgreSQL with export %s=$(.ci/postgres)", EnvRequire, EnvURL, EnvURL)
		}
		t.Skipf("no PostgreSQL for this test: export %s=$(.ci/postgres)", EnvURL)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "ringmaster_test_" + hex.EncodeToString(b)
	// UTF-8 whatever the cluster's default; the stores order text by byte
	// (COLLATE "C"), as SQLite does, not by the cluster's locale.
	exec(t, admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0 ENCODING 'UTF8'")
	t.Cleanup(func() { exec(t, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)") })
	u.Path = "/" + name
	return u.String()
}

func exec(t testing.TB, admin, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", sql, err))
	}
}
