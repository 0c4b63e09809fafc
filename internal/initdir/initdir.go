// Package initdir makes the directory of a new component (a module, a
// KMC) so that an init that fails leaves the directory as it was: a
// directory the init made is removed, and an empty one it was given is
// emptied again. A refused init can then be corrected and run again.
package initdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNotEmpty is returned by Prepare for a directory that holds anything.
var ErrNotEmpty = errors.New("directory is not empty")

// Dir is a directory being initialised.
type Dir struct {
	path    string
	created bool
}

// Prepare makes dir (mode 0700; its parent must exist) or checks that it
// is an empty directory (ErrNotEmpty).
func Prepare(dir string) (*Dir, error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, err
		}
		return &Dir{path: dir, created: true}, nil
	case err != nil:
		return nil, err
	case len(entries) > 0:
		return nil, fmt.Errorf("%w: %s", ErrNotEmpty, dir)
	}
	return &Dir{path: dir}, nil
}

// Undo removes what the init made: the directory if Prepare made it,
// else everything in it (it was empty). It returns the first error; the
// caller reports it beside the init's own error.
func (d *Dir) Undo() error {
	if d.created {
		return os.RemoveAll(d.path)
	}
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, os.RemoveAll(filepath.Join(d.path, e.Name())))
	}
	return errors.Join(errs...)
}

// UndoOnError calls Undo when *err is not nil, joining Undo's error to it:
//
//	d, err := initdir.Prepare(dir)
//	…
//	defer d.UndoOnError(&err)
func (d *Dir) UndoOnError(err *error) {
	if *err == nil {
		return
	}
	if uerr := d.Undo(); uerr != nil {
		*err = errors.Join(*err, fmt.Errorf("and could not remove what the failed init made in %s: %w", d.path, uerr))
	}
}
