package keystore_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stskms/stskms/keystore"
)

var ctx = context.Background()

func TestInitUnlockRoundTrip(t *testing.T) {
	dir, s := newStore(t)
	if s.TestMode() {
		t.Fatal("production store in test mode")
	}
	pub, err := s.GenerateECDH(ctx, "kmc")
	must(t, err)
	recordScalar(t, s, "kmc")
	s.Lock()

	// The officers may come in any order.
	creds := officers()
	slices.Reverse(creds)
	s2, err := keystore.Unlock(dir, creds)
	must(t, err)
	defer s2.Lock()
	pub2, err := s2.PublicKey(ctx, "kmc")
	must(t, err)
	if !pub.Equal(pub2) {
		t.Fatal("public key changed across unlock")
	}
	peer, _ := ecdh.P384().GenerateKey(rand.Reader)
	z, err := s2.ECDH(ctx, "kmc", peer.PublicKey())
	must(t, err)
	want, _ := peer.ECDH(pub)
	if !bytes.Equal(z, want) {
		t.Fatal("ECDH after unlock disagrees")
	}

	// Permissions and metadata.
	for name, perm := range map[string]fs.FileMode{"": 0o700, keystore.MetaFileName: 0o600, "kmc" + keystore.KeyFileExt: 0o600} {
		st, err := os.Stat(filepath.Join(dir, name))
		must(t, err)
		if st.Mode().Perm() != perm {
			t.Errorf("%q: mode %v, want %v", name, st.Mode().Perm(), perm)
		}
	}
	var m map[string]any
	must(t, json.Unmarshal(readFile(t, filepath.Join(dir, keystore.MetaFileName)), &m))
	if m["mode"] != "production" || m["version"] != 1.0 || len(m["components"].([]any)) != 2 || len(m["kcv"].(string)) != 6 {
		t.Errorf("metadata: %v", m)
	}
}

func TestInitRefuses(t *testing.T) {
	long := []byte("a long enough passphrase")
	tests := []struct {
		name     string
		officers []keystore.Component
		opts     []keystore.Option
		want     error
	}{
		{"no officer", nil, nil, keystore.ErrOfficers},
		{"one officer", officers()[:1], nil, keystore.ErrOfficers},
		{"same officer twice", []keystore.Component{{"alice", long}, {"Alice", long}}, nil, keystore.ErrOfficers},
		{"short passphrase", []keystore.Component{{"alice", long}, {"bob", []byte("short")}}, nil, keystore.ErrOfficers},
		{"officer name", []keystore.Component{{"alice", long}, {"../bob", long}}, nil, keystore.ErrOfficers},
		{"too many", slices.Repeat(officers(), 5), nil, keystore.ErrOfficers},
		{"kdf below floor", officers(), []keystore.Option{keystore.WithKDF(keystore.KDFParams{Time: 1, MemoryKiB: 4, Threads: 1})}, keystore.ErrKDFParams},
		{"kdf above limit", officers(), []keystore.Option{keystore.WithKDF(keystore.KDFParams{Time: 1, MemoryKiB: 8 << 20, Threads: 1})}, keystore.ErrKDFParams},
		{"kdf zero", officers(), []keystore.Option{keystore.WithKDF(keystore.KDFParams{})}, keystore.ErrKDFParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ks")
			expectErr(t, keystore.Init(dir, tt.officers, tt.opts...), tt.want)
			if _, err := os.Stat(filepath.Join(dir, keystore.MetaFileName)); err == nil {
				t.Fatal("store made anyway")
			}
		})
	}

	t.Run("production floor", func(t *testing.T) {
		// The real floor (lowered for these tests) refuses what tests use;
		// the default is above it.
		dir := filepath.Join(t.TempDir(), "ks")
		must(t, keystore.Init(dir, officers(), keystore.WithKDF(keystore.CheapKDF)))
	})

	t.Run("existing store", func(t *testing.T) {
		dir, _ := newStore(t)
		expectErr(t, keystore.Init(dir, officers()), keystore.ErrStoreExists)
		expectErr(t, keystore.InitTest(dir), keystore.ErrStoreExists)
	})
	t.Run("non-empty directory", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "notes.txt"), []byte("x"))
		expectErr(t, keystore.Init(dir, officers()), keystore.ErrStoreExists)
	})
	t.Run("empty existing directory", func(t *testing.T) {
		dir := t.TempDir()
		must(t, os.Chmod(dir, 0o755))
		must(t, keystore.Init(dir, officers()))
		st, err := os.Stat(dir)
		must(t, err)
		if st.Mode().Perm() != 0o700 {
			t.Fatalf("directory mode %v, want 0700", st.Mode().Perm())
		}
	})
	t.Run("officer name not echoed", func(t *testing.T) {
		secretish := "hunter2-passphrase-typed-as-name!"
		err := keystore.Init(t.TempDir(), []keystore.Component{{"alice", long}, {secretish, long}})
		expectErr(t, err, keystore.ErrOfficers)
		if strings.Contains(err.Error(), secretish) {
			t.Fatalf("error echoes an invalid officer name: %q", err)
		}
	})
}

