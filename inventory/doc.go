// Package inventory owns the estate Ringmaster manages: organisations, the
// devices that belong to them, what was observed about each device (facts,
// each with the time it was observed), selectors that pick devices out of the
// estate, and the rules for importing devices in bulk.
//
// Free text (organisation names, sites, observed captions and hardware
// names) is one line of printable UTF-8 within a documented length
// (CheckText and the Max* limits), so that no stored value can break a
// table, drive a terminal or swell a report; errors repeat at most a short
// excerpt of a value (QuoteValue).
//
// The package is pure domain: it imports only the standard library and
// errkind, and knows nothing of SQL, files, HTTP or WinRM. It declares the
// store contract every engine implements (Store); storage (store/sqlite)
// and file formats (inventory/format) depend on it, never the reverse.
package inventory
