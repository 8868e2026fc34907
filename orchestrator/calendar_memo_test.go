package orchestrator

import (
	"math/rand/v2"
	"testing"
	"time"
)

// A calendar's remembered answers are the answers: asked at times that
// mostly move forward (as the controller and a forecast ask) and sometimes
// back, Open and NextOpen say what a calendar without memory says, for
// daily, overlapping, weekday and blacked-out windows.
func TestCalendarMemoAgrees(t *testing.T) {
	s := spec(t, `
name: memo
playbook: discover
windows:
  default: {cron: "0 20 * * *", duration: 8h}
  orgs:
    OVL: {cron: "0 */2 * * *", duration: 3h}
    WKD: {cron: "0 19 * * 1-5", duration: 10h, timezone: Europe/London}
    SHORT: {cron: "30 12 * * *", duration: 15m}
blackout: [2026-12-25, 2026-12-26, 2027-01-01]
waves: [{name: all}]
`)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, org := range []string{"ANY", "OVL", "WKD", "SHORT"} {
		memo, err := s.Calendar(org, "Europe/London")
		if err != nil {
			t.Fatal(err)
		}
		plain := memo
		plain.memo = nil
		at := time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)
		for i := range 5000 {
			switch {
			case i%50 == 0:
				at = at.Add(-time.Duration(rng.IntN(48)) * time.Hour) // now and then, back
			default:
				at = at.Add(time.Duration(rng.IntN(90)) * time.Minute).Add(time.Duration(rng.IntN(60)) * time.Second)
			}
			o1, c1 := memo.Open(at)
			o2, c2 := plain.Open(at)
			n1, ok1 := memo.NextOpen(at)
			n2, ok2 := plain.NextOpen(at)
			if o1 != o2 || !c1.Equal(c2) || ok1 != ok2 || !n1.Equal(n2) {
				t.Fatalf("%s at %s: remembered Open %v %s, NextOpen %s %v; computed Open %v %s, NextOpen %s %v", org, at, o1, c1, n1, ok1, o2, c2, n2, ok2)
			}
		}
	}
}
