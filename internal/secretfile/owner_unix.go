//go:build unix

package secretfile

import (
	"io/fs"
	"syscall"
)

// ownerOf returns the user id owning the file st describes.
func ownerOf(st fs.FileInfo) (int, bool) {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(s.Uid), true
	}
	return 0, false
}
