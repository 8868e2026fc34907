// Command apibench is the benchmark behind `make bench-api`: it generates
// and imports an estate (1.3M devices in 300 organisations by default),
// creates a national campaign over it, creates API tokens of three scopes
// (the estate, a region of organisations, one organisation), starts
// `ringmaster serve --run-campaigns=false` in a process of its own, and
// calls it from concurrent clients for a while: the scorecard and the
// campaign's summary (GET /api/v1/campaigns/NAME), and the dashboard's
// overview, an organisation's page and the campaign's page, each as every
// scope. It
// reports requests a second, p50 and p99 latency per call, and the
// server's CPU and peak memory; and, for each, how long the first call
// took, which the server computed rather than served from its cache.
// The reports read a year of daily history (-history-days), recorded
// first when there is none.
// Last it sends the estate's file back to be imported through the API,
// the largest organisation's rows as its operator and then the whole file.
//
//	go run ./cmd/apibench -bin bin/ringmaster -devices 1300000 -orgs 300
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ringmaster-fleet/ringmaster/cmd/internal/benchutil"
	"github.com/ringmaster-fleet/ringmaster/report"
	"github.com/ringmaster-fleet/ringmaster/store"
)

type options struct {
	bin, dir, db  string
	devices, orgs int
	clients       int
	duration      time.Duration
	reuse         bool
	historyDays   int
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/ringmaster", "ringmaster binary")
	flag.StringVar(&o.dir, "dir", "", "working directory (default: a new temporary one, removed after)")
	flag.StringVar(&o.db, "db", "", "the database (default api.db in -dir; a postgres:// URL of an empty database)")
	flag.IntVar(&o.devices, "devices", 1_300_000, "devices in the generated estate")
	flag.IntVar(&o.orgs, "orgs", 300, "organisations in the generated estate")
	flag.IntVar(&o.clients, "clients", 16, "concurrent clients")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "how long each call is measured")
	flag.BoolVar(&o.reuse, "reuse", false, "reuse the estate and campaign already in -dir")
	flag.IntVar(&o.historyDays, "history-days", 365, "days of daily history the reports read (recorded when the history is empty)")
	flag.Parse()
	if err := run(o); err != nil {
		slog.Error("apibench", "err", err)
		os.Exit(1)
	}
}

const campaignSpec = `name: national
playbook: discover
target: 'build<10.0.19045'
waves:
  - {name: pilot, count: 500}
  - {name: rest}
`

