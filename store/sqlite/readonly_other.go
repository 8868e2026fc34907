//go:build !linux

package sqlite

// readOnlyFS reports false where statfs flags are not available: a
// read-only filesystem then fails to open as SQLite reports.
func readOnlyFS(string) bool { return false }
