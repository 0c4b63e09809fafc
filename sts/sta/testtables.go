package sta

import (
	_ "embed"
	"sync"
)

//go:embed testdata/sta-test-tables.json
var testTableFile []byte

// TestTables returns the project's test table set: seeded random
// permutations that exercise every code path of the algorithm. They are NOT
// the STS Association's production tables; tokens made with them work on no
// real meter. Self-tests, demos and benchmarks use them when the operator has
// given no table file.
var TestTables = sync.OnceValue(func() *Tables {
	t, err := ParseTables(testTableFile)
	if err != nil {
		panic("sta: embedded test tables: " + err.Error())
	}
	return t
})
