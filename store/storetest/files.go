package storetest

import (
	"embed"
	"time"
)

// testdata holds import files, bad (each rejected with the error in its
// .golden file) and good (each exported as in its .golden file), written
// at fileNow.
//
//go:embed testdata
var testdata embed.FS

// fileNow is when the golden files were written: the import time they
// record.
var fileNow = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
