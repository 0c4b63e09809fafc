// Package secretfile checks that a file holding a secret — a PIN, bearer
// tokens, a database password — can be read by its owner only. It is the
// one such check: every component that reads a secret from a file calls
// Check before it trusts the file, or CheckCredential for a systemd
// credential ($CREDENTIALS_DIRECTORY), which systemd makes readable by
// the service's user through an ACL.
package secretfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrExposed is returned (wrapped in an *ExposedError) for a secret file
// that its group or others may read, write or execute.
var ErrExposed = errors.New("secret file readable by others")

// ExposedError names a secret file whose mode lets others in.
type ExposedError struct {
	Path string      // the file as named
	Mode fs.FileMode // its permission bits
}

func (e *ExposedError) Error() string {
	return fmt.Sprintf("%v: %s has mode %04o (group or others may use it); chmod 600 %s",
		ErrExposed, e.Path, uint32(e.Mode.Perm()), e.Path)
}

// Unwrap returns ErrExposed.
func (e *ExposedError) Unwrap() error { return ErrExposed }

// Check returns an *ExposedError if the file at path (symbolic links
// followed) has any group or other permission bit (mode & 0o077), and the
// Stat error if it cannot be examined.
func Check(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	return CheckMode(path, st.Mode())
}

// CheckMode is Check for a mode already known, e.g. from (*os.File).Stat
// of the file being read.
func CheckMode(path string, mode fs.FileMode) error {
	if mode.Perm()&0o077 != 0 {
		return &ExposedError{Path: path, Mode: mode.Perm()}
	}
	return nil
}
