package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/forecast"
)

// TestScore: an organisation counts only when it had devices left at the
// forecast, and is inside when its actual finish falls within P10-P90
// (a band without a P90, "not finishing", holds nothing); the campaign's
// miss is the P50's distance from the actual finish over its duration.
func TestScore(t *testing.T) {
	t0 := start
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	q := func(p10, p50, p90 int) forecast.Quantiles {
		out := forecast.Quantiles{P10: h(p10), P50: h(p50), P90: h(p90)}
		if p90 < 0 {
			out.P90 = time.Time{}
		}
		return out
	}
	r := &result{shape: shapes[0], started: t0, at: h(10), finish: h(100),
		f: forecast.Forecast{Runs: 10, Finish: q(80, 90, 110), Orgs: []forecast.Org{
			{Org: "IN", Finish: q(20, 30, 40)}, {Org: "EARLY", Finish: q(20, 30, 40)}, {Org: "LATE", Finish: q(20, 30, 40)},
			{Org: "NEVER", Finish: q(20, 30, -1)}, {Org: "DONE", Finish: q(5, 5, 5)}}},
		left:   map[string]int{"IN": 3, "EARLY": 1, "LATE": 2, "NEVER": 4},
		actual: map[string]time.Time{"IN": h(40), "EARLY": h(19), "LATE": h(41), "NEVER": h(35), "DONE": h(5)}}
	var b strings.Builder
	s := r.write(&b)
	if s.orgs != 4 || s.inside != 1 || s.worst != 0.1 {
		t.Errorf("score %+v, want 1 of 4 inside and a miss of 10%%\n%s", s, b.String())
	}
	for _, want := range []string{"IN  ", "yes", "NO", "never", "4d 04:00", "off by 10.0%"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}
