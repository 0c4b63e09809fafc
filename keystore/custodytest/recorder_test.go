package custodytest

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// TestRecorderLeaks: an output showing a secret raw, in hex of either
// case, in part of its hex, or in base64 is a leak; one that does not,
// and a short secret's raw form, are not.
func TestRecorderLeaks(t *testing.T) {
	var r Recorder
	secret := []byte("0123456789abcdef-storage-key")
	short := []byte("abc")
	r.Secret(secret)
	r.Secret(short)
	h := hex.EncodeToString(secret)
	leaks := []string{
		"raw " + string(secret),
		"hex " + h,
		"HEX " + strings.ToUpper(h),
		"part of its hex " + h[6:22],
		"base64 " + base64.StdEncoding.EncodeToString(secret),
	}
	for _, o := range leaks {
		r.Output(o)
	}
	r.Output("keystore: wrong passphrase (or altered component): officer \"abc\"")
	secret[0] = 'X' // the Recorder keeps its own copy
	got := r.Leaks()
	if len(got) != len(leaks) {
		t.Fatalf("Leaks = %q, want the %d leaking outputs", got, len(leaks))
	}
	for i, o := range leaks {
		if !strings.Contains(got[i], o) {
			t.Errorf("leak %d = %q, want %q", i, got[i], o)
		}
	}
}
