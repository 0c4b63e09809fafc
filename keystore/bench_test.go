package keystore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/custodytest"
)

// BenchmarkCustody: sealing and opening one vending key for the
// database, and one shared secret with a custody key (read the key file,
// open the scalar, build the key with its public point, ECDH).
func BenchmarkCustody(b *testing.B) {
	_, s := newStore(b)
	custodytest.Bench(b, s)
}

// BenchmarkUnlockProductionKDF measures one unlock of a two-officer store
// made with DefaultKDF (two Argon2id derivations, t=3 m=64 MiB p=4): run it
// with -benchtime=1x for a single measurement. It reports the time per
// officer as well.
func BenchmarkUnlockProductionKDF(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "ks")
	if err := keystore.Init(dir, officers(), keystore.WithKDF(keystore.DefaultKDF())); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	n := 0
	for b.Loop() {
		s, err := keystore.Unlock(dir, officers())
		if err != nil {
			b.Fatal(err)
		}
		s.Lock()
		n++
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(2*n), "ms/officer")
}
