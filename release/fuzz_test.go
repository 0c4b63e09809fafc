package release_test

import (
	"bytes"
	"testing"

	"github.com/stskms/stskms/release"
)

// fuzzKey is a fixed release key for the fuzz targets' seeds.
var fuzzKey = func() release.PrivateKey {
	k, err := release.ParsePrivateKey([]byte("stskms-release-private-key/1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"))
	if err != nil {
		panic(err)
	}
	return k
}()

// FuzzParseManifest: any input is parsed without panic; what parses is
// exactly what Sign makes of it.
func FuzzParseManifest(f *testing.F) {
	signed, err := release.Sign(release.Manifest{Version: "v1.2.3-rc.1+b7", Files: []release.File{{Name: "stskms"}, {Name: "b"}}}, fuzzKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add([]byte("stskms-release-manifest/1\nversion v1.0.0\nkey 00\nsignature \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := release.ParseManifest(data, fuzzKey.Public())
		if err != nil {
			return
		}
		again, err := release.Sign(*m, fuzzKey)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("a manifest that verifies does not sign again to itself: %v", err)
		}
	})
}

// FuzzCompare: Compare is antisymmetric and never panics.
func FuzzCompare(f *testing.F) {
	for _, s := range [][2]string{{"v1.0.0", "v1.0.0-rc.1"}, {"v1.0.0-alpha.1", "v1.0.0-alpha.beta"}, {"devel", "v1.2.3"}, {"v1.2.3+x", "v1.2.3"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		x, errA := release.Compare(a, b)
		y, errB := release.Compare(b, a)
		if (errA == nil) != (errB == nil) || x != -y {
			t.Fatalf("Compare(%q, %q) = %d, %v; reversed %d, %v", a, b, x, errA, y, errB)
		}
		if errA == nil && release.CheckVersion(a) != nil {
			t.Fatalf("%q compares but does not check", a)
		}
	})
}
