package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
)

func newInventoryCmd(a *app) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "inventory",
		Aliases: []string{"inv"},
		Short:   "Import, list and export the device inventory",
		Long: `Import, list and export the device inventory.

Selectors (-l) pick devices, e.g.:
  org=RXX,site in (A,B),label.ring=pilot,build<10.0.19045,!label.excluded
Keys: ` + strings.Join(inventory.SelectorKeys(), ", ") + `.
Operators: =, !=, in (...), notin (...), <, <=, >, >=, KEY (known), !KEY (unknown).`,
	})
	cmd.AddCommand(newImportCmd(a), newExportCmd(a), newListCmd(a), newShowCmd(a), newRemoveCmd(a),
		newGenerateCmd(a), newSummaryCmd(a))
	return cmd
}

func parseSelector(s string) (inventory.Selector, error) {
	sel, err := inventory.ParseSelector(s)
	if err != nil {
		return sel, usageError{err}
	}
	return sel, nil
}

func newImportCmd(a *app) *cobra.Command {
	var (
		kind      string
		dryRun    bool
		rawCSV    bool
		opts      inventory.ImportOptions
		showLimit int
	)
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import devices from CSV, JSON or NDJSON (upsert by hostname)",
		Long: `Import devices from a CSV file with a header row, a JSON array or NDJSON.
Devices are upserted by hostname (case-insensitive). The import is one
transaction: if any row is bad nothing is written, and every bad row is
reported with its file, line and column.

CSV columns (headers match case-insensitively; Configuration Manager and
Active Directory headers such as Name, Operating System and Build map too):
  hostname (required), org (required), address, site, labels (k=v;k2=v2),
  credential, manufacturer, model, serial, os_caption, os_edition,
  os_build (10.0.19045 or 10.0.19045.3803), ubr, kbs (KB1;KB2),
  disk_free_gb (or disk_free_mb), ram_gb (or ram_mb), last_seen,
  observed_at, org_name and org_timezone (used with --create-orgs).
Unknown columns are ignored and listed. A cell Ringmaster's export
neutralised for spreadsheets (a single quote before = + - or @) reads back
without that quote, unless --raw-csv.

A column the file lacks leaves the stored value alone; an empty cell in a
declared column (address, site, labels, credential) clears it. Facts (OS,
build, KBs, disk ...) are observations: they are replaced only by newer
ones, observed at observed_at, else last_seen, else now.

FILE "-" reads standard input (then --format is required).`,
		Example: `  ringmaster inventory import devices.csv --dry-run
  ringmaster inventory import devices.csv --create-orgs --org-timezone Europe/London
  ringmaster inventory export -o ndjson | ringmaster --db other.db inventory import - --format ndjson`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			name := argv[0]
			k := format.Kind(kind)
			if k == "" {
				if name == "-" {
					return usagef("--format is required when reading standard input")
				}
				if k = format.KindFromName(name); k == "" {
					return usagef("%s: cannot tell the format from the extension; give --format csv, json or ndjson", name)
				}
			}
			if opts.CreateOrgs {
				if err := inventory.ValidateTimeZone(opts.DefaultTimeZone); err != nil {
					return usagef("--org-timezone: %v", err)
				}
			}
			var r io.Reader = a.stdin
			if name != "-" {
				f, err := os.Open(name)
				if err != nil {
					return fmt.Errorf("import: %w", err)
				}
				defer f.Close()
				r = f
			} else {
				name = "stdin"
			}
			s, err := a.inventory(cmd.Context())
			if err != nil {
				return err
			}
			now := a.now()
			src, err := format.NewReader(k, r, name, now, format.RawCSV(rawCSV))
			if err != nil {
				return err
			}
			if ign := src.Ignored(); len(ign) > 0 {
				fmt.Fprintf(a.stderr, "note: %s: ignoring %s: %s\n", name, plural(len(ign), "column", "columns"), strings.Join(ign, ", "))
			}
			var shown []string
			changes := 0
			if dryRun {
				opts.OnChange = func(kind inventory.ChangeKind, d *inventory.Device) {
					changes++
					if len(shown) < showLimit {
						shown = append(shown, fmt.Sprintf("  %-9s %s", kind, d.Hostname))
					}
				}
			}
			opts.Now, opts.DryRun = now, dryRun
			res, err := s.Import(cmd.Context(), src, opts)
			if err != nil {
				var ie *inventory.ImportError
				if dryRun && errors.As(err, &ie) {
					fmt.Fprintf(a.stdout, "dry run, nothing written; %s: %d new, %d updated, %d unchanged, %d rejected\n", name, res.New, res.Updated, res.Unchanged, res.Rejected)
				}
				return err
			}
			verb := "imported"
			if dryRun {
				verb = "dry run, nothing written; would import"
			}
			fmt.Fprintf(a.stdout, "%s %s: %d new, %d updated, %d unchanged, %d rejected\n", verb, name, res.New, res.Updated, res.Unchanged, res.Rejected)
			if len(res.CreatedOrgs) > 0 {
				v := "created"
				if dryRun {
					v = "would create"
				}
				codes := res.CreatedOrgs
				more := ""
				if len(codes) > 20 {
					codes, more = codes[:20], fmt.Sprintf(" and %d more", len(codes)-20)
				}
				fmt.Fprintf(a.stdout, "%s %s: %s%s\n", v, plural(len(res.CreatedOrgs), "organisation", "organisations"), strings.Join(codes, ", "), more)
			}
			for _, l := range shown {
				fmt.Fprintln(a.stdout, l)
			}
			if changes > len(shown) {
				fmt.Fprintf(a.stdout, "  ... and %d more\n", changes-len(shown))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kind, "format", "", "csv, json or ndjson (default: from the file extension)")
	f.BoolVar(&dryRun, "dry-run", false, "show what would change and write nothing")
	f.BoolVar(&rawCSV, "raw-csv", false, "read CSV cells exactly as written, for a file exported with --raw-csv "+
		"(by default the single quote export puts before a cell starting with = + - or @ is removed)")
	f.BoolVar(&opts.CreateOrgs, "create-orgs", false, "create organisations the file names but the database lacks")
	f.StringVar(&opts.DefaultTimeZone, "org-timezone", "Europe/London", "time zone of created organisations without an org_timezone column")
	f.IntVar(&opts.MaxErrors, "max-errors", 50, "report at most this many bad rows")
	f.IntVar(&showLimit, "show", 20, "with --dry-run, list at most this many changed devices")
	return cmd
}

