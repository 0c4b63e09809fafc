package keystore_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/custodytest"
)

// TestMain runs every test with cheap Argon2id parameters, then checks
// that no error message or formatted value the tests saw holds a secret
// they used (passphrases, storage keys, working keys, private scalars).
func TestMain(m *testing.M) {
	keystore.UseCheapKDFForTests()
	code := m.Run()
	if code == 0 {
		if leaks := seen.Leaks(); len(leaks) > 0 {
			for _, l := range leaks {
				fmt.Fprintln(os.Stderr, "FAIL: secret in output:", l)
			}
			code = 1
		}
	}
	os.Exit(code)
}

// seen records the outputs (error messages, formatted values) and secrets
// of every test, for the check in TestMain.
var seen custodytest.Recorder

// officers returns fresh credentials of the two officers of a test store
// (fresh, because callers may clear them).
func officers() []keystore.Component {
	return []keystore.Component{
		{Officer: "alice", Passphrase: []byte("correct horse battery staple")},
		{Officer: "bob", Passphrase: []byte("Tr0ub4dor&3 tuna mirror")},
	}
}

func init() {
	for _, c := range officers() {
		seen.Secret(c.Passphrase)
	}
}

// expectErr fails t unless errors.Is(err, target), and records the message.
func expectErr(t testing.TB, err, target error) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", target)
	}
	seen.Output(err.Error())
	if !errors.Is(err, target) {
		t.Fatalf("error %q, want %v", err, target)
	}
}

// must fails t on err.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		seen.Output(err.Error())
		t.Fatal(err)
	}
}

// newStore makes a production store with officers() in a new directory,
// unlocks it and records its secrets. The store is locked at cleanup.
func newStore(t testing.TB) (string, *keystore.Sealed) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ks")
	must(t, keystore.Init(dir, officers()))
	s, err := keystore.Unlock(dir, officers())
	must(t, err)
	t.Cleanup(s.Lock)
	recordKeys(t, dir, s, officers())
	return dir, s
}

// recordKeys records the storage key and working keys of s.
func recordKeys(t testing.TB, dir string, s *keystore.Sealed, creds []keystore.Component) {
	t.Helper()
	sk, err := keystore.StorageKeyForTest(dir, creds)
	must(t, err)
	seen.Secret(sk)
	seen.Secret(s.WorkingKeysForTest())
}

// recordScalar records the private scalar of key name.
func recordScalar(t testing.TB, s *keystore.Sealed, name string) {
	t.Helper()
	d, err := s.ScalarForTest(name)
	must(t, err)
	seen.Secret(d)
}

// readFile and writeFile edit store files in tests.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return b
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	must(t, os.WriteFile(path, data, 0o600))
}
