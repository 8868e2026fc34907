package format_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
)

// BenchmarkCSVRead measures parsing and validating a generated estate,
// without storage: the reading half of an import.
func BenchmarkCSVRead(b *testing.B) {
	const n = 100_000
	var buf bytes.Buffer
	if _, err := synth.Generate(&buf, synth.Options{Devices: n, Orgs: 100, Seed: 1, Now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := format.NewCSVReader(bytes.NewReader(buf.Bytes()), "estate.csv", time.Now())
		if err != nil {
			b.Fatal(err)
		}
		count := 0
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || len(rec.Errs) > 0 {
				b.Fatal(err, rec.Errs)
			}
			if rec.Device.Validate() != nil {
				b.Fatal(rec.Device.Validate())
			}
			count++
		}
		if count != n {
			b.Fatalf("read %d rows, want %d", count, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
}