func newExportCmd(a *app) *cobra.Command {
	var output, selector, out string
	var raw *bool
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export devices as CSV, JSON or NDJSON (re-importable)",
		Long: `Export devices in a form 'inventory import' reads back. JSON and NDJSON keep
every fact's own observation time; CSV keeps one observed_at per device (the
oldest of its facts).

A CSV cell that a spreadsheet would run as a formula (one starting with =,
+, -, @, a tab or a carriage return, other than a plain number) is written
after a single quote, so the file is safe to open in Excel; import removes
that quote again. --raw-csv writes every cell as stored.`,
		Example: "  ringmaster inventory export -o csv --out estate.csv\n  ringmaster inventory export -o json -l org=RXX",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sel, err := parseSelector(selector)
			if err != nil {
				return err
			}
			return a.writeDevices(cmd, sel, format.Kind(output), out, format.RawCSV(*raw))
		},
	}
	outputFlag(cmd, &output, "csv", "csv", "json", "ndjson")
	raw = rawCSVFlag(cmd, &output)
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "only devices matching this selector")
	cmd.Flags().StringVar(&out, "out", "", "write to this file instead of standard output")
	return cmd
}

// writeDevices streams the selected devices in a file format.
func (a *app) writeDevices(cmd *cobra.Command, sel inventory.Selector, kind format.Kind, out string, opts ...format.Option) (err error) {
	s, err := a.inventory(cmd.Context())
	if err != nil {
		return err
	}
	w, err := a.createOutput(out)
	if err != nil {
		return err
	}
	defer w.Abort()
	fw, err := format.NewWriter(kind, w, opts...)
	if err != nil {
		return err
	}
	for d, err := range s.Devices(cmd.Context(), sel) {
		if err != nil {
			return err
		}
		if err := fw.Write(d); err != nil {
			return err
		}
	}
	if err := fw.Close(); err != nil {
		return err
	}
	return w.Commit()
}

