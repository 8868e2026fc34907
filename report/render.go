package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// Formats the CLI offers for reports.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatCSV   = "csv"
)

var progressHeader = []string{"ORG", "NAME", "DEVICES", "ON TARGET", "%", "IN PROGRESS", "FAILED", "DEFERRED", "INELIGIBLE",
	"NOT STARTED", "NOT SEEN 30D", "BUILD UNKNOWN", "TOP FAILURE", "PER DAY", "ETA", "AS OF"}

func (r ProgressRow) cells() []string {
	top := ""
	if len(r.TopReasons) > 0 {
		top = fmt.Sprintf("%s (%d)", r.TopReasons[0].Reason, r.TopReasons[0].Devices)
	}
	asOf := ""
	if !r.AsOf.IsZero() {
		asOf = r.AsOf.UTC().Format(time.DateOnly)
	}
	perDay, eta := "", ""
	if r.PerDay != nil {
		perDay = fmt.Sprintf("%.1f", *r.PerDay)
	}
	if r.ETA != nil {
		eta = r.ETA.UTC().Format(time.DateOnly)
	}
	return []string{r.Org, r.Name, strconv.Itoa(r.Devices), strconv.Itoa(r.OnTarget), fmt.Sprintf("%.1f", r.OnTargetPc),
		strconv.Itoa(r.InProgress), strconv.Itoa(r.Failed), strconv.Itoa(r.Deferred), strconv.Itoa(r.Ineligible),
		strconv.Itoa(r.NotStarted), strconv.Itoa(r.NotSeen), strconv.Itoa(r.Unknown), top, perDay, eta, asOf}
}

// WriteProgress writes the progress report as a table, CSV or JSON. Every
// row says how fresh it is: the date of the oldest build observation
// behind it.
func WriteProgress(w io.Writer, p Progress, format string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	case FormatCSV:
		cw := csv.NewWriter(w)
		header := append([]string{}, progressHeader...)
		for i, h := range header {
			header[i] = csvName(h)
		}
		if err := cw.Write(header); err != nil {
			return err
		}
		for _, r := range append(p.Rows, p.Total) {
			if err := cw.Write(r.cells()); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case FormatTable:
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "Windows 10 migration: on build %s or later, as observed; generated %s\n\n", p.TargetBuild, p.GeneratedAt.UTC().Format(time.RFC3339))
		for i, h := range progressHeader {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, h)
		}
		fmt.Fprintln(tw)
		for _, r := range append(p.Rows, p.Total) {
			for i, c := range r.cells() {
				if i > 0 {
					fmt.Fprint(tw, "\t")
				}
				fmt.Fprint(tw, c)
			}
			fmt.Fprintln(tw)
		}
		return tw.Flush()
	}
	return fmt.Errorf("report format %q: want table, csv or json", format)
}

// csvName turns a table header into a CSV column name ("ON TARGET" ->
// "on_target", "%" -> "on_target_percent").
func csvName(h string) string {
	if h == "%" {
		return "on_target_percent"
	}
	out := []byte(h)
	for i, c := range out {
		switch {
		case c == ' ':
			out[i] = '_'
		case c >= 'A' && c <= 'Z':
			out[i] = c + 'a' - 'A'
		}
	}
	return string(out)
}
