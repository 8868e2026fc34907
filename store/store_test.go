package store_test

import (
	"testing"

	"github.com/ringmaster-fleet/ringmaster/store"
)

func TestIsPostgres(t *testing.T) {
	for _, tt := range []struct {
		where string
		want  bool
	}{
		{"ringmaster.db", false},
		{"/var/lib/ringmaster/ringmaster.db", false},
		{"data=2026.db", false}, // a file whose name has an = in it
		{"", false},
		{"postgres://rm@db/ringmaster", true},
		{"postgresql://rm@db/ringmaster?sslmode=verify-full", true},
		{"host=db user=rm password=s3cret dbname=rm", true},
		{"host=db dbname=rm extra", false},
	} {
		if got := store.IsPostgres(tt.where); got != tt.want {
			t.Errorf("IsPostgres(%q) = %v, want %v", tt.where, got, tt.want)
		}
	}
}
