package main

import (
	"fmt"
	"path/filepath"
	"sort"

	"github.com/stskms/stskms/internal/secretfile"
	"github.com/stskms/stskms/store"
)

// checkConfigSecrets refuses a configuration file that holds a secret — a
// setting named like one (secretSetting) or a database URL with a
// password — when its group or others may read it (secretfile.Check).
func checkConfigSecrets(path string, tree map[string]any) error {
	if names := configSecrets(tree, ""); len(names) > 0 {
		if err := secretfile.Check(path); err != nil {
			return fmt.Errorf("%w: %s holds secrets (%v): %w", errConfig, path, names, err)
		}
	}
	return nil
}

// configSecrets returns the settings of tree (section.name) that hold a
// secret.
func configSecrets(tree map[string]any, prefix string) []string {
	var names []string
	for k, v := range tree {
		switch v := v.(type) {
		case map[string]any:
			names = append(names, configSecrets(v, prefix+k+".")...)
		case string:
			if (secretSetting(k) && v != "") || store.HasPassword(v) {
				names = append(names, prefix+k)
			}
		case []any:
			for _, el := range v {
				if s, ok := el.(string); ok && store.HasPassword(s) {
					names = append(names, prefix+k)
					break
				}
			}
		}
	}
	sort.Strings(names)
	return names
}

// warnExposed warns on standard error when a TEST-ONLY component reads a
// secret file that others may read: a live one refuses it. The file is
// file, or dir/name if file is "".
func warnExposed(e *env, who, file, dir, name string) {
	path := file
	if path == "" {
		path = filepath.Join(dir, name)
	}
	if err := secretfile.Check(path); err != nil {
		fmt.Fprintf(e.stderr, "stskms %s: warning: %v (a production component refuses such a file)\n", who, err)
	}
}