func run(o options) error {
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "ringmaster-api-"); err != nil {
			return err
		}
		defer os.RemoveAll(o.dir)
	}
	rb := benchutil.Runner{Bin: bin, Dir: o.dir, DB: cmp.Or(o.db, filepath.Join(o.dir, "api.db"))}
	fmt.Printf("API load: %d devices in %d organisations, %d clients, %s a call, in %s\n\n", o.devices, o.orgs, o.clients, o.duration, o.dir)
	if !o.reuse {
		for _, step := range [][]string{
			{"inventory", "generate", "--devices", strconv.Itoa(o.devices), "--orgs", strconv.Itoa(o.orgs), "--seed", "7", "--now", "2026-11-01", "--out", "estate.csv"},
			{"inventory", "import", "estate.csv", "--create-orgs"},
		} {
			r, err := rb.Timed(io.Discard, step...)
			if err != nil {
				return err
			}
			fmt.Printf("%-40s %10s %9s\n", strings.Join(step[:2], " "), benchutil.Round(r.Wall), benchutil.MiB(r.RSS))
		}
		if err := os.WriteFile(filepath.Join(o.dir, "national.yaml"), []byte(campaignSpec), 0o644); err != nil {
			return err
		}
		r, err := rb.Timed(io.Discard, "campaign", "create", "-f", "national.yaml")
		if err != nil {
			return err
		}
		fmt.Printf("%-40s %10s %9s\n", "campaign create", benchutil.Round(r.Wall), benchutil.MiB(r.RSS))
	}
	orgs, err := benchutil.Column(filepath.Join(o.dir, "estate.csv"), "org")
	if err != nil {
		return err
	}
	rowsOf := map[string]int{}
	for _, org := range orgs {
		rowsOf[org]++
	}
	if err := seedHistory(rb.DB, rowsOf, o.historyDays); err != nil {
		return err
	}
	largest := slices.MaxFunc(orgs, func(a, b string) int { return cmp.Or(cmp.Compare(rowsOf[a], rowsOf[b]), strings.Compare(b, a)) })
	slices.Sort(orgs)
	orgs = slices.Compact(orgs)
	// The organisations carry no tags here: a region is a list of a tenth
	// of them, which the API resolves the same way.
	region := "org:" + strings.Join(orgs[:max(1, len(orgs)/10)], ",")
	tokens := map[string]string{}
	for _, sc := range []struct{ name, scope string }{{"estate", "estate"}, {"region", region}, {"org", "org:" + orgs[0]}} {
		var out strings.Builder
		if _, err := rb.Timed(&out, "token", "create", "bench-"+sc.name, "--role", "viewer", "--scope", sc.scope); err != nil {
			return err
		}
		tokens[sc.name] = strings.TrimSpace(out.String())
	}
	srv, base, err := startServer(rb)
	if err != nil {
		return err
	}
	defer srv.stop()
	fmt.Printf("\n%-34s %10s %8s %9s %9s %7s   %s\n", "call", "computed", "req/s", "p50", "p99", "errors", "target")
	for _, call := range []struct{ name, path string }{
		{"scorecard", "/api/v1/reports/scorecard"},
		{"campaign summary", "/api/v1/campaigns/national"},
		// The dashboard's pages, as a browser would ask for them (a
		// bearer token serves as well as a session cookie here).
		{"dashboard overview", "/ui/"},
		{"dashboard organisation " + orgs[0], "/ui/orgs/" + orgs[0]},
		{"dashboard campaign", "/ui/campaigns/national"},
	} {
		for _, sc := range []string{"estate", "region", "org"} {
			first, cached, err := once(base+call.path, tokens[sc])
			if err != nil {
				return err
			}
			computed := benchutil.Round(first)
			if cached {
				computed = "(cached)"
			}
			res := load(base+call.path, tokens[sc], o.clients, o.duration)
			fmt.Printf("%-34s %10s %8.0f %9s %9s %7d   >= 200/s, p99 <= 100ms\n", call.name+" as "+sc, computed, res.rate,
				benchutil.Round(res.p50), benchutil.Round(res.p99), res.errors)
		}
	}
	if e := srv.estateComputations(); len(e) > 0 {
		rest := slices.Sorted(slices.Values(e[1:]))
		fmt.Printf("\nthe estate's dashboard figures, computed in the background: %s at the start (the history's first read with it), then %d times",
			benchutil.Round(e[0]), len(rest))
		if len(rest) > 0 {
			fmt.Printf(", median %s, longest %s", benchutil.Round(rest[len(rest)/2]), benchutil.Round(rest[len(rest)-1]))
		}
		fmt.Printf("   target <= 300ms\n")
	}
	pid := srv.cmd.Process.Pid
	fmt.Printf("\nserver: %s CPU over the reads, peak RSS %s\n", benchutil.Round(benchutil.ProcessCPU(pid)), benchutil.MiB(benchutil.ProcessPeakRSS(pid)))
	if err := imports(rb, base, largest); err != nil {
		return err
	}
	fmt.Printf("server: peak RSS %s after the imports\n", benchutil.MiB(benchutil.ProcessPeakRSS(pid)))
	return nil
}

// imports sends the estate's file back through the API: the largest
// organisation's rows as its operator, then the whole estate's as an
// estate operator. Every device is already stored as the file has it, so
// each import reads, checks and compares every row in one transaction.
func imports(rb benchutil.Runner, base, org string) error {
	estate := filepath.Join(rb.Dir, "estate.csv")
	own := filepath.Join(rb.Dir, "org.csv")
	rows, err := benchutil.FilterRows(estate, own, "org", org)
	if err != nil {
		return err
	}
	fmt.Printf("\n%-34s %10s %10s   %s\n", "import through the API", "took", "rows", "result")
	for _, im := range []struct{ name, scope, file string }{
		{"an organisation's file as it", "org:" + org, own},
		{"the estate's file as the estate", "estate", estate},
	} {
		var out strings.Builder
		if _, err := rb.Timed(&out, "token", "create", "bench-import-"+strings.Fields(im.scope)[0], "--role", "operator", "--scope", im.scope); err != nil {
			return err
		}
		took, body, err := upload(base+"/api/v1/inventory/import?name="+filepath.Base(im.file), strings.TrimSpace(out.String()), im.file)
		if err != nil {
			return err
		}
		n := rows
		if im.file == estate {
			n = -1
		}
		fmt.Printf("%-34s %10s %10s   %s\n", im.name, benchutil.Round(took), rowCount(n), body)
	}
	return nil
}

func rowCount(n int) string {
	if n < 0 {
		return "all"
	}
	return strconv.Itoa(n)
}

// upload posts the CSV file at path to url and returns how long it took
// and the counts the server answered.
func upload(url, token, path string) (time.Duration, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	req, err := http.NewRequest("POST", url, f)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "text/csv")
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	took := time.Since(t0)
	if err != nil {
		return 0, "", err
	}
	var counts struct{ New, Updated, Unchanged int }
	if resp.StatusCode != 200 || json.Unmarshal(b, &counts) != nil {
		return 0, "", fmt.Errorf("POST %s: status %d: %.500s", url, resp.StatusCode, b)
	}
	return took, fmt.Sprintf("%d new, %d updated, %d unchanged", counts.New, counts.Updated, counts.Unchanged), nil
}

