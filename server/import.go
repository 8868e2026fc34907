package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/estate"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
)

// ImportReport is what an inventory import did or, as a dry run, would do.
type ImportReport struct {
	Name      string `json:"name"`
	DryRun    bool   `json:"dry_run"`
	New       int    `json:"new"`
	Updated   int    `json:"updated"`
	Unchanged int    `json:"unchanged"`
	// CreatedOrgs are the organisations it created (create_orgs).
	CreatedOrgs []string `json:"created_orgs"`
	// Ignored are the file's columns that mean nothing here; Notes say
	// how its header was read where a choice was made.
	Ignored []string `json:"ignored"`
	Notes   []string `json:"notes"`
	// Changes are, in a dry run, the first devices it would add or
	// change (show=); More counts the rest.
	Changes []ImportChange `json:"changes"`
	More    int            `json:"more"`
}

// ImportChange is one device an import adds or changes.
type ImportChange struct {
	Kind     string `json:"kind" jsonschema:"enum=new,enum=updated"`
	Hostname string `json:"hostname"`
}

// uploadFormats maps the media types an import takes to the formats.
var uploadFormats = map[string]format.Kind{"text/csv": "csv", "application/json": "json", "application/x-ndjson": "ndjson"}

func (s *Server) importRoute() {
	type importIn struct {
		File     Upload `upload:"text/csv,application/json,application/x-ndjson" doc:"the devices: a CSV file with a header row, a JSON array or NDJSON, as ringmaster inventory import reads"`
		Name     string `query:"name" doc:"the file's name, which errors name rows by (default upload.csv, .json or .ndjson)"`
		DryRun   bool   `query:"dry_run" doc:"check and count what would change; write nothing"`
		Org      string `query:"org" doc:"the organisation of every row that names none"`
		Dates    string `query:"date_format" doc:"how the file writes dates: dmy, mdy, ymd or a Go layout (default ISO 8601)"`
		RawCSV   bool   `query:"raw_csv" doc:"read CSV cells as written (no spreadsheet quote removed)"`
		Create   bool   `query:"create_orgs" doc:"create the organisations the file names but the inventory lacks (estate scope only)"`
		TimeZone string `query:"org_timezone" doc:"the time zone of created organisations without an org_timezone column (default Europe/London)"`
		Show     int    `query:"show" doc:"in a dry run, list at most this many changed devices (default 20, at most 1000)"`
	}
	handle(s, Op{ID: "inventory-import", Method: "POST", Path: "/api/v1/inventory/import", Summary: "Import devices (upsert by hostname) in one transaction: every row must be of an organisation in scope, and a bad row writes nothing", Tag: "inventory", Role: access.Operator, Audit: "inventory.import"},
		func(ctx context.Context, c *Call, in *importIn) (ImportReport, error) {
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return ImportReport{}, err
			}
			if in.Create {
				if err := c.RequireEstate(ctx, "create organisations"); err != nil {
					return ImportReport{}, err
				}
			}
			show := in.Show
			switch {
			case show == 0:
				show = 20
			case show < 0 || show > maxListPage:
				return ImportReport{}, &BadRequestError{Where: "query parameter show", Err: fmt.Errorf("%d: want 1 to %d", show, maxListPage)}
			}
			kind := uploadFormats[in.File.ContentType]
			name := in.Name
			if name == "" {
				name = "upload." + string(kind)
			}
			tz := in.TimeZone
			if tz == "" {
				tz = "Europe/London"
			}
			o := estate.ImportOptions{Name: name, Format: kind, RawCSV: in.RawCSV, Show: show, Org: in.Org, DateFormat: in.Dates,
				ImportOptions: inventory.ImportOptions{DryRun: in.DryRun, CreateOrgs: in.Create, DefaultTimeZone: tz, Now: s.cfg.Now()}}
			if !orgs.All() {
				o.InScope = orgs.Covers
			}
			// The file is received whole before the import's transaction
			// begins: a slow sender must not hold the database's writer.
			spool, err := spoolUpload(in.File.Body)
			if err != nil {
				return ImportReport{}, err
			}
			defer spool.Close()
			src, err := estate.Read(o, spool)
			if err != nil {
				return ImportReport{}, importOptionError(err)
			}
			c.Audit(name, soleOrg(orgs))
			rep, err := estate.Import(ctx, s.cfg.Inventory, src, o)
			if err != nil {
				return ImportReport{}, err
			}
			out := ImportReport{Name: rep.Name, DryRun: in.DryRun, New: rep.New, Updated: rep.Updated, Unchanged: rep.Unchanged,
				CreatedOrgs: nonNil(rep.CreatedOrgs), Ignored: nonNil(rep.Ignored), Notes: nonNil(rep.Notes), Changes: []ImportChange{}, More: rep.More}
			for _, ch := range rep.Changes {
				out.Changes = append(out.Changes, ImportChange{Kind: string(ch.Kind), Hostname: ch.Hostname})
			}
			c.Record(nil, out)
			return out, nil
		})
}

// importOptionError names the query parameter an import's option error
// is about.
func importOptionError(err error) error {
	var oe *estate.OptionError
	var tz *estate.TimeZoneError
	switch {
	case errors.As(err, &oe):
		return &BadRequestError{Where: "query parameter " + strings.ReplaceAll(oe.Option, "-", "_"), Err: oe.Err}
	case errors.As(err, &tz):
		return &BadRequestError{Where: "query parameter org_timezone", Err: tz.Err}
	}
	return err
}

// soleOrg is the one organisation a scope covers, else "".
func soleOrg(orgs access.Orgs) string {
	if list := orgs.List(); !orgs.All() && len(list) == 1 {
		return list[0]
	}
	return ""
}

// spoolUpload copies an upload to a temporary file, removed when closed,
// and returns it read from its start.
func spoolUpload(body io.Reader) (*spooled, error) {
	f, err := os.CreateTemp("", "ringmaster-upload-*")
	if err != nil {
		return nil, fmt.Errorf("receive the file: %w", err)
	}
	sp := &spooled{f}
	if _, err := io.Copy(f, body); err != nil {
		sp.Close()
		var tl *TooLargeError
		if errors.As(err, &tl) {
			return nil, err
		}
		return nil, &BadRequestError{Where: "body", Err: fmt.Errorf("receiving it: %w", err)}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		sp.Close()
		return nil, fmt.Errorf("receive the file: %w", err)
	}
	return sp, nil
}

// spooled is a received upload on disk, removed when closed.
type spooled struct{ *os.File }

// Close closes and removes the file.
func (s *spooled) Close() error {
	err := s.File.Close()
	if rerr := os.Remove(s.Name()); err == nil {
		err = rerr
	}
	return err
}
