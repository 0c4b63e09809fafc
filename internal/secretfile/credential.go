package secretfile

import (
	"fmt"
	"io/fs"
	"os"
)

// CredentialsDirEnv names the variable in which systemd gives a service
// the directory of its credentials (systemd.exec(5), LoadCredential=).
const CredentialsDirEnv = "CREDENTIALS_DIRECTORY"

// CheckCredential accepts a systemd credential — the file st describes,
// at path — as systemd makes it (mode 0400), checking what systemd
// guarantees: nobody but the service's user and root may read it. Owned
// by root, the service's user reads it through an ACL whose mask shows as
// the group's read bit (0440); owned by that user itself (a file system
// without ACLs), it has no group bit. Others have no bit, and the group
// never more than read. Otherwise it returns an error wrapping
// ErrExposed, or one naming an owner that is neither root nor this
// process's user.
func CheckCredential(path string, st fs.FileInfo) error {
	m := st.Mode().Perm()
	uid, known := ownerOf(st)
	switch {
	case known && uid != 0 && uid != os.Geteuid():
		return fmt.Errorf("%s is owned by user %d, neither root nor this process's user", path, uid)
	case m&0o037 != 0, m&0o040 != 0 && known && uid != 0:
		return fmt.Errorf("%w: %s has mode %04o; a systemd credential is for its service's user only (mode 0400)",
			ErrExposed, path, uint32(m))
	}
	return nil
}