func TestWrongPassphrase(t *testing.T) {
	dir, _ := newStore(t)
	wrong := []byte("not bob's passphrase at all")
	seen.Secret(wrong)
	creds := officers()
	creds[1].Passphrase = wrong
	_, err := keystore.Unlock(dir, creds)
	expectErr(t, err, keystore.ErrBadPassphrase)
	var oe *keystore.OfficerError
	if !errors.As(err, &oe) || oe.Officer != "bob" {
		t.Fatalf("error %q does not name bob", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, `"bob"`) || strings.Contains(msg, "alice") {
		t.Fatalf("message %q should name bob only", msg)
	}

	// Both wrong: both named.
	creds[0].Passphrase = []byte("wrong too, and long enough")
	_, err = keystore.Unlock(dir, creds)
	expectErr(t, err, keystore.ErrBadPassphrase)
	if msg := err.Error(); !strings.Contains(msg, `"alice"`) || !strings.Contains(msg, `"bob"`) {
		t.Fatalf("message %q should name both officers", msg)
	}

	// An empty passphrase is just wrong.
	creds = officers()
	creds[0].Passphrase = nil
	_, err = keystore.Unlock(dir, creds)
	expectErr(t, err, keystore.ErrBadPassphrase)
}

func TestQuorum(t *testing.T) {
	dir, _ := newStore(t)
	_, err := keystore.Unlock(dir, officers()[:1])
	expectErr(t, err, keystore.ErrQuorum)
	var qe *keystore.QuorumError
	if !errors.As(err, &qe) || !slices.Equal(qe.Missing, []string{"bob"}) || qe.Have != 1 || qe.Need != 2 {
		t.Fatalf("quorum error %#v", err)
	}
	if !strings.Contains(err.Error(), `"bob"`) {
		t.Fatalf("message %q does not name bob", err)
	}

	_, err = keystore.Unlock(dir, nil)
	expectErr(t, err, keystore.ErrQuorum)
	if errors.As(err, &qe); !slices.Equal(qe.Missing, []string{"alice", "bob"}) {
		t.Fatalf("missing %v", qe.Missing)
	}

	creds := append(officers(), keystore.Component{Officer: "mallory", Passphrase: []byte("whatever it may be")})
	_, err = keystore.Unlock(dir, creds)
	expectErr(t, err, keystore.ErrUnknownOfficer)
	var oe *keystore.OfficerError
	if !errors.As(err, &oe) || oe.Officer != "mallory" {
		t.Fatalf("error %q does not name mallory", err)
	}

	_, err = keystore.Unlock(dir, append(officers(), officers()[0]))
	expectErr(t, err, keystore.ErrOfficers)

	_, err = keystore.Unlock(t.TempDir(), officers())
	expectErr(t, err, keystore.ErrNoStore)
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"a", "kmc", "KMC-1", "sm_0001.ecdh", "9", strings.Repeat("x", keystore.MaxNameLen)} {
		if err := keystore.CheckName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	_, s := newStore(t)
	for _, bad := range []string{"", ".", "..", ".hidden", "-x", "_x", "a/b", "../x", `a\b`, "a b", "ä", "a\x00", "a:b", strings.Repeat("x", keystore.MaxNameLen+1)} {
		expectErr(t, keystore.CheckName(bad), keystore.ErrName)
		_, err := s.GenerateECDH(ctx, bad)
		expectErr(t, err, keystore.ErrName)
		_, err = s.PublicKey(ctx, bad)
		expectErr(t, err, keystore.ErrName)
		expectErr(t, s.Delete(ctx, bad), keystore.ErrName)
	}
}

func TestKeyFilesCannotBeSwapped(t *testing.T) {
	dir, s := newStore(t)
	for _, n := range []string{"a", "b"} {
		_, err := s.GenerateECDH(ctx, n)
		must(t, err)
		recordScalar(t, s, n)
	}
	path := func(n string) string { return filepath.Join(dir, n+keystore.KeyFileExt) }
	origB := readFile(t, path("b"))
	restore := func() { writeFile(t, path("b"), origB) }

	// a.key copied over b.key: its name field says a.
	writeFile(t, path("b"), readFile(t, path("a")))
	_, err := s.ECDH(ctx, "b", mustPub(t, s, "a"))
	expectErr(t, err, keystore.ErrCorrupt)
	restore()

	// ... and with its name field edited too: the sealed scalar does not
	// open under the name b.
	writeFile(t, path("b"), bytes.Replace(readFile(t, path("a")), []byte(`"name": "a"`), []byte(`"name": "b"`), 1))
	_, err = s.ECDH(ctx, "b", mustPub(t, s, "a"))
	expectErr(t, err, keystore.ErrCorrupt)
	_, err = s.PublicKey(ctx, "b")
	expectErr(t, err, keystore.ErrCorrupt)

	// A locked store with such a file does not unlock.
	s.Lock()
	_, err = keystore.Unlock(dir, officers())
	expectErr(t, err, keystore.ErrCorrupt)
	restore()

	// Renamed: c.key holding a's key, name field edited.
	writeFile(t, path("c"), bytes.Replace(readFile(t, path("a")), []byte(`"name": "a"`), []byte(`"name": "c"`), 1))
	_, err = keystore.Unlock(dir, officers())
	expectErr(t, err, keystore.ErrCorrupt)
	must(t, os.Remove(path("c")))

	// Another public key put in the file.
	other, _ := ecdh.P384().GenerateKey(rand.Reader)
	var kf map[string]any
	must(t, json.Unmarshal(origB, &kf))
	kf["public"] = fmt.Sprintf("%x", other.PublicKey().Bytes())
	edited, _ := json.Marshal(kf)
	writeFile(t, path("b"), edited)
	_, err = keystore.Unlock(dir, officers())
	expectErr(t, err, keystore.ErrCorrupt)
	restore()

	// Taken from another store.
	dir2, s2 := newStore(t)
	_, err = s2.GenerateECDH(ctx, "a")
	must(t, err)
	recordScalar(t, s2, "a")
	writeFile(t, path("a"), readFile(t, filepath.Join(dir2, "a"+keystore.KeyFileExt)))
	_, err = keystore.Unlock(dir, officers())
	expectErr(t, err, keystore.ErrCorrupt)
}

func mustPub(t *testing.T, s *keystore.Sealed, name string) *ecdh.PublicKey {
	t.Helper()
	p, err := s.PublicKey(ctx, name)
	must(t, err)
	return p
}

// TestLockZeroes: Lock clears the working keys (that Lock then refuses
// everything is in the custody contract).
func TestLockZeroes(t *testing.T) {
	_, s := newStore(t)
	_, err := s.GenerateECDH(ctx, "k")
	must(t, err)
	keys := s.WorkingKeysForTest()
	if len(keys) != 64 || bytes.Equal(keys, make([]byte, 64)) {
		t.Fatalf("working keys %d bytes, all zero before Lock", len(keys))
	}
	s.Lock()
	if !bytes.Equal(keys, make([]byte, 64)) {
		t.Fatal("Lock left the working keys in memory")
	}
	if s.WorkingKeysForTest() != nil {
		t.Fatal("Lock kept the key buffer")
	}
}

// TestDeleteRemovesFile: Delete removes the key file (the rest of Delete
// is in the custody contract).
func TestDeleteRemovesFile(t *testing.T) {
	dir, s := newStore(t)
	_, err := s.GenerateECDH(ctx, "old")
	must(t, err)
	must(t, s.Delete(ctx, "old"))
	if _, err := os.Stat(filepath.Join(dir, "old"+keystore.KeyFileExt)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("key file still there")
	}
}

func TestTestMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ks")
	must(t, keystore.InitTest(dir))
	unlockFile := readFile(t, filepath.Join(dir, keystore.TestFileName))
	if !strings.Contains(keystore.TestFileName, "TEST-ONLY") || !bytes.Contains(unlockFile, []byte("TEST ONLY")) {
		t.Fatal("the unlock file does not say TEST ONLY")
	}
	var m map[string]any
	must(t, json.Unmarshal(readFile(t, filepath.Join(dir, keystore.MetaFileName)), &m))
	if m["mode"] != "test" {
		t.Fatalf("metadata mode %v", m["mode"])
	}

	s, err := keystore.UnlockTest(dir)
	must(t, err)
	if !s.TestMode() {
		t.Fatal("test store not in test mode")
	}
	if f := fmt.Sprint(s); !strings.Contains(f, "TEST") {
		t.Fatalf("a test store formats as %q", f)
	}
	_, err = s.GenerateECDH(ctx, "demo")
	must(t, err)
	s.Lock()

	// The passphrases in the file work through Unlock too: still test mode.
	var tf struct {
		Officers []struct{ Officer, Passphrase string }
	}
	must(t, json.Unmarshal(unlockFile, &tf))
	var creds []keystore.Component
	for _, o := range tf.Officers {
		creds = append(creds, keystore.Component{Officer: o.Officer, Passphrase: []byte(o.Passphrase)})
	}
	s, err = keystore.Unlock(dir, creds)
	must(t, err)
	if !s.TestMode() {
		t.Fatal("test store unlocked with passphrases not in test mode")
	}
	s.Lock()

	// Mode flipped to production in the metadata: the MAC catches it.
	meta := filepath.Join(dir, keystore.MetaFileName)
	orig := readFile(t, meta)
	writeFile(t, meta, bytes.Replace(orig, []byte(`"mode": "test"`), []byte(`"mode": "production"`), 1))
	_, err = keystore.Unlock(dir, creds)
	expectErr(t, err, keystore.ErrCorrupt)
	_, err = keystore.UnlockTest(dir)
	expectErr(t, err, keystore.ErrNotTestStore)
	writeFile(t, meta, orig)

	// Without its unlock file a test store does not UnlockTest.
	must(t, os.Remove(filepath.Join(dir, keystore.TestFileName)))
	_, err = keystore.UnlockTest(dir)
	expectErr(t, err, keystore.ErrNotTestStore)
}

