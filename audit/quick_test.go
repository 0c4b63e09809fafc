package audit

import (
	"bytes"
	"testing"
)

// FuzzQuickCanonical: whenever quickCanonical takes an object, it writes
// what the general path (encode, then canonicalise) writes.
func FuzzQuickCanonical(f *testing.F) {
	f.Add("tid", "request-1", "sgc", int64(123456), "ñ", true)
	f.Add("a\x00", "\"<>&\u2028\xff", "", int64(-(1 << 53)), "b", false)
	f.Add("z", "x", "a", int64(1<<53-1), "\U0001F600", true)
	f.Fuzz(func(t *testing.T, k1, s, k2 string, n int64, k3 string, b bool) {
		m := map[string]any{k1: s, k2: n, k3: map[string]any{k1: []string{s, k2}, k2: b, "nil": nil, "list": []string(nil)},
			"i": int(n % 1000), "u": uint32(n), "b": b}
		var out bytes.Buffer
		if !quickCanonical(&out, m, 1) {
			return
		}
		if out.Len() > MaxDetails {
			// prepareQuick hands an object this long to the general path,
			// which must refuse it.
			if _, err := canonicalDetails(m); err == nil {
				t.Fatalf("%d bytes in canonical form, and the general path took it", out.Len())
			}
			return
		}
		want, err := canonicalDetails(m)
		if err != nil {
			t.Fatalf("quickCanonical took %v, which the general path refuses: %v", m, err)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("quickCanonical wrote\n%s\nthe general path\n%s", out.Bytes(), want)
		}
	})
}
