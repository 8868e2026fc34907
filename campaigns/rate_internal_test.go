package campaigns

import (
	"testing"
	"time"
)

func TestRate(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	type look struct {
		at       time.Duration
		finished int
		left     int
		perMin   float64
		eta      time.Duration
	}
	tests := []struct {
		name  string
		looks []look
	}{
		{"first look knows no pace", []look{{0, 5, 10, 0, 0}}},
		{"ten a minute", []look{{0, 0, 100, 0, 0}, {time.Minute, 10, 90, 10, 9 * time.Minute}}},
		{"no progress, no ETA", []look{{0, 3, 7, 0, 0}, {2 * time.Minute, 3, 7, 0, 0}}},
		{"only the last five minutes count", []look{{0, 0, 100, 0, 0}, {2 * time.Minute, 20, 80, 10, 8 * time.Minute},
			{6 * time.Minute, 40, 60, 5, 12 * time.Minute}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r rate
			for _, l := range tt.looks {
				perMin, eta := r.update(t0.Add(l.at), l.finished, l.left)
				if perMin != l.perMin || eta != l.eta {
					t.Fatalf("at %s: %v/min, ETA %s; want %v, %s", l.at, perMin, eta, l.perMin, l.eta)
				}
			}
		})
	}
}