func TestProductionStoreRefusesUnlockTest(t *testing.T) {
	dir, _ := newStore(t)
	_, err := keystore.UnlockTest(dir)
	expectErr(t, err, keystore.ErrNotTestStore)

	// Even with a planted unlock file and the mode flipped to test: the
	// planted passphrases do not open the components.
	tdir := filepath.Join(t.TempDir(), "ks")
	must(t, keystore.InitTest(tdir))
	var tf map[string]any
	must(t, json.Unmarshal(readFile(t, filepath.Join(tdir, keystore.TestFileName)), &tf))
	var pm map[string]any
	meta := filepath.Join(dir, keystore.MetaFileName)
	must(t, json.Unmarshal(readFile(t, meta), &pm))
	tf["store_id"] = pm["store_id"]
	planted, _ := json.Marshal(tf)
	writeFile(t, filepath.Join(dir, keystore.TestFileName), planted)
	writeFile(t, meta, bytes.Replace(readFile(t, meta), []byte(`"mode": "production"`), []byte(`"mode": "test"`), 1))
	_, err = keystore.UnlockTest(dir)
	expectErr(t, err, keystore.ErrUnknownOfficer)
}

func TestCrashLeavesOldState(t *testing.T) {
	t.Run("GenerateECDH", func(t *testing.T) {
		dir, s := newStore(t)
		pubA, err := s.GenerateECDH(ctx, "a")
		must(t, err)
		s.CrashWritesForTest(true)
		_, err = s.GenerateECDH(ctx, "b")
		expectErr(t, err, keystore.ErrSimulatedCrash)
		temps, _ := filepath.Glob(filepath.Join(dir, keystore.TempPrefix+"*"))
		if len(temps) != 1 {
			t.Fatalf("want the crash's temporary file, found %v", temps)
		}
		s.Lock() // the process "restarts"

		s, err = keystore.Unlock(dir, officers())
		must(t, err)
		defer s.Lock()
		if temps, _ := filepath.Glob(filepath.Join(dir, keystore.TempPrefix+"*")); len(temps) != 0 {
			t.Fatalf("Unlock left %v", temps)
		}
		if p := mustPub(t, s, "a"); !p.Equal(pubA) {
			t.Fatal("key a changed")
		}
		_, err = s.PublicKey(ctx, "b")
		expectErr(t, err, keystore.ErrNotFound)
		_, err = s.GenerateECDH(ctx, "b")
		must(t, err)
	})

	t.Run("replace", func(t *testing.T) {
		dir := t.TempDir()
		must(t, keystore.WriteFileAtomicForTest(dir, "f", []byte("old state"), false))
		err := keystore.WriteFileAtomicForTest(dir, "f", []byte("new state"), true)
		expectErr(t, err, keystore.ErrSimulatedCrash)
		if got := readFile(t, filepath.Join(dir, "f")); string(got) != "old state" {
			t.Fatalf("after the crash: %q", got)
		}
		must(t, keystore.RemoveTempsForTest(dir))
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Fatalf("left %d entries", len(entries))
		}
		must(t, keystore.WriteFileAtomicForTest(dir, "f", []byte("new state"), false))
		if got := readFile(t, filepath.Join(dir, "f")); string(got) != "new state" {
			t.Fatalf("after the write: %q", got)
		}
	})

	t.Run("Init", func(t *testing.T) {
		for _, final := range []string{keystore.MetaFileName, keystore.TestFileName} {
			restore := keystore.CrashInitForTest(final)
			dir := filepath.Join(t.TempDir(), "ks")
			expectErr(t, keystore.InitTest(dir), keystore.ErrSimulatedCrash)
			restore()
			_, err := keystore.UnlockTest(dir)
			expectErr(t, err, keystore.ErrNoStore)
			expectErr(t, keystore.InitTest(dir), keystore.ErrStoreExists)
		}
	})
}

