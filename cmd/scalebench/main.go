// Command scalebench is the scale run behind `make bench-scale`: it
// generates a national-size estate with the ringmaster binary, imports it
// into a fresh database, and lists organisations out of it, reporting wall
// time and peak memory (RSS) of each step against the targets.
//
//	go run ./cmd/scalebench -bin ./bin/ringmaster -devices 1300000
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/ringmaster-fleet/ringmaster/cmd/internal/benchutil"
)

func main() {
	bin := flag.String("bin", "bin/ringmaster", "ringmaster binary")
	devices := flag.Int("devices", 1_300_000, "devices in the generated estate")
	orgs := flag.Int("orgs", 300, "organisations in the generated estate")
	dir := flag.String("dir", "", "working directory (default: a new temporary one, removed after)")
	runs := flag.Int("runs", 5, "list runs per organisation (the median is reported)")
	flag.Parse()
	if err := run(*bin, *dir, *devices, *orgs, *runs); err != nil {
		slog.Error("scalebench", "err", err)
		os.Exit(1)
	}
}

func run(bin, dir string, devices, orgs, runs int) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ringmaster-scale-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	rb := benchutil.Runner{Bin: bin, Dir: dir, DB: filepath.Join(dir, "scale.db")}
	fmt.Printf("scale run: %d devices in %d organisations, in %s\n\n", devices, orgs, dir)
	gen, err := rb.Timed(io.Discard, "inventory", "generate", "--devices", strconv.Itoa(devices),
		"--orgs", strconv.Itoa(orgs), "--seed", "7", "--now", "2026-11-01", "--out", "estate.csv")
	if err != nil {
		return err
	}
	imp, err := rb.Timed(io.Discard, "inventory", "import", "estate.csv", "--create-orgs")
	if err != nil {
		return err
	}
	fmt.Printf("%-62s %9s %9s   %s\n", "step", "wall", "peak RSS", "target")
	fmt.Printf("%-62s %9s %9s\n", "generate CSV", benchutil.Round(gen.Wall), benchutil.MiB(gen.RSS))
	fmt.Printf("%-62s %9s %9s   import <= 15s, RSS <= 300 MiB\n", fmt.Sprintf("import %d devices (empty store)", devices), benchutil.Round(imp.Wall), benchutil.MiB(imp.RSS))

	// The same file again: every device is looked up and found unchanged
	// (the upsert path a weekly re-import from Configuration Manager takes).
	re, err := rb.Timed(io.Discard, "inventory", "import", "estate.csv")
	if err != nil {
		return err
	}
	fmt.Printf("%-62s %9s %9s\n", fmt.Sprintf("re-import the same %d devices (all unchanged)", devices), benchutil.Round(re.Wall), benchutil.MiB(re.RSS))

	// Organisation sizes, from the store.
	sizes, err := orgSizes(rb)
	if err != nil {
		return err
	}
	slices.SortFunc(sizes, func(a, b orgSize) int { return a.devices - b.devices })
	picks := []orgSize{sizes[len(sizes)/2], sizes[len(sizes)*9/10], sizes[len(sizes)-1]}
	for i, o := range picks {
		med, err := rb.Median(runs, "inventory", "list", "-l", "org="+o.code, "-o", "json")
		if err != nil {
			return err
		}
		target := ""
		if i == 0 {
			target = "list <= 300ms"
		}
		label := []string{"median", "90th percentile", "largest"}[i]
		fmt.Printf("%-62s %9s %9s   %s\n", fmt.Sprintf("list -o json org=%s (%s org, %d devices)", o.code, label, o.devices), benchutil.Round(med.Wall), benchutil.MiB(med.RSS), target)
	}

	// Reports over the whole estate, with an alert to score.
	if err := os.WriteFile(filepath.Join(dir, "alert.yaml"), []byte(scaleAlert), 0o644); err != nil {
		return err
	}
	al, err := rb.Timed(io.Discard, "alert", "add", "-f", "alert.yaml")
	if err != nil {
		return err
	}
	fmt.Printf("%-62s %9s %9s\n", "alert add (the rollup starts counting its updates)", benchutil.Round(al.Wall), benchutil.MiB(al.RSS))
	for _, r := range []struct {
		label, target string
		args          []string
	}{
		{"report scorecard", "<= 1s", []string{"report", "scorecard"}},
		{"report progress -o html", "<= 3s", []string{"report", "progress", "-o", "html", "--out", "report.html"}},
	} {
		med, err := rb.Median(runs, r.args...)
		if err != nil {
			return err
		}
		fmt.Printf("%-62s %9s %9s   %s\n", r.label+" (median)", benchutil.Round(med.Wall), benchutil.MiB(med.RSS), r.target)
	}

	// Day-to-day operations over the national estate: labels on the
	// largest organisation, and a national campaign's devices read a page
	// at a time (its creation is the national-scale issue's baseline).
	largest := picks[len(picks)-1]
	lb, err := rb.Timed(io.Discard, "inventory", "label", "-l", "org="+largest.code, "ring=pilot")
	if err != nil {
		return err
	}
	fmt.Printf("%-62s %9s %9s\n", fmt.Sprintf("inventory label -l org=%s (%d devices)", largest.code, largest.devices), benchutil.Round(lb.Wall), benchutil.MiB(lb.RSS))
	if err := os.WriteFile(filepath.Join(dir, "national.yaml"), []byte(nationalCampaign), 0o644); err != nil {
		return err
	}
	cc, err := rb.Timed(io.Discard, "campaign", "create", "-f", "national.yaml")
	if err != nil {
		return err
	}
	fmt.Printf("%-62s %9s %9s\n", "campaign create (build<10.0.19045, the whole estate)", benchutil.Round(cc.Wall), benchutil.MiB(cc.RSS))
	for _, r := range []struct {
		label string
		args  []string
	}{
		{"campaign devices --state pending --limit 100", []string{"campaign", "devices", "national", "--state", "pending", "--limit", "100", "-o", "json"}},
		{"campaign devices --wave rest --org " + largest.code + " --limit 100", []string{"campaign", "devices", "national", "--wave", "rest", "--org", largest.code, "--limit", "100", "-o", "json"}},
	} {
		med, err := rb.Median(runs, r.args...)
		if err != nil {
			return err
		}
		fmt.Printf("%-62s %9s %9s\n", r.label+" (median)", benchutil.Round(med.Wall), benchutil.MiB(med.RSS))
	}
	return nil
}

