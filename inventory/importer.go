package inventory

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// Position is where a record came from: file name and 1-based line.
type Position struct {
	File string
	Line int
}

func (p Position) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// RowError is one bad record of an import file. Its text has the form
//
//	devices.csv:1042: column "org": unknown organisation "RX9" (use --create-orgs)
type RowError struct {
	Pos   Position
	Noun  string // "column" for CSV, "field" for JSON
	Field string // the column or field as named in the file; "" for the whole row
	Err   error
}

func (e *RowError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %v", e.Pos, e.Err)
	}
	return fmt.Sprintf("%s: %s %s: %v", e.Pos, e.Noun, QuoteValue(e.Field), e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// Record is one device read from an import file.
type Record struct {
	Pos    Position
	Device Device // normalised; facts carry their observation times
	// Present says which declared fields the file carries. A declared field
	// the file lacks keeps its stored value; one it carries, even empty,
	// replaces it. Facts are merged by observation time instead.
	Present FieldSet
	// OrgName and OrgTimeZone describe the organisation when the import
	// creates it (ImportOptions.CreateOrgs).
	OrgName, OrgTimeZone string
	// Columns maps a field name to the column or JSON field it came from,
	// so validation errors name the column as the file spells it.
	Columns map[string]string
	Noun    string // "column" or "field"
	// Errs holds the problems found while parsing the record.
	Errs []*RowError
}

// FieldSet is a set of declared fields (FieldSite, FieldLabels ...).
// The zero value is empty.
type FieldSet uint16

var declaredFields = []string{FieldHostname, FieldAddress, FieldOrg, FieldSite, FieldLabels, FieldCredential}

func fieldBit(name string) FieldSet {
	for i, f := range declaredFields {
		if f == name {
			return 1 << i
		}
	}
	return 0
}

// Add puts a declared field (FieldSite ...) in the set; other names are ignored.
func (s *FieldSet) Add(name string) { *s |= fieldBit(name) }

// Has reports whether the declared field is in the set.
func (s FieldSet) Has(name string) bool { b := fieldBit(name); return b != 0 && s&b != 0 }

// RecordSource yields import records in file order. Next returns io.EOF
// after the last record; any other error is fatal to the import.
type RecordSource interface {
	Next() (Record, error)
}

// ImportTx is what an import needs from storage, all within one
// transaction that the caller commits or rolls back.
type ImportTx interface {
	Organisations(ctx context.Context) ([]Organisation, error)
	CreateOrganisation(ctx context.Context, o *Organisation) error
	// Device returns the stored device with this (normalised) hostname.
	Device(ctx context.Context, hostname string) (Device, bool, error)
	// InsertDevice stores a new device; prepared is what Prepare returned
	// for it, or nil.
	InsertDevice(ctx context.Context, d *Device, prepared any) error
	UpdateDevice(ctx context.Context, d *Device) error
}

// Preparer is an optional ImportTx extension: Prepare does per-device work
// that needs no transaction (encoding a row, say) on the goroutine that
// reads the file, so it overlaps with the writes. Its result is handed to
// InsertDevice. It must be safe to call concurrently with the other methods.
type Preparer interface {
	Prepare(d *Device) any
}

// ImportOptions tune an import.
type ImportOptions struct {
	CreateOrgs      bool   // create unknown organisations instead of rejecting rows
	DefaultTimeZone string // zone for created organisations without org_timezone
	MaxErrors       int    // report at most this many bad rows (default 50)
	// KeepCounting goes on writing good rows after a bad one, so the counts
	// cover the whole file (a dry run, which rolls back anyway). Otherwise
	// writing stops at the first bad row and only validation goes on.
	KeepCounting bool
	// DryRun, for a store's Import, runs the whole import, then rolls it
	// back (and implies KeepCounting). Import itself ignores it.
	DryRun bool
	Now    time.Time
	// OnChange, if set, is called for each new or updated device (dry-run listings).
	OnChange func(kind ChangeKind, d *Device)
	// InScope, if set, says which organisations the importer may write:
	// a row naming another, or whose hostname is a device of another, is
	// rejected (nil: every organisation).
	InScope func(org string) bool
}

// ChangeKind classifies what an import does to one device.
type ChangeKind string

// What an import does to one device.
const (
	ChangeNew       ChangeKind = "new"
	ChangeUpdated   ChangeKind = "updated"
	ChangeUnchanged ChangeKind = "unchanged"
)

// ImportResult counts what an import did or, in a dry run, would do.
type ImportResult struct {
	New, Updated, Unchanged, Rejected int
	CreatedOrgs                       []string
}

// ImportError lists the bad rows of a rejected import. It wraps errkind.Invalid.
type ImportError struct {
	Rows     []*RowError // errors of the first bad rows (up to MaxErrors errors)
	Rejected int         // how many rows were bad in all
	// Unlisted counts the bad rows none of whose errors are in Rows (nor
	// summarised by one, as rows naming the same unknown organisation are).
	Unlisted int
}

func (e *ImportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "import rejected: %d bad row(s), nothing was written", e.Rejected)
	for _, r := range e.Rows {
		b.WriteString("\n  ")
		b.WriteString(r.Error())
	}
	if e.Unlisted > 0 {
		fmt.Fprintf(&b, "\n  ... and %d more bad row(s)", e.Unlisted)
	}
	return b.String()
}