func TestMetadataAltered(t *testing.T) {
	dir, _ := newStore(t)
	meta := filepath.Join(dir, keystore.MetaFileName)
	orig := readFile(t, meta)
	var m map[string]any
	must(t, json.Unmarshal(orig, &m))
	comp0 := func(m map[string]any) map[string]any { return m["components"].([]any)[0].(map[string]any) }
	tests := []struct {
		name string
		edit func(m map[string]any)
		want error
	}{
		{"kcv", func(m map[string]any) { m["kcv"] = "000000" }, keystore.ErrCorrupt},
		{"store id", func(m map[string]any) { m["store_id"] = strings.Repeat("ab", 16) }, keystore.ErrBadPassphrase},
		{"salt", func(m map[string]any) { comp0(m)["salt"] = strings.Repeat("00", 16) }, keystore.ErrBadPassphrase},
		{"kdf", func(m map[string]any) { comp0(m)["time"] = 2 }, keystore.ErrBadPassphrase},
		{"kdf too costly", func(m map[string]any) { comp0(m)["memory_kib"] = 4 << 20 }, keystore.ErrCorrupt},
		{"officer renamed", func(m map[string]any) { comp0(m)["officer"] = "eve" }, keystore.ErrUnknownOfficer},
		{"components swapped", func(m map[string]any) {
			c := m["components"].([]any)
			c[0], c[1] = c[1], c[0]
		}, keystore.ErrBadPassphrase},
		{"one component", func(m map[string]any) { m["components"] = m["components"].([]any)[:1] }, keystore.ErrCorrupt},
		{"mac", func(m map[string]any) { m["mac"] = strings.Repeat("00", 32) }, keystore.ErrCorrupt},
		{"version", func(m map[string]any) { m["version"] = 2 }, keystore.ErrVersion},
		{"format", func(m map[string]any) { m["format"] = "other" }, keystore.ErrCorrupt},
		{"unknown field", func(m map[string]any) { m["extra"] = true }, keystore.ErrCorrupt},
		{"mode", func(m map[string]any) { m["mode"] = "live" }, keystore.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c map[string]any
			must(t, json.Unmarshal(orig, &c))
			tt.edit(c)
			data, _ := json.Marshal(c)
			writeFile(t, meta, data)
			defer writeFile(t, meta, orig)
			_, err := keystore.Unlock(dir, officers())
			expectErr(t, err, tt.want)
		})
	}
	for name, data := range map[string][]byte{
		"empty":     nil,
		"not JSON":  []byte("hello"),
		"trailing":  append(bytes.Clone(orig), []byte("{}")...),
		"too large": bytes.Repeat([]byte(" "), 1<<20),
	} {
		writeFile(t, meta, data)
		_, err := keystore.Unlock(dir, officers())
		expectErr(t, err, keystore.ErrCorrupt)
		_ = name
	}
	writeFile(t, meta, orig)
	s, err := keystore.Unlock(dir, officers())
	must(t, err)
	s.Lock()
}

