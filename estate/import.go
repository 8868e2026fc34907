package estate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
)

// Importer writes the records of src into the store in one transaction,
// rolled back again with opts.DryRun (inventory.Store's Import).
type Importer interface {
	Import(ctx context.Context, src inventory.RecordSource, opts inventory.ImportOptions) (inventory.ImportResult, error)
}

// Stdin is the file name that means standard input.
const Stdin = "-"

// FormatError says the format of a file to import could not be told from
// its name: give it.
type FormatError struct {
	Name string // the file; Stdin for standard input
}

func (e *FormatError) Error() string {
	if e.Name == Stdin {
		return "the format is required when reading standard input"
	}
	return e.Name + ": cannot tell the format from the extension"
}

// TimeZoneError is an invalid zone for the organisations an import creates.
type TimeZoneError struct{ Err error }

func (e *TimeZoneError) Error() string { return "organisation time zone: " + e.Err.Error() }
func (e *TimeZoneError) Unwrap() error { return e.Err }

// OptionError is an import option that cannot be used: Option names it
// as the CLI's flag does ("org", "date-format"). It wraps Err.
type OptionError struct {
	Option string
	Err    error
}

func (e *OptionError) Error() string { return e.Option + ": " + e.Err.Error() }

// optionError names the option a *inventory.FieldError is about instead
// of the field, which would say it twice.
func optionError(option string, err error) *OptionError {
	var fe *inventory.FieldError
	if errors.As(err, &fe) {
		fe.Field = ""
	}
	return &OptionError{Option: option, Err: err}
}
func (e *OptionError) Unwrap() error { return e.Err }

// ImportOptions say what to import and how.
type ImportOptions struct {
	// CreateOrgs, DefaultTimeZone, MaxErrors, Now and DryRun (run the
	// import, then roll it back) as for inventory.Store's Import; OnChange
	// is set by Import.
	inventory.ImportOptions
	Name   string      // the file, or Stdin
	Format format.Kind // "" to tell it from Name's extension
	RawCSV bool        // read CSV cells as written (no formula quote removed)
	Show   int         // with DryRun, list at most this many changes
	// Org is the organisation of every record that names none: for an
	// export without an organisation column (or with blank cells in one).
	// A record's own organisation wins.
	Org string
	// DateFormat is how the file writes dates: "dmy", "mdy", "ymd" or a
	// Go layout (format.ParseDateFormat); "" reads ISO 8601 only.
	DateFormat string
}

// Source is an opened file to import, its format known.
type Source struct {
	name   string // as reports name it: "stdin" for standard input
	kind   format.Kind
	opts   []format.Option // how to read it
	r      io.Reader
	closer io.Closer
}

// Name is the file's name as reports give it ("stdin" for standard input).
func (s *Source) Name() string { return s.name }

// Close closes the file.
func (s *Source) Close() error {
	if s.closer == nil {
		return nil
	}
	return s.closer.Close()
}

// Open checks the options (the format, given or told from the name; the
// time zone of created organisations) and opens the file, stdin for Stdin.
// It touches no store, so a mistake costs nothing.
func Open(o ImportOptions, stdin io.Reader) (*Source, error) {
	k, opts, err := o.check()
	if err != nil {
		return nil, err
	}
	if o.Name == Stdin {
		return &Source{name: "stdin", kind: k, r: stdin, opts: opts}, nil
	}
	f, err := os.Open(o.Name)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return &Source{name: o.Name, kind: k, r: f, closer: f, opts: opts}, nil
}

// Read checks the options as Open does and reads r, a file sent rather
// than one on this machine (an upload): o.Name only names it in reports
// and tells its format when o.Format does not. Nothing is opened.
func Read(o ImportOptions, r io.Reader) (*Source, error) {
	if o.Name == "" || o.Name == Stdin {
		return nil, optionError("name", errors.New("an upload needs a name to report its rows by"))
	}
	k, opts, err := o.check()
	if err != nil {
		return nil, err
	}
	return &Source{name: o.Name, kind: k, r: r, opts: opts}, nil
}

// check checks the options and gives the format and how to read it.
func (o ImportOptions) check() (format.Kind, []format.Option, error) {
	k := o.Format
	if k == "" {
		if o.Name == Stdin {
			return "", nil, &FormatError{Name: Stdin}
		}
		if k = format.KindFromName(o.Name); k == "" {
			return "", nil, &FormatError{Name: o.Name}
		}
	}
	if o.CreateOrgs {
		if err := inventory.ValidateTimeZone(o.DefaultTimeZone); err != nil {
			return "", nil, &TimeZoneError{Err: err}
		}
	}
	opts := []format.Option{format.RawCSV(o.RawCSV)}
	if o.Org != "" {
		if err := inventory.ValidateOrgCode(inventory.NormaliseOrgCode(o.Org)); err != nil {
			return "", nil, optionError("org", err)
		}
		opts = append(opts, format.DefaultOrg(o.Org))
	}
	if o.DateFormat != "" {
		df, err := format.ParseDateFormat(o.DateFormat)
		if err != nil {
			return "", nil, optionError("date-format", err)
		}
		opts = append(opts, format.Dates(df))
	}
	return k, opts, nil
}

// Change is one device an import adds or changes.
type Change struct {
	Kind     inventory.ChangeKind
	Hostname string
}

// ImportReport is what an import did, or with DryRun would do.
type ImportReport struct {
	inventory.ImportResult
	Name    string   // the file as named in reports
	Ignored []string // columns of the file that mean nothing here
	Notes   []string // how its header was read where a choice was made
	Changes []Change // with DryRun, the first Show changes
	More    int      // with DryRun, the changes beyond those
}

// Import reads src (with the options Open checked: RawCSV, Org,
// DateFormat) and writes its devices into s in one transaction. The
// report is filled in as far as the import got: Ignored and Notes once
// the file's header is read, the counts when the records were checked,
// even when err is an *inventory.ImportError.
func Import(ctx context.Context, s Importer, src *Source, o ImportOptions) (ImportReport, error) {
	rep := ImportReport{Name: src.name}
	rs, err := format.NewReader(src.kind, src.r, src.name, o.Now, src.opts...)
	if err != nil {
		return rep, err
	}
	rep.Ignored, rep.Notes = rs.Ignored(), rs.Notes()
	opts := o.ImportOptions
	opts.OnChange = nil
	if o.DryRun {
		opts.OnChange = func(kind inventory.ChangeKind, d *inventory.Device) {
			if len(rep.Changes) < o.Show {
				rep.Changes = append(rep.Changes, Change{Kind: kind, Hostname: d.Hostname})
			} else {
				rep.More++
			}
		}
	}
	// The store's errors are returned as they are: they name the file and
	// row themselves (an *inventory.ImportError) or the database.
	rep.ImportResult, err = s.Import(ctx, rs, opts)
	return rep, err
}
