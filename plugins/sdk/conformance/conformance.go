// Package conformance is the kit a plugin author runs from their own go
// test to check an executor against the sdk contract: facts present and
// well formed, stdout, stderr and exit codes, streaming, timeouts honoured,
// cancellation prompt, and every failure typed, with no secret in any
// error.
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.Harness{
//			Executor:       myexec.New(),
//			Target:         sdk.Target{Address: "127.1.1.1:22", Username: "u", Password: "p"},
//			Unreachable:    sdk.Target{Address: "127.0.0.1:1"},
//			BadCredentials: sdk.Target{Address: "127.1.1.1:22", Username: "u", Password: "wrong"},
//		})
//	}
//
// The scripts are PowerShell, which every Windows transport can run. The
// targets can be plugins/sdk/testdevice, the simulated Windows device,
// behind a fake server of the executor's transport. Evaluate yields the
// same checks' results outside go test; ringmaster plugin test runs them
// through the plugin boundary.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// Harness is what the kit needs: an executor and targets to try it on.
type Harness struct {
	Executor       sdk.Executor
	Target         sdk.Target // reachable, with working credentials
	Unreachable    sdk.Target // nothing listens there
	BadCredentials sdk.Target // the reachable device with a wrong password
	// Prompt is how soon a timeout or a cancel must take effect (default 10 s).
	Prompt time.Duration
}

// Result is how the executor did in one check.
type Result struct {
	Check    string        // the check's name, e.g. "exit codes"
	Problems []string      // what was wrong; none when it passed
	Took     time.Duration // how long the check ran
}

// Passed reports whether the check found nothing wrong.
func (r Result) Passed() bool { return len(r.Problems) == 0 }

// Checks names the kit's checks, in the order they run.
func Checks() []string {
	out := make([]string, len(checks))
	for i, c := range checks {
		out[i] = c.name
	}
	return out
}

// Run checks the executor and reports each problem on t, one subtest per
// check.
func Run(t *testing.T, h Harness) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			for _, msg := range runCheck(context.Background(), c, h).Problems {
				t.Error(msg)
			}
		})
	}
}

// Evaluate runs the checks one after another and yields each one's result
// as it finishes, for a caller outside go test (ringmaster plugin test).
// Each check is bounded (twice Harness.Prompt, plus ten seconds), so an
// executor that ignores timeouts and cancels fails its check rather than
// hanging the caller; stopping the iteration stops the checks.
func Evaluate(ctx context.Context, h Harness) iter.Seq[Result] {
	return func(yield func(Result) bool) {
		for _, c := range checks {
			if ctx.Err() != nil || !yield(runCheck(ctx, c, h)) {
				return
			}
		}
	}
}

func runCheck(ctx context.Context, c check, h Harness) Result {
	ctx, cancel := context.WithTimeout(ctx, 2*prompt(h)+10*time.Second)
	defer cancel()
	start := time.Now()
	problems := c.run(ctx, h)
	// A problem may quote an error that reveals a password (the check
	// that catches it says so): the report must not repeat it.
	for i, p := range problems {
		for _, t := range []sdk.Target{h.Target, h.BadCredentials, h.Unreachable} {
			if t.Password != "" {
				p = strings.ReplaceAll(p, t.Password, "[password]")
			}
		}
		problems[i] = p
	}
	return Result{Check: c.name, Problems: problems, Took: time.Since(start)}
}

type check struct {
	name string
	run  func(context.Context, Harness) []string
}

var (
	buildRE = regexp.MustCompile(`^\d+\.\d+\.\d+$`)
	kbRE    = regexp.MustCompile(`^KB\d{6,8}$`)
)

func prompt(h Harness) time.Duration {
	if h.Prompt > 0 {
		return h.Prompt
	}
	return 10 * time.Second
}

// secretFree reports errors whose text contains a password.
func secretFree(err error, targets ...sdk.Target) []string {
	if err == nil {
		return nil
	}
	for _, t := range targets {
		if t.Password != "" && strings.Contains(err.Error(), t.Password) {
			return []string{fmt.Sprintf("the error reveals a password: %q", err.Error())}
		}
	}
	return nil
}

func kindIs(err error, want sdk.Kind) []string {
	var se *sdk.Error
	switch {
	case err == nil:
		return []string{fmt.Sprintf("no error; want one of kind %s", want)}
	case !errors.As(err, &se):
		return []string{fmt.Sprintf("error %q is not an *sdk.Error; want kind %s", err, want)}
	case se.Kind != want:
		return []string{fmt.Sprintf("error of kind %s (%v); want %s", se.Kind, err, want)}
	}
	return nil
}

