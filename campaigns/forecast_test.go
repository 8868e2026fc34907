package campaigns_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// TestRefreshForecasts: a node's background forecasts store one for each
// running or paused campaign whose stored one is older than the age
// given, and none for a draft; a forecast made by a person is stored too,
// a what-if never.
func TestRefreshForecasts(t *testing.T) {
	ctx := context.Background()
	e := newEstate(t, hosts(20)...)
	s := e.service()
	for _, name := range []string{"run", "draft"} {
		if _, err := s.Create(ctx, name+".yaml", []byte("name: "+name+"\nplaybook: discover\nwaves: [{name: all}]\n")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Start(ctx, "run"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StoredForecast(ctx, "run"); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("before any forecast: %v, want NotFound", err)
	}
	done, err := s.RefreshForecasts(ctx, time.Hour, 1)
	if err != nil || !slices.Equal(done, []string{"run"}) {
		t.Fatalf("first refresh: %v, %v; want [run]", done, err)
	}
	f, err := s.StoredForecast(ctx, "run")
	if err != nil || !f.From.Equal(e.now) || len(f.Orgs) != 2 || f.Runs != campaigns.DefaultForecast.Runs {
		t.Fatalf("stored: %+v, %v", f, err)
	}
	e.now = e.now.Add(30 * time.Minute)
	if done, err := s.RefreshForecasts(ctx, time.Hour, 1); err != nil || len(done) != 0 {
		t.Errorf("within the hour: forecast %v, %v; want none", done, err)
	}
	// A what-if is not what the campaign will do, nor a forecast of
	// other options what the reports show: neither is stored.
	if _, err := s.Forecast(ctx, "run", campaigns.ForecastOptions{Runs: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Forecast(ctx, "run", campaigns.ForecastOptions{Runs: 3, Changes: []orchestrator.Change{{Field: orchestrator.FieldMaxConcurrency, Key: "all", Value: "1", Source: "--max-concurrency all=1"}}}); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.StoredForecast(ctx, "run"); !f.From.Equal(e.now.Add(-30 * time.Minute)) {
		t.Errorf("a what-if, or a forecast of other options, was stored: made %s", f.From)
	}
	e.now = e.now.Add(31 * time.Minute)
	if done, err := s.RefreshForecasts(ctx, time.Hour, 1); err != nil || !slices.Equal(done, []string{"run"}) {
		t.Errorf("an hour on: forecast %v, %v; want [run]", done, err)
	}
	// A person's forecast of the draft is stored; the refresh leaves
	// drafts alone.
	if _, err := s.Forecast(ctx, "draft", campaigns.DefaultForecast); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StoredForecast(ctx, "draft"); err != nil {
		t.Errorf("a person's forecast of a draft was not stored: %v", err)
	}
}
