package sqlite

import (
	"path/filepath"
	"syscall"
)

// readOnlyFS reports whether the file at path lies on a filesystem mounted
// read-only (statfs's ST_RDONLY).
func readOnlyFS(path string) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		return false
	}
	const stRdonly = 0x1 // ST_RDONLY, statvfs(3)
	return st.Flags&stRdonly != 0
}
