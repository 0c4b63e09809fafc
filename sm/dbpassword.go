package sm

import (
	"encoding/json"
	"fmt"

	"github.com/stskms/stskms/store"
)

// MoveDatabasePassword takes the password out of the database URL that
// DIR/sm.json records (as modules made before Init stopped recording it
// did): keep receives the password, to put it where the module's commands
// will read it (a file for --db-password-file, a systemd credential), and
// only once keep succeeded is sm.json rewritten without it (atomically).
// ErrInvalidRequest if sm.json records no password.
func MoveDatabasePassword(dir string, keep func(password string) error) error {
	mf, err := readModuleFile(dir)
	if err != nil {
		return err
	}
	bare, password, err := store.SplitPassword(mf.Database)
	if err != nil {
		return fmt.Errorf("sm: %s: %w", ModuleFile, err)
	}
	if password == "" {
		return refuse(ErrInvalidRequest, "%s records no database password", ModuleFile)
	}
	if err := keep(password); err != nil {
		return err
	}
	mf.Database = bare
	data, _ := json.MarshalIndent(mf, "", "  ")
	return writeFile(dir, ModuleFile, append(data, '\n'))
}
