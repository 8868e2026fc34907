package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/safecsv"
)

// Formats the CLI offers for reports. CSV neutralises every cell a
// spreadsheet would run as a formula (see internal/safecsv); raw CSV
// writes cells exactly as they are, for programs, never for a person to
// open in a spreadsheet.
const (
	FormatTable  = "table"
	FormatJSON   = "json"
	FormatCSV    = "csv"
	FormatRawCSV = "raw-csv"
)

var progressHeader = []string{"ORG", "NAME", "DEVICES", "ON TARGET", "%", "IN PROGRESS", "FAILED", "DEFERRED", "INELIGIBLE",
	"NOT STARTED", "NOT SEEN 30D", "BUILD UNKNOWN", "TOP FAILURE", "PER DAY", "ETA", "FORECAST P50", "FORECAST P90", "AT RISK", "AS OF"}

// cells are the row's table and CSV cells, with its site after the
// organisation when bySite.
func (r ProgressRow) cells(bySite bool) []string {
	top := ""
	if len(r.TopReasons) > 0 {
		top = fmt.Sprintf("%s (%d)", r.TopReasons[0].Reason, r.TopReasons[0].Devices)
	}
	asOf := asOfCell(r.AsOfMedian, r.AsOf)
	perDay, eta := "", ""
	if r.PerDay != nil {
		perDay = fmt.Sprintf("%.1f", *r.PerDay)
	}
	if r.ETA != nil {
		eta = r.ETA.UTC().Format(time.DateOnly)
	}
	p50, p90 := "", ""
	if f := r.Forecast; f != nil {
		p50, p90 = ForecastTime(f.P50), ForecastTime(f.P90)
	}
	risk := ""
	if r.RiskFrom != "" {
		risk = "no"
		if r.AtRisk {
			risk = "yes"
		}
		risk += " (" + r.RiskFrom + ")"
	}
	org := []string{r.Org}
	if bySite {
		org = append(org, r.Site)
	}
	return append(org, r.Name, strconv.Itoa(r.Devices), strconv.Itoa(r.OnTarget), fmt.Sprintf("%.1f", r.OnTargetPc),
		strconv.Itoa(r.InProgress), strconv.Itoa(r.Failed), strconv.Itoa(r.Deferred), strconv.Itoa(r.Ineligible),
		strconv.Itoa(r.NotStarted), strconv.Itoa(r.NotSeen), strconv.Itoa(r.Unknown), top, perDay, eta, p50, p90, risk, asOf)
}

// ForecastTime is a forecast finish as the reports print it: to the
// minute in UTC, or "not finishing" for a zero time.
func ForecastTime(t time.Time) string {
	if t.IsZero() {
		return "not finishing"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// WriteProgress writes the progress report as a table, CSV or JSON. Every
// row says how fresh it is: the date of the oldest build observation
// behind it. A report by site has a SITE column after ORG (empty for a
// device without a site, and for the total).
func WriteProgress(w io.Writer, p Progress, format string) error {
	header := progressHeader
	if p.BySite {
		header = slices.Insert(slices.Clone(progressHeader), 1, "SITE")
	}
	csvHeader := make([]string, len(header))
	for i, h := range header {
		csvHeader[i] = csvName(h)
	}
	var rows [][]string
	for _, r := range append(p.Rows, p.Total) {
		rows = append(rows, r.cells(p.BySite))
	}
	title := fmt.Sprintf("Windows 10 migration: on build %s or later, as observed; generated %s\n", p.TargetBuild, p.GeneratedAt.UTC().Format(time.RFC3339))
	return writeForm(w, format, p, title, header, csvHeader, rows)
}

// writeForm writes a report in one of the formats: v as indented JSON, or
// its rows as CSV (under csvHeader) or an aligned table (a title line, a
// blank line, then header and rows).
func writeForm(w io.Writer, format string, v any, title string, header, csvHeader []string, rows [][]string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case FormatCSV, FormatRawCSV:
		cw := safecsv.NewWriter(w)
		cw.Raw = format == FormatRawCSV
		for _, r := range append([][]string{csvHeader}, rows...) {
			if err := cw.Write(r); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case FormatTable:
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\n", title)
		fmt.Fprintln(tw, strings.Join(header, "\t"))
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
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
