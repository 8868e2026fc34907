package main

import "github.com/ringmaster-fleet/ringmaster/internal/inputfile"

// fileLimit is the size limit on the files operators hand to Ringmaster
// (--max-file-size, else inputfile.DefaultMax), named in the error of a
// file over it.
func (a *app) fileLimit() inputfile.Limit {
	return inputfile.Limit{Max: a.maxFileSize, Raise: "--max-file-size"}
}
