// Package format reads and writes inventory files: CSV (with the header
// aliases that Configuration Manager, Active Directory and spreadsheet
// exports use) and JSON or NDJSON. Readers stream records one at a time so
// memory stays bounded whatever the file size, and every problem is reported
// with the file, line and column (or JSON field) it came from.
package format
