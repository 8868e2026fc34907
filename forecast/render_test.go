package forecast_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/forecast"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update to accept):\n%s", path, got)
	}
}

// The output forms are pinned: the table ringmaster campaign forecast
// prints and its JSON, for a campaign with a deadline some organisations
// miss, faults drawn, and a seed.
func TestForecastOutputs(t *testing.T) {
	v, _ := estate(t, "", fmt.Sprintf("deadline: %s\n", t0.Add(60*time.Hour).Format(time.RFC3339)))
	var durations []time.Duration
	for m := 20; m <= 100; m += 10 {
		durations = append(durations, time.Duration(m)*time.Minute)
	}
	p := forecast.Profile{Durations: durations, Failure: forecast.Rate{Events: 1, Trials: 200}, Offline: forecast.Rate{Events: 10, Trials: 100},
		Reoffline: forecast.Rate{Events: 60, Trials: 100}, Source: "this campaign (200 runs)"}
	f, err := forecast.Run(context.Background(), forecast.Input{View: v, Now: t0, Model: forecast.Model{Campaign: p, MinRuns: 1}, Runs: 10, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := f.WriteTable(&table, "sim", time.UTC); err != nil {
		t.Fatal(err)
	}
	golden(t, "forecast.txt", table.Bytes())
	js, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "forecast.json", append(js, '\n'))
}
