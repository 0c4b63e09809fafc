package release_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/release"
)

func TestCompare(t *testing.T) {
	// semver.org §11's example order, then equalities.
	order := []string{"v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta", "v1.0.0-beta.2",
		"v1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "v1.0.1", "v1.2.0", "v1.10.0", "v2.0.0"}
	for i := range order {
		for j := range order {
			got, err := release.Compare(order[i], order[j])
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	if c, err := release.Compare("v1.2.3+build.5", "v1.2.3"); err != nil || c != 0 {
		t.Errorf("build metadata counted: %d, %v", c, err)
	}
	for _, bad := range []string{"", "devel", "1.2.3", "v1.2", "v1.2.3.4", "v01.2.3", "v1.2.3-", "v1.2.3-a..b", "v1.2.x",
		"v1.2.3-é", "v99999999999999999999.0.0", "v" + strings.Repeat("1", 200) + ".0.0"} {
		if _, err := release.Compare(bad, "v1.0.0"); !errors.Is(err, release.ErrVersion) {
			t.Errorf("Compare(%q): %v, want ErrVersion", bad, err)
		}
	}
}

func TestRead(t *testing.T) {
	b := release.Read()
	if b.Version != release.Version || b.GoVersion == "" || b.Commit == "" {
		t.Errorf("build info %+v", b)
	}
	// A test binary has no VCS stamp: the commit must say so, not be empty.
	if b.Commit == release.Unknown && b.Modified {
		t.Error("modified without a commit")
	}
}

// keyPair makes a release key and writes its files in dir.
func keyPair(t *testing.T, dir string) (release.PrivateKey, string, string) {
	t.Helper()
	k, err := release.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, pub := filepath.Join(dir, "release.key"), filepath.Join(dir, "release.pub")
	if err := os.WriteFile(priv, release.MarshalPrivateKey(k), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, release.MarshalPublicKey(k.Public()), 0o644); err != nil {
		t.Fatal(err)
	}
	return k, priv, pub
}

func writeBinary(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func manifestOf(t *testing.T, version string, paths ...string) release.Manifest {
	t.Helper()
	m := release.Manifest{Version: version}
	for _, p := range paths {
		sum, err := release.HashFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m.Files = append(m.Files, release.File{Name: filepath.Base(p), SHA256: sum})
	}
	return m
}

func TestManifestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	k, privFile, pubFile := keyPair(t, dir)
	k2, err := release.ReadPrivateKey(privFile)
	if err != nil || k2.Public().ID() != k.Public().ID() {
		t.Fatalf("private key file: %v", err)
	}
	pub, err := release.ReadPublicKey(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	a := writeBinary(t, dir, "stskms-linux-amd64", "binary A")
	b := writeBinary(t, dir, "stskms-linux-arm64", "binary B")
	signed, err := release.Sign(manifestOf(t, "v1.2.3", a, b), k)
	if err != nil {
		t.Fatal(err)
	}
	m, err := release.ParseManifest(signed, pub)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "v1.2.3" || m.KeyID != pub.ID() || len(m.Files) != 2 {
		t.Fatalf("parsed %+v", m)
	}
	for _, p := range []string{a, b} {
		if err := m.CheckFile(p); err != nil {
			t.Error(err)
		}
	}
	if err := os.WriteFile(a, []byte("binary A, patched"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.CheckFile(a); !errors.Is(err, release.ErrNotListed) {
		t.Errorf("tampered binary: %v", err)
	}
	if err := m.CheckFile(writeBinary(t, dir, "other", "binary A")); !errors.Is(err, release.ErrNotListed) {
		t.Errorf("unlisted binary: %v", err)
	}
}

func TestManifestTampered(t *testing.T) {
	dir := t.TempDir()
	k, _, _ := keyPair(t, dir)
	other, err := release.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := release.Sign(manifestOf(t, "v1.2.3", writeBinary(t, dir, "stskms", "x")), k)
	if err != nil {
		t.Fatal(err)
	}
	otherSigned, err := release.Sign(manifestOf(t, "v1.2.3", writeBinary(t, dir, "stskms", "x")), other)
	if err != nil {
		t.Fatal(err)
	}
	sigAt := bytes.Index(signed, []byte("signature ")) + len("signature ")
	flip := func(i int) []byte {
		b := bytes.Clone(signed)
		b[i] ^= 1
		return b
	}
	cases := map[string][]byte{
		"version changed":   bytes.Replace(signed, []byte("v1.2.3"), []byte("v1.2.4"), 1),
		"hash changed":      flip(bytes.Index(signed, []byte("sha256 ")) + 10),
		"signature changed": flip(sigAt + 3),
		"signature cut":     append(bytes.Clone(signed[:sigAt+10]), '\n'),
		"no signature":      signed[:sigAt-len("signature ")],
		"line added":        bytes.Replace(signed, []byte("signature "), []byte("sha256 "+strings.Repeat("0", 64)+" evil\nsignature "), 1),
		"other key":         otherSigned,
		"key id forged":     bytes.Replace(otherSigned, []byte("key "+other.Public().ID()), []byte("key "+k.Public().ID()), 1),
		"crlf":              bytes.ReplaceAll(signed, []byte("\n"), []byte("\r\n")),
		"empty":             nil,
		"garbage":           []byte("\x00\xff signature \n"),
	}
	for name, data := range cases {
		if _, err := release.ParseManifest(data, k.Public()); !errors.Is(err, release.ErrManifest) {
			t.Errorf("%s: %v, want ErrManifest", name, err)
		}
	}
	for _, bad := range []release.Manifest{{Version: "devel", Files: []release.File{{Name: "a"}}}, {Version: "v1.0.0"},
		{Version: "v1.0.0", Files: []release.File{{Name: "a b"}}}, {Version: "v1.0.0", Files: []release.File{{Name: "../a"}}},
		{Version: "v1.0.0", Files: []release.File{{Name: "a"}, {Name: "a"}}}} {
		if _, err := release.Sign(bad, k); !errors.Is(err, release.ErrManifest) {
			t.Errorf("Sign(%+v): %v, want ErrManifest", bad, err)
		}
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	_, priv, pub := keyPair(t, dir)
	if _, err := release.ReadPublicKey(priv); !errors.Is(err, release.ErrKey) {
		t.Errorf("private key as public: %v", err)
	}
	if _, err := release.ReadPrivateKey(pub); err == nil {
		t.Error("public key (mode 0644) read as a private key")
	}
	if err := os.Chmod(priv, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := release.ReadPrivateKey(priv); err == nil {
		t.Error("a private key readable by others was used")
	}
	for _, bad := range []string{"", "stskms-release-public-key/1 AAAA\n", "stskms-release-public-key/1 " + strings.Repeat("A", 44) + "\n"} {
		if _, err := release.ParsePublicKey([]byte(bad)); !errors.Is(err, release.ErrKey) {
			t.Errorf("ParsePublicKey(%q): %v", bad, err)
		}
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	k, _, pubFile := keyPair(t, dir)
	exe := writeBinary(t, dir, "stskms", "the running binary")
	manifest := filepath.Join(dir, "MANIFEST")
	signed, err := release.Sign(manifestOf(t, "v1.2.3", exe), k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifest, signed, 0o644); err != nil {
		t.Fatal(err)
	}

	st, err := release.Policy{Version: release.Devel}.Check()
	if err != nil || st.Signed || st.String() != "unsigned development build" {
		t.Errorf("no manifest: %v, %v", st, err)
	}
	if _, err := (release.Policy{RequireSigned: true}).Check(); !errors.Is(err, release.ErrUnsigned) {
		t.Errorf("required, no manifest: %v", err)
	}

	p := release.Policy{Manifest: manifest, PublicKey: pubFile, Version: "v1.2.3", Executable: exe, RequireSigned: true}
	st, err = p.Check()
	if err != nil || !st.Signed || !strings.HasPrefix(st.String(), "signed release v1.2.3 ") {
		t.Fatalf("signed: %v, %v", st, err)
	}

	wrongVersion := p
	wrongVersion.Version = "v1.2.2"
	tampered := p
	tampered.Executable = writeBinary(t, dir, "stskms2", "the running binary, patched")
	otherKey := p
	otherKey.PublicKey = filepath.Join(dir, "other.pub")
	k2, _ := release.GenerateKey()
	if err := os.WriteFile(otherKey.PublicKey, release.MarshalPublicKey(k2.Public()), 0o644); err != nil {
		t.Fatal(err)
	}
	noKey := p
	noKey.PublicKey = ""
	for name, bad := range map[string]release.Policy{"built as another version": wrongVersion, "tampered binary": tampered,
		"another key": otherKey, "no key": noKey} {
		if _, err := bad.Check(); !errors.Is(err, release.ErrUnsigned) {
			t.Errorf("%s, required: %v", name, err)
		}
		bad.RequireSigned = false
		st, err := bad.Check()
		if err != nil || st.Signed || !strings.HasPrefix(st.String(), "unsigned build ") {
			t.Errorf("%s: %v, %v", name, st, err)
		}
	}
}
