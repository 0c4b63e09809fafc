package stsvec

import (
	"os"
	"testing"

	"github.com/stskms/stskms/internal/strictjson"
	"github.com/stskms/stskms/sts/sta"
)

// EnvTables names the environment variable that points the tests at the
// STS Association's production STA tables, which the project does not
// ship: the EA07 vectors of the public files run only with them.
const EnvTables = "STSKMS_STA_TABLES"

// Load reads a vector file, strictly (unknown members refused), failing tb
// on any error.
func Load(tb testing.TB, path string) []Vector {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var vs []Vector
	if err := strictjson.Unmarshal(data, &vs); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return vs
}

// Tables loads the STA tables at path (sta.LoadTables), failing tb on any
// error.
func Tables(tb testing.TB, path string) *sta.Tables {
	tb.Helper()
	tables, err := sta.LoadTables(path)
	if err != nil {
		tb.Fatal(err)
	}
	return tables
}

// ProductionTables returns the tables EnvTables names, or nil when it is
// not set.
func ProductionTables(tb testing.TB) *sta.Tables {
	tb.Helper()
	path := os.Getenv(EnvTables)
	if path == "" {
		return nil
	}
	return Tables(tb, path)
}