var checks = []check{
	{"info", func(ctx context.Context, h Harness) []string {
		info, err := h.Executor.Info(ctx)
		if err != nil {
			return []string{"Info: " + err.Error()}
		}
		var p []string
		if info.Name == "" || info.Version == "" {
			p = append(p, fmt.Sprintf("Info must name the executor and its version, got %+v", info))
		}
		return p
	}},
	{"probe facts", func(ctx context.Context, h Harness) []string {
		res, err := h.Executor.Probe(ctx, h.Target)
		if err != nil {
			return append([]string{"Probe of a reachable target: " + err.Error()}, secretFree(err, h.Target)...)
		}
		f, p := res.Facts, []string(nil)
		bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
		if f.Hostname == "" {
			bad("facts: no hostname")
		}
		if f.OSCaption == "" {
			bad("facts: no OS caption")
		}
		if !buildRE.MatchString(f.OSBuild) {
			bad("facts: OS build %q is not major.minor.build", f.OSBuild)
		}
		if f.UBR < 0 || f.DiskFreeGB < 0 || f.RAMGB <= 0 {
			bad("facts: UBR %d, disk %v GB, RAM %v GB out of range", f.UBR, f.DiskFreeGB, f.RAMGB)
		}
		for _, kb := range f.KBs {
			if !kbRE.MatchString(kb) {
				bad("facts: KB %q is not KB followed by digits", kb)
			}
		}
		now := time.Now()
		if f.LastBoot.IsZero() || f.LastBoot.After(now.Add(time.Hour)) {
			bad("facts: last boot %v missing or in the future", f.LastBoot)
		}
		if res.ObservedAt.IsZero() || now.Sub(res.ObservedAt) > time.Minute {
			bad("probe: ObservedAt %v is not now", res.ObservedAt)
		}
		return p
	}},
	{"exec stdout and streaming", func(ctx context.Context, h Harness) []string {
		var mu sync.Mutex
		var streamed []byte
		res, err := h.Executor.Exec(ctx, h.Target, sdk.Command{Shell: sdk.PowerShell, Script: "Write-Output 'conformance'"},
			func(c sdk.Chunk) {
				mu.Lock()
				defer mu.Unlock()
				if c.Stream == sdk.Stdout {
					streamed = append(streamed, c.Data...)
				}
			})
		if err != nil {
			return []string{"Exec: " + err.Error()}
		}
		var p []string
		if strings.TrimSpace(string(res.Stdout)) != "conformance" || res.ExitCode != 0 {
			p = append(p, fmt.Sprintf("Write-Output: stdout %q exit %d", res.Stdout, res.ExitCode))
		}
		mu.Lock()
		defer mu.Unlock()
		if string(streamed) != string(res.Stdout) {
			p = append(p, fmt.Sprintf("streamed stdout %q differs from the result's %q", streamed, res.Stdout))
		}
		return p
	}},
	{"exit codes", func(ctx context.Context, h Harness) []string {
		res, err := h.Executor.Exec(ctx, h.Target, sdk.Command{Shell: sdk.PowerShell, Script: "exit 3"}, nil)
		p := kindIs(err, sdk.CommandFailed)
		var se *sdk.Error
		if errors.As(err, &se) && se.ExitCode != 3 || res.ExitCode != 3 {
			p = append(p, fmt.Sprintf("exit 3: result exit code %d, error %v", res.ExitCode, err))
		}
		return p
	}},
	{"stderr", func(ctx context.Context, h Harness) []string {
		res, _ := h.Executor.Exec(ctx, h.Target, sdk.Command{Shell: sdk.PowerShell, Script: "Get-NoSuchCmdletForConformance"}, nil)
		if len(res.Stderr) == 0 || !strings.Contains(string(res.Stderr), "Get-NoSuchCmdletForConformance") {
			return []string{fmt.Sprintf("an unknown cmdlet's error is not on stderr: %q", res.Stderr)}
		}
		return nil
	}},
	{"timeout honoured", func(ctx context.Context, h Harness) []string {
		start := time.Now()
		_, err := h.Executor.Exec(ctx, h.Target, sdk.Command{Shell: sdk.PowerShell, Script: "Start-Sleep -Seconds 120", Timeout: time.Second}, nil)
		p := kindIs(err, sdk.TimedOut)
		if d := time.Since(start); d > prompt(h) {
			p = append(p, fmt.Sprintf("a 1 s timeout took %v to act", d))
		}
		return p
	}},
	{"cancellation prompt", func(ctx context.Context, h Harness) []string {
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(500*time.Millisecond, cancel)
		start := time.Now()
		_, err := h.Executor.Exec(cctx, h.Target, sdk.Command{Shell: sdk.PowerShell, Script: "Start-Sleep -Seconds 120"}, nil)
		p := kindIs(err, sdk.Cancelled)
		if d := time.Since(start); d > prompt(h) {
			p = append(p, fmt.Sprintf("a cancel took %v to act", d))
		}
		return p
	}},
	{"unreachable typed", func(ctx context.Context, h Harness) []string {
		_, err := h.Executor.Probe(ctx, h.Unreachable)
		return append(kindIs(err, sdk.Unreachable), secretFree(err, h.Unreachable)...)
	}},
	{"bad credentials typed and secret-free", func(ctx context.Context, h Harness) []string {
		_, err := h.Executor.Exec(ctx, h.BadCredentials, sdk.Command{Shell: sdk.PowerShell, Script: "Write-Output x"}, nil)
		return append(kindIs(err, sdk.AuthFailed), secretFree(err, h.BadCredentials, h.Target)...)
	}},
	{"concurrent use", func(ctx context.Context, h Harness) []string {
		var wg sync.WaitGroup
		errs := make(chan string, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := h.Executor.Exec(ctx, h.Target, sdk.Command{Shell: sdk.PowerShell, Script: fmt.Sprintf("Write-Output 'n%d'", i)}, nil)
				if err != nil || strings.TrimSpace(string(res.Stdout)) != fmt.Sprintf("n%d", i) {
					errs <- fmt.Sprintf("concurrent exec %d: %q %v", i, res.Stdout, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		var p []string
		for e := range errs {
			p = append(p, e)
		}
		if len(p) > 3 { // the same fault, twenty times, says no more than three
			p = append(p[:3], fmt.Sprintf("and %d more of the 20 concurrent commands", len(p)-3))
		}
		return p
	}},
}
