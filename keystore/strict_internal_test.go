package keystore

import (
	"strings"
	"testing"
)

// TestDecodeStrict: the store files are strict JSON: a member given twice,
// named without its exact case or unknown, and data after the object are
// refused; the error names the member, never a value.
func TestDecodeStrict(t *testing.T) {
	type file struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	var f file
	if err := decodeStrict([]byte(`{"format":"x","version":1}`), &f); err != nil || f.Version != 1 {
		t.Fatalf("%+v, %v", f, err)
	}
	for in, member := range map[string]string{
		`{"format":"x","version":1,"version":2}`:   "version",
		`{"Format":"x","version":1}`:               "Format",
		`{"format":"x","version":1,"salt":"s3cr"}`: "salt",
		`{"format":"x","version":1} {}`:            "",
		`{"format":"s3cr`:                          "",
	} {
		err := decodeStrict([]byte(in), &f)
		if err == nil || (member != "" && !strings.Contains(err.Error(), `"`+member+`"`)) || strings.Contains(err.Error(), "s3cr") {
			t.Errorf("%s: %v", in, err)
		}
	}
}
