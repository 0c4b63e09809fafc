// Package atomicfile writes the small files the module, the KMC and the key
// store keep beside their databases (sm.json, kmc.json, key files, the
// PKCS#11 configuration) so that a crash at any point leaves the previous
// file, or none, or the new one complete — never a torn one.
package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// TempPrefix begins the name of every temporary file Write makes: hidden,
// and never a valid key or configuration name, so that a directory's
// owner can recognise (and remove) what a crash left behind.
const TempPrefix = ".tmp-"

// Write puts data into dir/name with permissions perm: a temporary file in
// dir is written, synced and closed, renamed into place, and dir is synced
// so that the rename survives a power cut.
//
// beforeRename, if not nil, runs after the temporary file is complete and
// before the rename; if it fails, Write stops there and leaves the
// temporary file behind, as a crash at that point would (tests simulate
// crashes with it). On any other failure the temporary file is removed.
func Write(dir, name string, data []byte, perm fs.FileMode, beforeRename func() error) error {
	f, err := os.CreateTemp(dir, TempPrefix+name+"-*")
	if err != nil {
		return fmt.Errorf("create a temporary file for %s: %w", name, err)
	}
	tmp := f.Name()
	if err = f.Chmod(perm); err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if beforeRename != nil {
		if err := beforeRename(); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename %s into place: %w", name, err)
	}
	return SyncDir(dir)
}

// SyncDir makes the renames and removals in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}
