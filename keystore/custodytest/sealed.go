package custodytest

import (
	"testing"

	"github.com/stskms/stskms/keystore"
)

// Sealed makes a new sealed test store in dir (keystore.InitTest) and
// returns it unlocked; it is locked at cleanup.
func Sealed(tb testing.TB, dir string) *keystore.Sealed {
	tb.Helper()
	if err := keystore.InitTest(dir); err != nil {
		tb.Fatal(err)
	}
	s, err := keystore.UnlockTest(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Lock)
	return s
}
