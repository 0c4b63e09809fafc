package smmail

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/gobin"
)

// TestClientDependencies: the mail client links nothing of the gateway's
// server side (SQLite, PostgreSQL, Prometheus, the gateway and its store),
// and the reply vocabulary it shares with the gateway, package gwresult,
// only the standard library.
func TestClientDependencies(t *testing.T) {
	for dep := range deps(t, "github.com/stskms/stskms/smmail") {
		for _, banned := range []string{"modernc.org/sqlite", "github.com/jackc/pgx", "github.com/prometheus/",
			"github.com/stskms/stskms/gateway", "github.com/stskms/stskms/store"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("smmail depends on %s", dep)
			}
		}
	}
	for dep, std := range deps(t, "github.com/stskms/stskms/gwresult") {
		if !std && dep != "github.com/stskms/stskms/gwresult" {
			t.Errorf("gwresult depends on %s, not of the standard library", dep)
		}
	}
}

// deps returns the import paths `go list -deps` lists for pkg (pkg
// itself included), each with whether it is of the standard library.
func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	goBin := gobin.Path(t)
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	m := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, std, _ := strings.Cut(line, " ")
		m[path] = std == "true"
	}
	if _, ok := m[pkg]; !ok || len(m) < 2 {
		t.Fatalf("go list -deps %s: %q", pkg, out)
	}
	return m
}
