package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestImportRealExports walks importing real exports from the CLI: a
// Configuration Manager file without an organisation column and with UK
// dates is refused with what to give, then imported with --org and
// --date-format, its two hostname columns resolved with a note; bad
// option values are usage errors.
func TestImportRealExports(t *testing.T) {
	s := newScript(t)
	for _, f := range []string{"configmgr.csv", "defender.csv"} {
		b, err := os.ReadFile(filepath.Join(wd, "..", "..", "estate", "testdata", "exports", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.run("inventory", "import", "configmgr.csv", "--create-orgs")
	s.run("inventory", "import", "configmgr.csv", "--create-orgs", "--org", "RXX")
	s.run("inventory", "import", "configmgr.csv", "--create-orgs", "--org", "RXX", "--date-format", "dmy")
	s.run("inventory", "import", "defender.csv", "--create-orgs", "--org", "rzz", "--date-format", "Jan 2, 2006 3:04:05 PM")
	s.run("inventory", "list")
	s.run("inventory", "import", "configmgr.csv", "--org", "RXX", "--date-format", "dd/mm/yyyy")
	s.run("inventory", "import", "configmgr.csv", "--org", "not a code", "--date-format", "dmy")
	s.golden("exports")
}
