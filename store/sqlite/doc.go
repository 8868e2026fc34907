// Package sqlite is the embedded store of the inventory: organisations and
// devices in one SQLite database file (modernc.org/sqlite, pure Go), in WAL
// mode with foreign keys on. Its schema is versioned by migrations embedded
// in the binary and applied on Open; a database newer than the binary is
// refused. It is the one place that maps database errors to the domain's
// errors (errkind.NotFound, ErrExists, ErrInUse).
//
// The SQL is kept standard so the same statements can serve PostgreSQL
// later; SQLite-specific pragmas and the bulk-load path are confined here.
package sqlite