func TestNoSecretsInFormattedValues(t *testing.T) {
	c := officers()[0]
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		for _, v := range []any{c, &c, []keystore.Component{c}, struct{ C keystore.Component }{c}} {
			out := fmt.Sprintf(verb, v)
			seen.Output(out)
			if strings.Contains(out, "horse") || !strings.Contains(out, "alice") && verb != "%x" && verb != "%X" && verb != "%d" {
				t.Errorf("%s of %T: %q", verb, v, out)
			}
		}
	}
	j, err := json.Marshal(officers())
	must(t, err)
	seen.Output(string(j))
	if string(j) != `[{"officer":"alice"},{"officer":"bob"}]` {
		t.Errorf("JSON %s", j)
	}

	_, s := newStore(t)
	_, err = s.GenerateECDH(ctx, "k")
	must(t, err)
	recordScalar(t, s, "k")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		out := fmt.Sprintf(verb, s)
		seen.Output(out)
		if !strings.HasPrefix(out, "keystore.Sealed{") {
			t.Errorf("%s: %q", verb, out)
		}
	}
	c.Zero()
	if !bytes.Equal(c.Passphrase, make([]byte, len(c.Passphrase))) {
		t.Fatal("Zero left the passphrase")
	}
}

func TestSecretErasureReported(t *testing.T) {
	t.Logf("runtime/secret erasure: %v", keystore.SecretErasure())
}
