package kmc_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/kmc"
)

// TestConfigStrictJSON: kmc.json is strict JSON: a member given twice or
// named without its exact case is refused, naming the member.
func TestConfigStrictJSON(t *testing.T) {
	for text, member := range map[string]string{
		`{"format":"stskms-kmc","version":1,"mode":"test","database":"sqlite:kmc.db","custody":"sealed"}`:                    "",
		`{"format":"stskms-kmc","version":1,"mode":"test","database":"sqlite:kmc.db","custody":"sealed","custody":"pkcs11"}`: "custody",
		`{"format":"stskms-kmc","version":1,"mode":"test","Database":"postgres://evil","database":"sqlite:kmc.db"}`:          "Database",
		`{"format":"stskms-kmc","version":1,"mode":"test","database":"sqlite:kmc.db"} {"format":"stskms-kmc"}`:               "data after",
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, kmc.ConfigFile), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := kmc.DirCustody(dir)
		if member == "" {
			if err != nil {
				t.Errorf("%s: %v", text, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), member) {
			t.Errorf("%s: %v; want a refusal naming %q", text, err, member)
		}
	}
}
