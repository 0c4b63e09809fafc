package e2e_test

import (
	"testing"
	"time"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store/storetest"
	"github.com/stskms/stskms/sts"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// t0 is the test clock's start.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// The module's callers in the tests.
var (
	officer  = sm.Officer.As("alice")
	operator = sm.Operator.As("pos-1")
)

// pan returns a valid PAN for a meter.
func pan(t testing.TB) sts.PAN {
	t.Helper()
	const drn = "0000000001"
	d, err := sts.LuhnDigit(drn)
	if err != nil {
		t.Fatal(err)
	}
	p, err := sts.NewPAN("600727", drn+string(d))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