// Unwrap makes an ImportError match errkind.Invalid.
func (e *ImportError) Unwrap() error { return errkind.Invalid }

// Import reads every record of src and upserts the devices by hostname
// through tx. If any record is bad it keeps reading (to report every bad row,
// up to MaxErrors) but stops writing, and returns an *ImportError: the caller
// must then roll tx back, so one import is all or nothing. Memory stays
// bounded whatever the file size: records stream through, and only a 16-byte
// digest per hostname is kept to catch duplicates.
func Import(ctx context.Context, src RecordSource, tx ImportTx, opts ImportOptions) (ImportResult, error) {
	if opts.MaxErrors <= 0 {
		opts.MaxErrors = 50
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	orgs, err := tx.Organisations(ctx)
	if err != nil {
		return ImportResult{}, fmt.Errorf("load organisations: %w", err)
	}
	known := make(map[string]bool, len(orgs))
	for _, o := range orgs {
		known[o.Code] = true
	}

	// Parse on one goroutine, write on this one: the two overlap on two cores.
	ctx, cancel := context.WithCancel(ctx)
	type item struct {
		rec      Record
		errs     []*RowError // validation, done on the reading goroutine
		prepared any         // from Preparer, on the reading goroutine
		err      error
	}
	prep, _ := tx.(Preparer)
	const batchSize = 256
	ch := make(chan []item, 8)
	// Batches go back to the reader once written, so a large import does
	// not churn hundreds of megabytes through the garbage collector.
	free := make(chan []item, 10)
	// On return, stop the reader and wait for it: it must not outlive the
	// call (the caller will close the file).
	defer func() {
		cancel()
		for range ch {
		}
	}()
	go func() {
		defer close(ch)
		// Duplicates are found here, in file order, from a 16-byte digest
		// per hostname: memory stays small however large the file.
		seen := make(map[[16]byte]int32)
		seeds := [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}
		next := func() []item {
			select {
			case b := <-free:
				return b[:0]
			default:
				return make([]item, 0, batchSize)
			}
		}
		batch := next()
		for {
			rec, err := src.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			it := item{rec: rec, err: err}
			if err == nil {
				it.errs = validateRecord(&it.rec)
				if len(it.errs) == 0 {
					key := hostKey(seeds, it.rec.Device.Hostname)
					if first, dup := seen[key]; dup {
						it.errs = append(it.errs, rowErr(&it.rec, FieldHostname, fmt.Errorf("duplicate hostname %s (first at line %d)", QuoteValue(it.rec.Device.Hostname), first)))
					} else {
						seen[key] = int32(it.rec.Pos.Line)
					}
				}
				if len(it.errs) == 0 && prep != nil {
					it.rec.Device.CreatedAt, it.rec.Device.UpdatedAt = opts.Now, opts.Now
					it.prepared = prep.Prepare(&it.rec.Device)
				}
			}
			batch = append(batch, it)
			if err != nil || len(batch) == cap(batch) {
				select {
				case ch <- batch:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
				batch = next()
			}
		}
		if len(batch) > 0 {
			select {
			case ch <- batch:
			case <-ctx.Done():
			}
		}
	}()

	type unknownOrg struct {
		err  *RowError
		rows int
	}
	unknown := map[string]*unknownOrg{}
	var (
		res    ImportResult
		bad    ImportError
		writes = true
	)
	reject := func(rec *Record, errs ...*RowError) {
		res.Rejected++
		writes = false
		listed := false
		for _, e := range errs {
			if len(bad.Rows) < opts.MaxErrors {
				bad.Rows = append(bad.Rows, e)
				listed = true
			}
		}
		if !listed {
			bad.Unlisted++
		}
	}
	for batch := range ch {
		if err := ctx.Err(); err != nil {
			return ImportResult{}, err
		}
		for i := range batch {
			if batch[i].err != nil {
				return ImportResult{}, batch[i].err
			}
			rec, errs := &batch[i].rec, batch[i].errs
			if opts.InScope != nil && ValidateOrgCode(rec.Device.Org) == nil && !opts.InScope(rec.Device.Org) {
				// Whether it exists is not said: it is not the importer's.
				reject(rec, append(errs, rowErr(rec, FieldOrg, &FieldError{Msg: "organisation " + QuoteValue(rec.Device.Org) + " is outside your scope"}))...)
				continue
			}
			if ValidateOrgCode(rec.Device.Org) == nil && !known[rec.Device.Org] {
				if !opts.CreateOrgs {
					// Report each unknown organisation once, with how many rows name it.
					if u := unknown[rec.Device.Org]; u != nil {
						u.rows++
						if len(errs) == 0 {
							res.Rejected++
							writes = false
							continue
						}
					} else {
						e := rowErr(rec, FieldOrg, &FieldError{Msg: "unknown organisation " + QuoteValue(rec.Device.Org), Hint: "use --create-orgs"})
						unknown[rec.Device.Org] = &unknownOrg{err: e, rows: 1}
						errs = append(errs, e)
					}
				} else if err := createOrg(ctx, tx, rec, opts.DefaultTimeZone, writes); err != nil {
					var fe *FieldError
					if !errors.As(err, &fe) {
						return ImportResult{}, err
					}
					col := "org_timezone"
					if fe.Field == "name" {
						col = "org_name"
					}
					errs = append(errs, rowErr(rec, col, err))
				} else {
					known[rec.Device.Org] = true
					res.CreatedOrgs = append(res.CreatedOrgs, rec.Device.Org)
				}
			}
			if len(errs) > 0 {
				reject(rec, errs...)
				continue
			}
			if !writes && !opts.KeepCounting {
				// A bad row was seen: only validate from here on, the
				// scope's hold on hostnames included.
				if opts.InScope != nil {
					cur, found, err := tx.Device(ctx, rec.Device.Hostname)
					if err != nil {
						return ImportResult{}, fmt.Errorf("%s: %w", rec.Pos, err)
					}
					if e := scopeProblem(rec, &cur, found, opts); e != nil {
						reject(rec, e)
					}
				}
				continue
			}
			kind, err := upsert(ctx, tx, rec, batch[i].prepared, opts)
			var scoped *RowError
			if errors.As(err, &scoped) {
				reject(rec, scoped)
				continue
			}
			if err != nil {
				return ImportResult{}, fmt.Errorf("%s: %w", rec.Pos, err)
			}
			switch kind {
			case ChangeNew:
				res.New++
			case ChangeUpdated:
				res.Updated++
			default:
				res.Unchanged++
			}
			if opts.OnChange != nil && kind != ChangeUnchanged {
				opts.OnChange(kind, &rec.Device)
			}
		}
		clear(batch)
		select {
		case free <- batch:
		default:
		}
	}
	if err := ctx.Err(); err != nil {
		return ImportResult{}, err
	}
	for _, u := range unknown {
		if u.rows > 1 {
			u.err.Err = fmt.Errorf("%w; %d rows name it", u.err.Err, u.rows)
		}
	}
	if res.Rejected > 0 {
		bad.Rejected = res.Rejected
		return res, &bad
	}
	return res, nil
}

// hostKey is a 128-bit digest of a hostname: two independent 64-bit hashes,
// so a false "duplicate" is as unlikely as a 128-bit collision.
func hostKey(seeds [2]maphash.Seed, h string) [16]byte {
	var k [16]byte
	binary.LittleEndian.PutUint64(k[:8], maphash.String(seeds[0], h))
	binary.LittleEndian.PutUint64(k[8:], maphash.String(seeds[1], h))
	return k
}

func rowErr(rec *Record, field string, err error) *RowError {
	col := field
	if c, ok := rec.Columns[field]; ok {
		col = c
	}
	var fe *FieldError
	if errors.As(err, &fe) && fe.Field != "" {
		// The column already names the field: say only what is wrong.
		cp := *fe
		cp.Field = ""
		err = &cp
	}
	return &RowError{Pos: rec.Pos, Noun: rec.Noun, Field: col, Err: err}
}

// validateRecord returns the record's parse errors and the problems with
// its declared fields, at most one per column.
func validateRecord(rec *Record) []*RowError {
	errs := rec.Errs
	if slices.ContainsFunc(errs, func(e *RowError) bool { return e.Field == "" }) {
		return errs // the row itself is malformed: its fields mean nothing
	}
	for _, fe := range rec.Device.Problems() {
		e := rowErr(rec, fe.Field, fe)
		if !slices.ContainsFunc(errs, func(o *RowError) bool { return o.Field == e.Field }) {
			errs = append(errs, e)
		}
	}
	slices.SortStableFunc(errs, func(a, b *RowError) int { return a.Pos.Line - b.Pos.Line })
	return errs
}

func createOrg(ctx context.Context, tx ImportTx, rec *Record, defaultTZ string, write bool) error {
	o := Organisation{Code: rec.Device.Org, Name: rec.OrgName, TimeZone: rec.OrgTimeZone}
	if o.Name == "" {
		o.Name = o.Code
	}
	if o.TimeZone == "" {
		o.TimeZone = defaultTZ
	}
	o.Normalise()
	if err := o.Validate(); err != nil {
		return err
	}
	if !write {
		return nil
	}
	if err := tx.CreateOrganisation(ctx, &o); err != nil {
		return fmt.Errorf("%s: create organisation %s: %w", rec.Pos, o.Code, err)
	}
	return nil
}

// upsert merges the record into the stored device, if any, and writes it.
// takenError is a row whose hostname is a device of an organisation
// outside the importer's scope: importing it would move that device.
type takenError struct{ hostname string }

func (e *takenError) Error() string {
	return "hostname " + QuoteValue(e.hostname) + " is a device outside your scope"
}

// scopeProblem is why a scoped import may not write rec over cur (the
// stored device, if found), or nil. Besides another organisation's
// device, a scoped importer may not give a device a credential or an
// address it does not have: a credential is not bound to an organisation,
// and the address decides where the credential is sent, so either would
// let one organisation's team have another's (or the estate's) login sent
// to a host of its choosing. Those are set by an estate-wide caller.
func scopeProblem(rec *Record, cur *Device, found bool, opts ImportOptions) *RowError {
	if opts.InScope == nil {
		return nil
	}
	if found && !opts.InScope(cur.Org) {
		return rowErr(rec, FieldHostname, &takenError{hostname: rec.Device.Hostname})
	}
	var credential, address string
	if found {
		credential, address = cur.Credential, cur.Address
	}
	if rec.Present.Has(FieldCredential) && rec.Device.Credential != credential {
		return rowErr(rec, FieldCredential, &FieldError{Msg: "only a caller of the whole estate assigns credentials"})
	}
	if rec.Present.Has(FieldAddress) && rec.Device.Address != address {
		return rowErr(rec, FieldAddress, &FieldError{Msg: "only a caller of the whole estate sets addresses (an address decides where a device's credential is sent)"})
	}
	return nil
}

func upsert(ctx context.Context, tx ImportTx, rec *Record, prepared any, opts ImportOptions) (ChangeKind, error) {
	now := opts.Now
	cur, found, err := tx.Device(ctx, rec.Device.Hostname)
	if err != nil {
		return "", err
	}
	if e := scopeProblem(rec, &cur, found, opts); e != nil {
		return "", e
	}
	if !found {
		d := &rec.Device
		d.CreatedAt, d.UpdatedAt = now, now
		return ChangeNew, tx.InsertDevice(ctx, d, prepared)
	}
	if !MergeDevice(&cur, &rec.Device, rec.Present) {
		return ChangeUnchanged, nil
	}
	cur.UpdatedAt = now
	rec.Device = cur
	return ChangeUpdated, tx.UpdateDevice(ctx, &cur)
}

// MergeDevice applies an imported device to the stored one: declared fields
// in present replace stored ones; facts and last seen keep the newest
// observation. It reports whether dst changed.
func MergeDevice(dst, src *Device, present FieldSet) bool {
	changed := false
	set := func(field string, d *string, s string) {
		if present.Has(field) && *d != s {
			*d, changed = s, true
		}
	}
	set(FieldAddress, &dst.Address, src.Address)
	set(FieldOrg, &dst.Org, src.Org)
	set(FieldSite, &dst.Site, src.Site)
	set(FieldCredential, &dst.Credential, src.Credential)
	if present.Has(FieldLabels) && !dst.Labels.Equal(src.Labels) {
		dst.Labels, changed = src.Labels, true
	}
	if dst.Facts.Merge(&src.Facts) {
		changed = true
	}
	if src.LastSeen.After(dst.LastSeen) {
		dst.LastSeen, changed = src.LastSeen, true
	}
	return changed
}
