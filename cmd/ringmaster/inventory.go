package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/estate"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/inventory/synth"
	"github.com/ringmaster-fleet/ringmaster/report"
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
	cmd.AddCommand(newImportCmd(a), newExportCmd(a), newListCmd(a), newShowCmd(a), newLabelCmd(a), newRemoveCmd(a),
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

// hostsOrSelector is the selector of the hosts named or, when none are,
// of -l; giving both or neither is a usage error (then says what follows).
func hostsOrSelector(hosts []string, selector, then string) (inventory.Selector, error) {
	if (len(hosts) == 0) == (selector == "") {
		return inventory.Selector{}, usagef("give hostnames or -l SELECTOR (one of them)%s", then)
	}
	if selector == "" {
		selector = estate.HostSelector(hosts)
	}
	return parseSelector(selector)
}

func newImportCmd(a *app) *cobra.Command {
	var (
		kind string
		o    estate.ImportOptions
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

Exports without an organisation column take --org CODE for every row (a
file with the column keeps each row's own and --org fills its blanks).
Dates are ISO 8601 unless --date-format says otherwise: dmy, mdy or ymd
(that order, '/', '-' or '.' between, an optional time such as 09:14 or
9:14 PM) or a Go layout such as "02/01/2006 15:04"; times without a zone
are UTC. When two columns give one field (Configuration Manager's Name0
and Netbios_Name0), the preferred one is used and the choice noted.

A column the file lacks leaves the stored value alone; an empty cell in a
declared column (address, site, labels, credential) clears it. Facts (OS,
build, KBs, disk ...) are observations: they are replaced only by newer
ones, observed at observed_at, else last_seen, else now.

FILE "-" reads standard input (then --format is required).`,
		Example: `  ringmaster inventory import devices.csv --dry-run
  ringmaster inventory import devices.csv --create-orgs --org-timezone Europe/London
  ringmaster inventory import configmgr.csv --org RXX --date-format dmy
  ringmaster inventory import defender.csv --org RZZ --date-format "Jan 2, 2006 3:04:05 PM"
  ringmaster inventory export -o ndjson | ringmaster --db other.db inventory import - --format ndjson`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			o.Name, o.Format, o.Now = argv[0], format.Kind(kind), a.now()
			src, err := estate.Open(o, a.stdin)
			var fe *estate.FormatError
			var tz *estate.TimeZoneError
			var oe *estate.OptionError
			switch {
			case errors.As(err, &oe):
				return usagef("--%v", oe)
			case errors.As(err, &fe) && fe.Name == estate.Stdin:
				return usagef("--format is required when reading standard input")
			case errors.As(err, &fe):
				return usagef("%s: cannot tell the format from the extension; give --format csv, json or ndjson", fe.Name)
			case errors.As(err, &tz):
				return usagef("--org-timezone: %v", tz.Err)
			case err != nil:
				return err
			}
			defer src.Close()
			s, err := a.inventory(cmd.Context())
			if err != nil {
				return err
			}
			rep, err := estate.Import(cmd.Context(), s, src, o)
			for _, n := range rep.Notes {
				fmt.Fprintf(a.stderr, "note: %s: %s\n", rep.Name, n)
			}
			if ign := rep.Ignored; len(ign) > 0 {
				fmt.Fprintf(a.stderr, "note: %s: ignoring %s: %s\n", rep.Name, plural(len(ign), "column", "columns"), strings.Join(ign, ", "))
			}
			counts := fmt.Sprintf("%s: %d new, %d updated, %d unchanged, %d rejected", rep.Name, rep.New, rep.Updated, rep.Unchanged, rep.Rejected)
			if err != nil {
				var ie *inventory.ImportError
				if o.DryRun && errors.As(err, &ie) {
					fmt.Fprintf(a.stdout, "dry run, nothing written; %s\n", counts)
				}
				return err
			}
			verb := "imported"
			if o.DryRun {
				verb = "dry run, nothing written; would import"
			}
			fmt.Fprintf(a.stdout, "%s %s\n", verb, counts)
			if len(rep.CreatedOrgs) > 0 {
				v := "created"
				if o.DryRun {
					v = "would create"
				}
				codes := rep.CreatedOrgs
				more := ""
				if len(codes) > 20 {
					codes, more = codes[:20], fmt.Sprintf(" and %d more", len(codes)-20)
				}
				fmt.Fprintf(a.stdout, "%s %s: %s%s\n", v, plural(len(rep.CreatedOrgs), "organisation", "organisations"), strings.Join(codes, ", "), more)
			}
			for _, c := range rep.Changes {
				fmt.Fprintf(a.stdout, "  %-9s %s\n", c.Kind, c.Hostname)
			}
			if rep.More > 0 {
				fmt.Fprintf(a.stdout, "  ... and %d more\n", rep.More)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kind, "format", "", "csv, json or ndjson (default: from the file extension)")
	f.BoolVar(&o.DryRun, "dry-run", false, "show what would change and write nothing")
	f.BoolVar(&o.RawCSV, "raw-csv", false, "read CSV cells exactly as written, for a file exported with --raw-csv "+
		"(by default the single quote export puts before a cell starting with = + - or @ is removed)")
	f.BoolVar(&o.CreateOrgs, "create-orgs", false, "create organisations the file names but the database lacks")
	f.StringVar(&o.DefaultTimeZone, "org-timezone", "Europe/London", "time zone of created organisations without an org_timezone column")
	f.StringVar(&o.Org, "org", "", "organisation of every row that names none (for exports without an organisation column)")
	f.StringVar(&o.DateFormat, "date-format", "", `how the file writes dates: dmy, mdy, ymd, or a Go layout such as "02/01/2006 15:04" (default: ISO 8601)`)
	f.IntVar(&o.MaxErrors, "max-errors", 50, "report at most this many bad rows")
	f.IntVar(&o.Show, "show", 20, "with --dry-run, list at most this many changed devices")
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
	return a.writeTo(out, func(w io.Writer) error { return estate.Export(cmd.Context(), s, sel, w, kind, opts...) })
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
			tw := newTable(a.stdout, "HOSTNAME", "ORG", "SITE", "RELEASE", "BUILD", "LAST SEEN", "LABELS")
			n := 0
			for d, err := range s.Devices(cmd.Context(), sel) {
				if err != nil {
					return err
				}
				n++
				row(tw, d.Hostname, d.Org, dash(d.Site), dash(d.Release()), dash(estate.Build(d)), dash(report.Ago(a.now(), d.LastSeen)), dash(d.Labels.String()))
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
			detail, err := estate.ShowDevice(cmd.Context(), s, argv[0])
			if err != nil {
				return err
			}
			d := detail.Device
			if output == "json" {
				var buf bytes.Buffer
				if err := json.Indent(&buf, format.AppendJSON(nil, &d), "", "  "); err != nil {
					return err
				}
				buf.WriteByte('\n')
				_, err := a.stdout.Write(buf.Bytes())
				return err
			}
			tw := newTable(a.stdout)
			fmt.Fprintf(tw, "Hostname:\t%s\n", d.Hostname)
			fmt.Fprintf(tw, "Organisation:\t%s\n", d.Org)
			fmt.Fprintf(tw, "Site:\t%s\n", dash(d.Site))
			fmt.Fprintf(tw, "Address:\t%s\n", dash(d.Address))
			fmt.Fprintf(tw, "Credential:\t%s\n", dash(d.Credential))
			fmt.Fprintf(tw, "Labels:\t%s\n", dash(d.Labels.String()))
			if len(detail.LabelChanges) == 0 {
				fmt.Fprintln(tw, "Label changes:\t-")
			} else {
				fmt.Fprintf(tw, "Label changes:\t(last %d)\n", estate.HistoryShown)
			}
			for _, e := range detail.LabelChanges {
				fmt.Fprintf(tw, "  %s\t%s\tby %s\n", stamp(e.At), e, e.Actor)
			}
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

func newLabelCmd(a *app) *cobra.Command {
	var selector string
	cmd := &cobra.Command{
		Use:   "label [HOSTNAME...] [-l SELECTOR] KEY=VALUE... KEY-...",
		Short: "Add, change or remove labels on devices without re-importing them",
		Long: `Add or change labels (KEY=VALUE) and remove them (KEY-) on the devices named
or those a selector picks, in one transaction: every device or none. Each
label added, changed or removed is recorded with the time and who made it
($RINGMASTER_ACTOR, else the operating system's user, as for campaign
decisions); 'inventory show' lists the last changes. A
hostname the inventory does not hold fails the whole change.`,
		Example: `  ringmaster inventory label pc000001.rxx.nhs.uk excluded=true
  ringmaster inventory label -l org=RXX,site=York ring=pilot
  ringmaster inventory label pc000001.rxx.nhs.uk pc000002.rxx.nhs.uk excluded- ring=ring1`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			var hosts, changes []string
			for _, arg := range argv {
				// A hostname has no '=' and cannot end with '-'.
				if strings.Contains(arg, "=") || strings.HasSuffix(arg, "-") {
					changes = append(changes, arg)
				} else {
					hosts = append(hosts, arg)
				}
			}
			sel, err := hostsOrSelector(hosts, selector, ", then the changes")
			if err != nil {
				return err
			}
			parsed, err := inventory.ParseLabelChanges(changes)
			if err != nil {
				return usageError{err}
			}
			actor := a.actor()
			if actor == "" {
				return usagef("say who is making the change: set RINGMASTER_ACTOR")
			}
			s, err := a.inventory(cmd.Context())
			if err != nil {
				return err
			}
			res, err := estate.Label(cmd.Context(), s, sel, hosts, parsed, actor)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "changed the labels of %s (%d matched)\n", plural(len(res.Changed), "device", "devices"), len(res.Matched))
			return nil
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label the devices matching this selector")
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
			sel, err := hostsOrSelector(argv, selector, "")
			if err != nil {
				return err
			}
			s, err := a.inventory(cmd.Context())
			if err != nil {
				return err
			}
			n, err := estate.Remove(cmd.Context(), s, sel, argv)
			var missing *estate.MissingError
			if err == nil || errors.As(err, &missing) {
				fmt.Fprintf(a.stdout, "removed %s\n", plural(n, "device", "devices"))
			}
			return err
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
			if synth.CheckSize(o.Devices, o.Orgs) != nil {
				return usagef("want --devices >= --orgs >= 1")
			}
			var orgs []synth.Org
			if err := a.writeTo(out, func(w io.Writer) (err error) { orgs, err = synth.Generate(w, o); return err }); err != nil {
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
			sum, err := estate.Summarise(cmd.Context(), s)
			if err != nil {
				return err
			}
			return a.printAs(output, sum, func() error {
				tw := newTable(a.stdout, "ORG", "NAME", "DEVICES", "WINDOWS 10", "WINDOWS 7", "OTHER", "BUILD UNKNOWN")
				line := func(o estate.Counts, name string) {
					fmt.Fprintf(tw, "%s\t%s\t%7d\t%7d %5.1f%%\t%7d\t%5d\t%13d\n", o.Org, name, o.Devices, o.Windows10, inventory.Percent(o.Windows10, o.Devices), o.Windows7, o.Other, o.Unknown)
				}
				for _, o := range sum.Orgs {
					line(o, o.Name)
				}
				line(sum.Total, fmt.Sprintf("all %s", plural(len(sum.Orgs), "organisation", "organisations")))
				return tw.Flush()
			})
		},
	}
	outputFlag(cmd, &output, "table", "table", "json")
	return cmd
}
