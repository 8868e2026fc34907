// Command copybench measures ringmaster db copy at the mission's scale:
// it generates and imports an estate into an SQLite file, creates a
// campaign over it and starts it, records a daily snapshot, then copies the file into an empty
// PostgreSQL database and reports each step's wall time and peak RSS
// (make bench-copy):
//
//	go run ./cmd/copybench -bin bin/ringmaster -devices 1300000 -orgs 300 -db "$(.ci/postgres ringmaster_copy)"
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/ringmaster-fleet/ringmaster/cmd/internal/benchutil"
)

type options struct {
	bin, db, dir string
	devices      int
	orgs         int
	campaign     bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/ringmaster", "the ringmaster binary")
	flag.StringVar(&o.db, "db", "", "the empty PostgreSQL database to copy into (a postgres:// URL)")
	flag.StringVar(&o.dir, "dir", "", "where the SQLite file and CSV go (default a temporary directory, removed after)")
	flag.IntVar(&o.devices, "devices", 1_300_000, "devices in the estate")
	flag.IntVar(&o.orgs, "orgs", 300, "organisations")
	flag.BoolVar(&o.campaign, "campaign", true, "create and start a campaign over every device before copying")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "copybench:", err)
		os.Exit(1)
	}
}

const spec = `name: national
playbook: discover
target: 'build<10.0.19045'
waves:
  - {name: pilot, count: 500, soak: 24h}
  - {name: ring1, percent: 10, max_concurrency: 20000, soak: 24h}
  - {name: rest}
`

func run(o options) error {
	if o.db == "" {
		return fmt.Errorf("-db: give an empty PostgreSQL database (make bench-copy makes one)")
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "ringmaster-copy-"); err != nil {
			return err
		}
		defer os.RemoveAll(o.dir)
	}
	rb := benchutil.Runner{Bin: bin, Dir: o.dir, DB: filepath.Join(o.dir, "estate.db")}
	fmt.Printf("db copy of %d devices in %d organisations (campaign: %v), in %s\n\n", o.devices, o.orgs, o.campaign, o.dir)
	fmt.Printf("%-40s %10s %9s\n", "step", "wall", "peak RSS")
	row := func(step string, r benchutil.Result) {
		fmt.Printf("%-40s %10s %9s\n", step, benchutil.Round(r.Wall), benchutil.MiB(r.RSS))
	}
	steps := []struct {
		name string
		args []string
	}{
		{"generate CSV", []string{"inventory", "generate", "--devices", strconv.Itoa(o.devices), "--orgs", strconv.Itoa(o.orgs),
			"--seed", "7", "--now", "2026-11-01", "--out", "estate.csv"}},
		{"import into SQLite", []string{"inventory", "import", "estate.csv", "--create-orgs", "--org-timezone", "Europe/London"}},
	}
	if o.campaign {
		if err := os.WriteFile(filepath.Join(o.dir, "national.yaml"), []byte(spec), 0o644); err != nil {
			return err
		}
		steps = append(steps, struct {
			name string
			args []string
		}{"campaign create", []string{"campaign", "create", "-f", "national.yaml"}}, struct {
			name string
			args []string
		}{"campaign start", []string{"campaign", "start", "national"}})
	}
	steps = append(steps, struct {
		name string
		args []string
	}{"report snapshot", []string{"report", "snapshot"}}, struct {
		name string
		args []string
	}{"db migrate", []string{"db", "migrate"}})
	for _, s := range steps {
		r, err := rb.Timed(io.Discard, s.args...)
		if err != nil {
			return err
		}
		row(s.name, r)
	}
	r, err := rb.Timed(os.Stdout, "db", "copy", "--to", o.db)
	if err != nil {
		return err
	}
	row("db copy to PostgreSQL (with its checks)", r)
	return nil
}
