// Package inventory owns the estate Ringmaster manages: organisations, the
// devices that belong to them, what was observed about each device (facts,
// each with the time it was observed), selectors that pick devices out of the
// estate, and the rules for importing devices in bulk.
//
// The package is pure domain: it imports only the standard library and knows
// nothing of SQL, files, HTTP or WinRM. Storage (inventory/sqlite) and file
// formats (inventory/format) depend on it, never the reverse.
package inventory
