package keystore_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/keystore"
)

// unlockErrors are the only errors Unlock and UnlockTest may return for a
// damaged keystore.json.
var unlockErrors = []error{
	keystore.ErrCorrupt, keystore.ErrVersion, keystore.ErrBadPassphrase, keystore.ErrQuorum,
	keystore.ErrUnknownOfficer, keystore.ErrNotTestStore, keystore.ErrNoStore,
}

func isOneOf(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// FuzzUnlockMetadata: whatever keystore.json holds, Unlock and UnlockTest
// never panic, return only typed errors, and never echo a passphrase.
func FuzzUnlockMetadata(f *testing.F) {
	// Fuzzed KDF parameters must stay cheap.
	f.Cleanup(keystore.LimitKDFForTests(keystore.KDFParams{Time: 2, MemoryKiB: 512, Threads: 2}))

	prod := filepath.Join(f.TempDir(), "prod")
	if err := keystore.Init(prod, officers()); err != nil {
		f.Fatal(err)
	}
	test := filepath.Join(f.TempDir(), "test")
	if err := keystore.InitTest(test); err != nil {
		f.Fatal(err)
	}
	for _, dir := range []string{prod, test} {
		valid, err := os.ReadFile(filepath.Join(dir, keystore.MetaFileName))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(valid)
		f.Add(valid[:len(valid)/2])
		f.Add(bytes.Replace(valid, []byte(`"version": 1`), []byte(`"version": 2`), 1))
		f.Add(bytes.Replace(valid, []byte(`"threads": 1`), []byte(`"threads": 300`), 1))
	}
	f.Add([]byte(""))
	f.Add([]byte("{}"))
	f.Add([]byte(`{"format":"stskms-keystore","version":1}`))
	f.Add([]byte(`{"format":"stskms-keystore","version":1,"components":null}`))
	f.Add([]byte(`[1,2,3]`))
	testFile, err := os.ReadFile(filepath.Join(test, keystore.TestFileName))
	if err != nil {
		f.Fatal(err)
	}

	// One directory for all inputs: a fuzz worker runs them one at a time.
	dir := filepath.Join(f.TempDir(), "fuzz")
	if err := os.Mkdir(dir, 0o700); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, keystore.TestFileName), testFile, 0o600); err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, keystore.MetaFileName), data, 0o600); err != nil {
			t.Fatal(err)
		}
		check := func(s *keystore.Sealed, err error) {
			if err == nil {
				s.Lock()
				return
			}
			if !isOneOf(err, unlockErrors) {
				t.Fatalf("untyped error %q", err)
			}
			for _, c := range officers() {
				if strings.Contains(err.Error(), string(c.Passphrase)) {
					t.Fatalf("error %q holds a passphrase", err)
				}
			}
		}
		check(keystore.Unlock(dir, officers()))
		check(keystore.UnlockTest(dir))
	})
}

// FuzzKeyFile: whatever a key file holds, an unlocked store answers
// PublicKey and ECDH with ErrCorrupt or ErrVersion (or the key) and never
// panics.
func FuzzKeyFile(f *testing.F) {
	dir, s := newStore(f)
	pub, err := s.GenerateECDH(ctx, "k")
	if err != nil {
		f.Fatal(err)
	}
	valid, err := os.ReadFile(filepath.Join(dir, "k"+keystore.KeyFileExt))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(bytes.Replace(valid, []byte(`"version": 1`), []byte(`"version": 7`), 1))
	f.Add([]byte(`{"format":"stskms-keystore-key","version":1,"name":"x"}`))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, "x"+keystore.KeyFileExt), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PublicKey(ctx, "x"); err != nil && !isOneOf(err, []error{keystore.ErrCorrupt, keystore.ErrVersion}) {
			t.Fatalf("PublicKey: untyped error %q", err)
		}
		if _, err := s.ECDH(ctx, "x", pub); err != nil && !isOneOf(err, []error{keystore.ErrCorrupt, keystore.ErrVersion}) {
			t.Fatalf("ECDH: untyped error %q", err)
		}
	})
}