func newListCmd(a *app) *cobra.Command {
	var output, selector string
	var raw *bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List devices",
		Example: `  ringmaster inventory list -l org=RXX
  ringmaster inventory list -l 'release=22H2,!label.excluded' -o json
  ringmaster inventory list -l 'build<10.0.19045,site in ("Leeds General Hospital",York Clinic)'`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sel, err := parseSelector(selector)
			if err != nil {
				return err
			}
			if output != "table" {
				return a.writeDevices(cmd, sel, format.Kind(output), "", format.RawCSV(*raw))
			}
			s, err := a.inventory(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "HOSTNAME\tORG\tSITE\tRELEASE\tBUILD\tLAST SEEN\tLABELS")
			n := 0
			for d, err := range s.Devices(cmd.Context(), sel) {
				if err != nil {
					return err
				}
				n++
				build := d.Facts.Value(inventory.FactOSBuild)
				if build != "" && d.Facts.Known(inventory.FactUBR) {
					build += "." + d.Facts.Value(inventory.FactUBR)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Hostname, d.Org, dash(d.Site), dash(d.Release()), dash(build), dash(ago(a.now(), d.LastSeen)), dash(d.Labels.String()))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "%s\n", plural(n, "device", "devices"))
			return nil
		},
	}
	outputFlag(cmd, &output, "table", "table", "json", "ndjson", "csv")
	raw = rawCSVFlag(cmd, &output)
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "only devices matching this selector")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ago renders how long before now t was, coarsely ("3d", "5h", "12m").
func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return t.UTC().Format(time.RFC3339)
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}

func newShowCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "show HOSTNAME",
		Short:   "Show one device: what was declared and what was observed, and when",
		Example: "  ringmaster inventory show pc000001.rxx.nhs.uk\n  ringmaster inventory show PC000001.RXX.NHS.UK -o json",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			s, err := a.inventory(cmd.Context())
			if err != nil {
				return err
			}
			d, err := s.Device(cmd.Context(), argv[0])
			if err != nil {
				return err
			}
			if output == "json" {
				var buf bytes.Buffer
				if err := json.Indent(&buf, format.AppendJSON(nil, &d), "", "  "); err != nil {
					return err
				}
				buf.WriteByte('\n')
				_, err := a.stdout.Write(buf.Bytes())
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "Hostname:\t%s\n", d.Hostname)
			fmt.Fprintf(tw, "Organisation:\t%s\n", d.Org)
			fmt.Fprintf(tw, "Site:\t%s\n", dash(d.Site))
			fmt.Fprintf(tw, "Address:\t%s\n", dash(d.Address))
			fmt.Fprintf(tw, "Credential:\t%s\n", dash(d.Credential))
			fmt.Fprintf(tw, "Labels:\t%s\n", dash(d.Labels.String()))
			fmt.Fprintf(tw, "Release:\t%s\n", dash(d.Release()))
			fmt.Fprintf(tw, "Last seen:\t%s\n", dash(stamp(d.LastSeen)))
			fmt.Fprintf(tw, "Added:\t%s\n", stamp(d.CreatedAt))
			fmt.Fprintf(tw, "Updated:\t%s\n", stamp(d.UpdatedAt))
			fmt.Fprintln(tw, "Observed facts:\t")
			for _, f := range inventory.AllFacts() {
				if d.Facts.Known(f) {
					fmt.Fprintf(tw, "  %s:\t%s\t(observed %s)\n", f, d.Facts.Value(f), stamp(d.Facts.ObservedAt[f]))
				} else {
					fmt.Fprintf(tw, "  %s:\t-\t(not observed)\n", f)
				}
			}
			return tw.Flush()
		},
	}
	outputFlag(cmd, &output, "table", "table", "json")
	return cmd
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func newRemoveCmd(a *app) *cobra.Command {
	var selector string
	cmd := &cobra.Command{
		Use:     "remove [HOSTNAME...] [-l SELECTOR]",
		Aliases: []string{"rm"},
		Short:   "Remove devices by hostname or selector",
		Example: "  ringmaster inventory remove pc000001.rxx.nhs.uk\n  ringmaster inventory remove -l org=RXX,label.decommissioned",
		Args:    args(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if (len(argv) == 0) == (selector == "") {
				return usagef("give hostnames or -l SELECTOR (one of them)")
			}
			if selector == "" {
				hosts := make([]string, len(argv))
				for i, h := range argv {
					hosts[i] = `"` + inventory.NormaliseHostname(h) + `"`
				}
				selector = "hostname in (" + strings.Join(hosts, ",") + ")"
			}
			sel, err := parseSelector(selector)
			if err != nil {
				return err
			}
			s, err := a.inventory(cmd.Context())
			if err != nil {
				return err
			}
			removed, err := s.RemoveDevices(cmd.Context(), sel)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "removed %s\n", plural(len(removed), "device", "devices"))
			var missing []string
			for _, h := range argv {
				if !slices.Contains(removed, inventory.NormaliseHostname(h)) {
					missing = append(missing, h)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("%w: not in the inventory: %s", errkind.NotFound, strings.Join(missing, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "remove the devices matching this selector")
	return cmd
}

func newGenerateCmd(a *app) *cobra.Command {
	var (
		o   synth.Options
		out string
		now string
	)
	cmd := &cobra.Command{
		Use:   "generate --devices N --orgs K [--seed S] [--out FILE]",
		Short: "Write a realistic synthetic estate as inventory CSV",
		Long: `Write a realistic synthetic estate as inventory CSV: organisations of very
different sizes, sites, Windows 7 SP1 and Windows 10 1607..22H2 with real
build numbers, common models, disk and memory sizes, and some missing
fields. The output is the same for the same --seed and --now.`,
		Example: "  ringmaster inventory generate --devices 2000 --orgs 12 --seed 1 --out estate.csv",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			o.Now = a.now().UTC().Truncate(24 * time.Hour)
			if now != "" {
				if o.Now, err = inventory.ParseTime(now); err != nil {
					return usagef("--now: %v", err)
				}
			}
			if o.Devices < 1 || o.Orgs < 1 || o.Devices < o.Orgs {
				return usagef("want --devices >= --orgs >= 1")
			}
			w, err := a.createOutput(out)
			if err != nil {
				return err
			}
			defer w.Abort()
			orgs, err := synth.Generate(w, o)
			if err != nil {
				return err
			}
			if err := w.Commit(); err != nil {
				return err
			}
			if out != "" {
				fmt.Fprintf(a.stderr, "wrote %s devices in %s to %s\n", fmt.Sprint(o.Devices), plural(len(orgs), "organisation", "organisations"), out)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Devices, "devices", 2000, "number of devices")
	f.IntVar(&o.Orgs, "orgs", 12, "number of organisations")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed")
	f.StringVar(&out, "out", "", "write to this file instead of standard output")
	f.StringVar(&now, "now", "", "reference time for last-seen values (default: today, midnight UTC)")
	return cmd
}

type summaryJSON struct {
	Org       string         `json:"org"`
	Name      string         `json:"name,omitempty"`
	Devices   int            `json:"devices"`
	Windows10 int            `json:"windows10"`
	Windows7  int            `json:"windows7"`
	Other     int            `json:"other"`
	Unknown   int            `json:"unknown"`
	Releases  map[string]int `json:"releases"`
}

func toSummaryJSON(s inventory.OrgSummary) summaryJSON {
	return summaryJSON{Org: s.Org, Devices: s.Devices, Windows10: s.Windows10, Windows7: s.Windows7, Other: s.Other, Unknown: s.Unknown, Releases: s.Releases}
}

func sortedReleases(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func newSummaryCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "summary",
		Short:   "Per-organisation summary: devices, Windows 10 and Windows 7 counts",
		Example: "  ringmaster inventory summary\n  ringmaster inventory summary -o json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.inventory(cmd.Context())
			if err != nil {
				return err
			}
			counts, err := s.CountByOrgAndBuild(cmd.Context())
			if err != nil {
				return err
			}
			orgs, total := inventory.Summarise(counts)
			all, err := s.Organisations(cmd.Context())
			if err != nil {
				return err
			}
			names := map[string]string{}
			for _, o := range all {
				names[o.Code] = o.Name
			}
			if output == "json" {
				out := struct {
					Orgs  []summaryJSON `json:"orgs"`
					Total summaryJSON   `json:"total"`
				}{Orgs: []summaryJSON{}, Total: toSummaryJSON(total)}
				for _, o := range orgs {
					j := toSummaryJSON(o)
					j.Name = names[o.Org]
					out.Orgs = append(out.Orgs, j)
				}
				return writeJSON(a, out)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ORG\tNAME\tDEVICES\tWINDOWS 10\tWINDOWS 7\tOTHER\tBUILD UNKNOWN")
			row := func(o inventory.OrgSummary, name string) {
				fmt.Fprintf(tw, "%s\t%s\t%7d\t%7d %5.1f%%\t%7d\t%5d\t%13d\n", o.Org, name, o.Devices, o.Windows10, inventory.Percent(o.Windows10, o.Devices), o.Windows7, o.Other, o.Unknown)
			}
			for _, o := range orgs {
				row(o, names[o.Org])
			}
			row(total, fmt.Sprintf("all %s", plural(len(orgs), "organisation", "organisations")))
			return tw.Flush()
		},
	}
	outputFlag(cmd, &output, "table", "table", "json")
	return cmd
}
