package keystore_test

import (
	"path/filepath"
	"testing"

	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/custodytest"
)

// TestCustodyContract runs the contract of every keystore.Custody
// (package custodytest) on a production and on a test sealed store.
func TestCustodyContract(t *testing.T) {
	t.Run("production", func(t *testing.T) {
		custodytest.Run(t, sealedBackend(
			func(t *testing.T) string { dir, _ := newStore(t); return dir },
			func(t *testing.T, dir string) (*keystore.Sealed, error) {
				s, err := keystore.Unlock(dir, officers())
				if err == nil {
					recordKeys(t, dir, s, officers())
				}
				return s, err
			}))
	})
	t.Run("test", func(t *testing.T) {
		custodytest.Run(t, sealedBackend(
			func(t *testing.T) string {
				dir := filepath.Join(t.TempDir(), "ks")
				must(t, keystore.InitTest(dir))
				return dir
			},
			func(_ *testing.T, dir string) (*keystore.Sealed, error) { return keystore.UnlockTest(dir) }))
	})
}

// sealedBackend is the contract's backend over stores made by mk and
// unlocked by unlock.
func sealedBackend(mk func(*testing.T) string, unlock func(*testing.T, string) (*keystore.Sealed, error)) custodytest.Backend {
	dirs := map[keystore.Custody]string{}
	open := func(t *testing.T, dir string) keystore.Custody {
		s, err := unlock(t, dir)
		must(t, err)
		t.Cleanup(s.Lock)
		dirs[s] = dir
		return s
	}
	return custodytest.Backend{
		New: func(t *testing.T) keystore.Custody { return open(t, mk(t)) },
		Reopen: func(t *testing.T, c keystore.Custody) keystore.Custody {
			c.Lock()
			return open(t, dirs[c])
		},
		Secret:       seen.Secret,
		Output:       seen.Output,
		SealOverhead: keystore.SealOverhead,
	}
}