type server struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	// estate are how long each computation of the whole estate's
	// dashboard figures took, as the server logged them (the first at its
	// start, the others refreshing them in the background).
	estate []time.Duration
}

var computed = regexp.MustCompile(`msg="dashboard figures computed" orgs=all took=(\S+)`)

// read passes the server's log on to ours, but for its debug lines, of
// which it keeps the estate's figures' computations.
func (s *server) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if m := computed.FindStringSubmatch(line); m != nil {
			if d, err := time.ParseDuration(m[1]); err == nil {
				s.mu.Lock()
				s.estate = append(s.estate, d)
				s.mu.Unlock()
			}
		}
		if !strings.Contains(line, "level=DEBUG") {
			fmt.Fprintln(os.Stderr, line)
		}
	}
}

// estateComputations are the computations of the estate's figures so far.
func (s *server) estateComputations() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.estate)
}

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
}

// startServer starts ringmaster serve on a free loopback port and waits
// for its address.
func startServer(rb benchutil.Runner) (*server, string, error) {
	cmd := exec.Command(rb.Bin, "serve", "--listen", "127.0.0.1:0", "--run-campaigns=false", "--log-level", "debug")
	cmd.Dir = rb.Dir
	cmd.Env = append(os.Environ(), "RINGMASTER_DB="+rb.DB)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	logs, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	srv := &server{cmd: cmd}
	go srv.read(logs)
	sc := bufio.NewScanner(out)
	re := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, out)
			return srv, "http://" + m[1], nil
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, "", fmt.Errorf("ringmaster serve printed no address")
}

// once times one call: the first of its scope and query, which the server
// computes rather than serves from its cache, unless another call filled
// the cache it reads (a dashboard page reads the figures the overview
// computed): cached says so.
func once(url, token string) (took time.Duration, cached bool, err error) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	took = time.Since(t0)
	// Age counts from when the computation began (the figures are as of
	// then): a fresh one is no older than this call.
	age, err := strconv.Atoi(resp.Header.Get("Age"))
	if resp.StatusCode != 200 || err != nil {
		return 0, false, fmt.Errorf("GET %s: status %d, Age %q: want 200 and the figures' age", url, resp.StatusCode, resp.Header.Get("Age"))
	}
	return took, time.Duration(age)*time.Second > took, nil
}

type result struct {
	rate     float64
	p50, p99 time.Duration
	errors   int
}

// load calls url from clients goroutines for d and measures each call.
func load(url, token string, clients int, d time.Duration) result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var mu sync.Mutex
	var took []time.Duration
	errs := 0
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				if err != nil || resp.StatusCode != 200 {
					errs++
				} else {
					took = append(took, time.Since(t0))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(took)
	pct := func(q float64) time.Duration {
		if len(took) == 0 {
			return 0
		}
		return took[min(len(took)-1, int(q*float64(len(took))))]
	}
	return result{rate: float64(len(took)) / time.Since(start).Seconds(), p50: pct(0.5), p99: pct(0.99), errors: errs}
}

// seedHistory records days of daily snapshots ending yesterday, one per
// organisation and the total, when the history holds none: what a year
// of ringmaster serve's snapshotter leaves, for the reports to read. The
// figures climb from nothing to every device on target.
func seedHistory(db string, devices map[string]int, days int) error {
	ctx := context.Background()
	st, err := store.Open(ctx, db, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	h, err := st.History(ctx)
	if err != nil {
		return err
	}
	if have, err := h.Load(ctx); err != nil || len(have) > 0 || days <= 0 {
		return err
	}
	start := time.Now()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for d := days; d >= 1; d-- {
		var snaps []report.Snapshot
		total := report.Snapshot{Day: today.AddDate(0, 0, -d), Org: report.TotalOrg, Affected: map[string]int{}, Compliant: map[string]int{}}
		for org, n := range devices {
			on := n * (days - d) / days
			sn := report.Snapshot{Day: total.Day, Org: org, Devices: n, OnTarget: on, Supported: on,
				Affected: map[string]int{"HSA-BENCH": n / 2}, Compliant: map[string]int{"HSA-BENCH": on / 2}}
			total.Devices, total.OnTarget, total.Supported = total.Devices+n, total.OnTarget+on, total.Supported+on
			total.Affected["HSA-BENCH"] += n / 2
			total.Compliant["HSA-BENCH"] += on / 2
			snaps = append(snaps, sn)
		}
		snaps = append(snaps, total)
		if err := h.Record(ctx, snaps); err != nil {
			return err
		}
	}
	fmt.Printf("%-40s %10s\n", fmt.Sprintf("history: %d days recorded", days), benchutil.Round(time.Since(start)))
	return nil
}
