// Package format reads and writes inventory files: CSV (with the header
// aliases that Configuration Manager, Active Directory and spreadsheet
// exports use) and JSON or NDJSON. Readers stream records one at a time so
// memory stays bounded whatever the file size (a record over
// MaxRecordBytes is refused before it is held whole), and every problem is
// reported with the file, line and column (or JSON field) it came from.
// Headers for one field come in tiers of preference (fieldAliases):
// Configuration Manager's Name0 is used over Netbios_Name0, with a note.
// DefaultOrg fills the organisation of records without one and Dates
// reads dates in an export's own order (28/11/2026 09:14).
// Text that is not UTF-8 is refused in every format, never replaced.
// CSV cells that a spreadsheet would run as formulas are written
// neutralised and read back unchanged (RawCSV turns that off).
package format
