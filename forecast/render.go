package forecast

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// timeLayout is how a forecast writes a time: to the minute, in the
// location given (a forecast's precision is not finer).
const timeLayout = "2006-01-02 15:04"

func (q Quantiles) cells(loc *time.Location) []string {
	out := make([]string, 3)
	for i, t := range []time.Time{q.P10, q.P50, q.P90} {
		out[i] = "not finished"
		if !t.IsZero() {
			out[i] = t.In(loc).Format(timeLayout)
		}
	}
	return out
}

// WriteTable writes the forecast as the tables ringmaster campaign
// forecast prints, times in loc.
func (f Forecast) WriteTable(w io.Writer, name string, loc *time.Location) error {
	bw := &errWriter{w: w}
	fmt.Fprintf(bw, "campaign %s, forecast from %s (%s): %d runs\n", name, f.From.In(loc).Format(timeLayout), loc, f.Runs)
	if len(f.WhatIf) > 0 {
		fmt.Fprintf(bw, "what if: %s (not made)\n", strings.Join(f.WhatIf, " "))
	}
	fmt.Fprintf(bw, "runs drawn from %s; a wave awaiting approval is assumed approved %s later; replayed up to %.0f days ahead\n",
		f.LearnedFrom, f.ApprovalDelay, f.Horizon.Hours()/24)
	c := f.Finish.cells(loc)
	fmt.Fprintf(bw, "finish: P10 %s, P50 %s, P90 %s", c[0], c[1], c[2])
	if f.WaitsForPerson > 0 {
		fmt.Fprintf(bw, "; %.0f%% of runs end waiting for a person (a halted wave or organisation)", 100*f.WaitsForPerson)
	}
	fmt.Fprintln(bw)
	if !f.Deadline.IsZero() {
		late, devices := 0, 0.0
		for _, o := range f.Orgs {
			if o.MissesDeadline {
				late++
			}
			devices += o.LateAtDeadline
		}
		passed := ""
		if !f.Deadline.After(f.From) {
			passed = " (passed: nothing new starts)"
		}
		fmt.Fprintf(bw, "deadline %s%s: %d of %d organisations expected to miss it, %.0f devices not started or not finished by then\n",
			f.Deadline.In(loc).Format(timeLayout), passed, late, len(f.Orgs), devices)
	}
	fmt.Fprintln(bw)
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WAVE\tP10\tP50\tP90")
	for _, wv := range f.Waves {
		c := wv.Finish.cells(loc)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", wv.Name, c[0], c[1], c[2])
	}
	tw.Flush()
	fmt.Fprintln(bw)
	tw = tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	header := "ORG\tDEVICES\tP10\tP50\tP90\tFAILED\tUNREACHABLE\tNOT REACHED\tHALTED"
	if !f.Deadline.IsZero() {
		header += "\tLATE AT DEADLINE\tNOT DONE BY DEADLINE"
	}
	fmt.Fprintln(tw, header+"\tLEARNED FROM")
	for _, o := range f.Orgs {
		c := o.Finish.cells(loc)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%.1f\t%.1f\t%.1f\t%.0f%%", o.Org, o.Devices, c[0], c[1], c[2], o.Failed, o.Unreachable, o.NotReached, 100*o.Halted)
		if !f.Deadline.IsZero() {
			miss := ""
			if o.MissesDeadline {
				miss = " (misses)"
			}
			fmt.Fprintf(tw, "\t%.1f%s\t%.1f", o.LateAtDeadline, miss, o.NotDoneByDeadline)
		}
		fmt.Fprintf(tw, "\t%s\n", o.LearnedFrom)
	}
	tw.Flush()
	return bw.err
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	_, e.err = e.w.Write(p)
	return len(p), nil
}
