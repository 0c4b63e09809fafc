//go:build unix

package secretfile

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"testing"
	"time"
)

// fakeInfo is a file's FileInfo with the mode and owner a test gives.
type fakeInfo struct {
	mode fs.FileMode
	uid  uint32
}

func (f fakeInfo) Name() string       { return "pkcs11-pin" }
func (f fakeInfo) Size() int64        { return 10 }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return false }
func (f fakeInfo) Sys() any           { return &syscall.Stat_t{Uid: f.uid} }

// TestCheckCredential: a credential owned by root or this process's user,
// as systemd makes it, is accepted; one owned by another user, or that
// others may use, is refused, and a group read bit only when root owns it
// (where it is the mask of systemd's ACL).
func TestCheckCredential(t *testing.T) {
	me := uint32(os.Geteuid())
	other := me + 4242
	for _, tt := range []struct {
		mode    fs.FileMode
		uid     uint32
		ok      bool
		exposed bool
	}{
		{0o400, 0, true, false},
		{0o440, 0, true, false},
		{0o400, me, true, false},
		{0o600, me, true, false},
		{0o440, me, me == 0, me != 0},
		{0o400, other, false, false},
		{0o444, 0, false, true},
		{0o404, me, false, true},
		{0o460, 0, false, true},
		{0o410, 0, false, true},
	} {
		err := CheckCredential("/run/credentials/x/pkcs11-pin", fakeInfo{mode: tt.mode, uid: tt.uid})
		if (err == nil) != tt.ok || errors.Is(err, ErrExposed) != tt.exposed {
			t.Errorf("mode %04o owner %d: %v", tt.mode, tt.uid, err)
		}
	}
}
