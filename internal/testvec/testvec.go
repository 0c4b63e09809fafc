// Package testvec reads test vectors for the project's tests: vector files
// in JSON and the hexadecimal strings they hold. Each function fails the
// test on bad input, naming the file or the string, so a test reads as the
// values it checks. It is for tests only and imports the standard library
// alone, so that every package's tests may use it.
package testvec

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// Load decodes the JSON file at path into v, or fails tb naming the file.
func Load(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// Hex decodes s, in either case, or fails tb naming the string.
func Hex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("hex %q: %v", s, err)
	}
	return b
}
