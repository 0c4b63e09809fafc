package sm

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestModuleFileStrict: sm.json is strict JSON: a member given twice or
// named without its exact case is refused.
func TestModuleFileStrict(t *testing.T) {
	const good = `{"format":"stskms-sm/1","smid":"x","variant":"vending","test":true,"database":"sqlite:sm.db"}`
	for text, ok := range map[string]bool{
		good: true,
		`{"format":"stskms-sm/1","smid":"x","variant":"vending","test":true,"test":false,"database":"sqlite:sm.db"}`: false,
		`{"format":"stskms-sm/1","SMID":"x","variant":"vending","test":true,"database":"sqlite:sm.db"}`:              false,
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ModuleFile), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := readModuleFile(dir)
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrIdentity)) {
			t.Errorf("%s: %v", text, err)
		}
	}
}
