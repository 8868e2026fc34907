package main

import (
	"os"
	"testing"
)

// TestCSVFormulas checks every CSV the commands write for a spreadsheet
// formula in an organisation's name and a device's site and facts: -o csv
// neutralises them, --raw-csv keeps them, and both exports read back to
// the same inventory.
func TestCSVFormulas(t *testing.T) {
	s := newScript(t)
	evil := "hostname,org,site,manufacturer,model,disk_free_gb\n" +
		"pc1.rxx.nhs.uk,RXX,\"@SUM(1+1)*cmd|' /C calc'!A0\",\"+cmd|' /C calc'!A0\",-2+3+cmd|' /C calc'!A0,-0\n" +
		"pc2.rxx.nhs.uk,RXX,'=quoted already,'Tis,Latitude 5420,12.5\n"
	if err := os.WriteFile("evil.csv", []byte(evil), 0o644); err != nil {
		t.Fatal(err)
	}
	s.run("org", "add", "RXX", "--name", `=cmd|' /C calc'!A0`, "--timezone", "Europe/London")
	s.run("inventory", "import", "evil.csv", "--raw-csv")
	s.run("org", "list", "-o", "csv")
	s.run("org", "list", "-o", "csv", "--raw-csv")
	s.run("org", "list", "--raw-csv")
	s.run("inventory", "list", "-o", "csv")
	s.run("inventory", "export", "-o", "csv", "--out", "safe.csv")
	s.run("inventory", "export", "-o", "csv", "--raw-csv", "--out", "raw.csv")
	s.run("report", "scorecard", "-o", "csv")
	s.run("report", "progress", "-o", "csv", "--raw-csv")
	s.golden("csv")

	// Each export, read back its own way into an empty database, exports
	// the same raw file again.
	for _, tt := range []struct {
		db, file string
		args     []string
	}{
		{"safe.db", "safe.csv", nil},
		{"raw.db", "raw.csv", []string{"--raw-csv"}},
	} {
		s.env["RINGMASTER_DB"] = tt.db
		s.run("org", "add", "RXX", "--name", "x", "--timezone", "UTC")
		if code := s.run(append([]string{"inventory", "import", tt.file}, tt.args...)...); code != 0 {
			t.Fatalf("import %s exited %d:\n%s", tt.file, code, s.out.String())
		}
		s.run("inventory", "export", "-o", "csv", "--raw-csv", "--out", "again.csv")
		want, _ := os.ReadFile("raw.csv")
		got, _ := os.ReadFile("again.csv")
		if string(got) != string(want) {
			t.Errorf("%s read back and exported raw:\n%s\nwant\n%s", tt.file, got, want)
		}
	}
}
