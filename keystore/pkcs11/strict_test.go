package pkcs11_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stskms/stskms/keystore/pkcs11"
)

// TestConfigStrictJSON: a member given twice or named without its exact
// case is refused, naming the member.
func TestConfigStrictJSON(t *testing.T) {
	const good = `{"format": "stskms-pkcs11/1", "module": "/x.so", "token_label": "t", "namespace": "n"}`
	if _, err := pkcs11.ParseConfig([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ text, member string }{
		"duplicate": {`{"format": "stskms-pkcs11/1", "module": "/x.so", "module": "/evil.so", "token_label": "t", "namespace": "n"}`, "module"},
		"case":      {`{"format": "stskms-pkcs11/1", "Module": "/x.so", "token_label": "t", "namespace": "n"}`, "Module"},
	} {
		_, err := pkcs11.ParseConfig([]byte(c.text))
		if !errors.Is(err, pkcs11.ErrConfig) || !strings.Contains(err.Error(), `"`+c.member+`"`) {
			t.Errorf("%s: %v; want ErrConfig naming %q", name, err, c.member)
		}
	}
}
