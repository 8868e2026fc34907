package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/pgtest"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
	"github.com/ringmaster-fleet/ringmaster/store/postgres"
)

// benchDevices is the estate size for the import benchmarks
// (RINGMASTER_BENCH_DEVICES, default 100,000).
func benchDevices(b *testing.B) int {
	if s := os.Getenv("RINGMASTER_BENCH_DEVICES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("RINGMASTER_BENCH_DEVICES: %v", err)
		}
		return n
	}
	return 100_000
}

func writeEstate(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "estate.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := synth.Generate(f, synth.Options{Devices: n, Orgs: 300, Seed: 7, Now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

func importFile(b *testing.B, s *postgres.Inventory, path string) inventory.ImportResult {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	src, err := format.NewCSVReader(f, path, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	res, err := s.Import(context.Background(), src, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "UTC"})
	if err != nil {
		b.Fatal(err)
	}
	return res
}

// BenchmarkImportEmpty measures a first load into an empty store.
func BenchmarkImportEmpty(b *testing.B) {
	n := benchDevices(b)
	path := writeEstate(b, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db, err := postgres.Open(context.Background(), pgtest.URL(b), postgres.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if res := importFile(b, db.Inventory(), path); res.New != n {
			b.Fatalf("imported %d new, want %d", res.New, n)
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/device")
}

// BenchmarkReimport measures importing the same estate again: every row is
// looked up and found unchanged.
func BenchmarkReimport(b *testing.B) {
	n := benchDevices(b)
	path := writeEstate(b, n)
	db, err := postgres.Open(context.Background(), pgtest.URL(b), postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	importFile(b, db.Inventory(), path)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := importFile(b, db.Inventory(), path); res.Unchanged != n {
			b.Fatalf("unchanged %d, want %d", res.Unchanged, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/device")
}