// nationalCampaign is the first thing a national team does: one feature
// update campaign over every device below 22H2, in three waves.
const nationalCampaign = `name: national
playbook: win10-feature-update
params:
  media_source: '\\dp01\media$\Win10_22H2'
target: 'build<10.0.19045'
waves:
  - {name: pilot, count: 500, soak: 24h}
  - {name: ring1, percent: 10, soak: 24h}
  - {name: rest}
`

// scaleAlert is an alert naming updates the generated estate has.
const scaleAlert = `id: HSA-2019-0042
title: Remote Desktop Services remote code execution (DejaBlue)
issued: 2019-08-13
deadline: 2019-08-27
remediation:
  "6.1.7601": [KB4512506, KB4512486]
  "10.0.17763": [KB4511553]
  "10.0.18362": [KB4512508]
supersedence:
  KB4512508: [KB4517389]
`

type orgSize struct {
	code    string
	devices int
}

func orgSizes(rb benchutil.Runner) ([]orgSize, error) {
	f, err := os.Create(filepath.Join(rb.Dir, "orgs.csv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := rb.Timed(f, "org", "list", "-o", "csv"); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	var out []orgSize
	for _, r := range rows[1:] {
		n, err := strconv.Atoi(r[4])
		if err != nil {
			return nil, fmt.Errorf("org list: devices %q: %w", r[4], err)
		}
		out = append(out, orgSize{r[0], n})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no organisations")
	}
	return out, nil
}
