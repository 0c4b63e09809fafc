package kmc

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/stskms/stskms/store"
)

// MoveDatabasePassword takes the password out of the database URL that
// dir/kmc.json records (as KMCs made before Init stopped recording it
// did): keep receives the password, to put it where the KMC's commands
// will read it (a file for --db-password-file, a systemd credential), and
// only once keep succeeded is kmc.json rewritten without it (atomically:
// a crash leaves the old file or the new one). ErrInvalid if kmc.json
// records no password.
func MoveDatabasePassword(dir string, keep func(password string) error) error {
	cfg, err := readConfig(dir)
	if err != nil {
		return err
	}
	bare, password, err := store.SplitPassword(cfg.Database)
	if err != nil {
		return fmt.Errorf("kmc: %s: %w", ConfigFile, err)
	}
	if password == "" {
		return fmt.Errorf("%w: %s records no database password", ErrInvalid, filepath.Join(dir, ConfigFile))
	}
	if err := keep(password); err != nil {
		return err
	}
	cfg.Database = bare
	data, _ := json.MarshalIndent(cfg, "", "  ")
	return writeFile(filepath.Join(dir, ConfigFile), append(data, '\n'))
}
