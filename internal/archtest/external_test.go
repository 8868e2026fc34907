package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden lists, per package of this module, imports from outside it
// that the layout keeps out: the domain knows no database driver, queue,
// HTTP or CLI framework; the scheduler no database driver but River's and
// pgx's pool and transaction, which River's PostgreSQL driver takes (its
// store is an interface); an application package no CLI framework.
var forbidden = []struct {
	pkg  string
	deny []string // import paths or prefixes ending in "/"
}{
	{"orchestrator", []string{"modernc.org/", "github.com/riverqueue/", "github.com/jackc/", "github.com/spf13/", "net/http"}},
	{"orchestrator/scheduler", []string{"modernc.org/", "github.com/jackc/pgx/v5/stdlib", "github.com/jackc/pgx/v5/pgconn", "github.com/spf13/", "net/http"}},
	{"campaigns", []string{"modernc.org/", "github.com/riverqueue/", "github.com/jackc/", "github.com/spf13/", "net/http"}},
	// A node assembles; the scheduler owns River, store/sqlite the driver.
	{"node", []string{"modernc.org/", "github.com/riverqueue/", "github.com/jackc/", "github.com/spf13/", "net/http", "database/sql"}},
}

func TestForbiddenExternalImports(t *testing.T) {
	touchSources(t)
	for _, f := range forbidden {
		out, err := exec.Command("go", "list", "-f", `{{range .Imports}}{{.}} {{end}}`, module+"/"+f.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", f.pkg, err, out)
		}
		for _, imp := range strings.Fields(string(out)) {
			for _, d := range f.deny {
				if imp == d || (strings.HasSuffix(d, "/") && strings.HasPrefix(imp, d)) {
					t.Errorf("%s imports %s, which the layout forbids", f.pkg, imp)
				}
			}
		}
	}
}
