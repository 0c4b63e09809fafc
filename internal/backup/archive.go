// Package backup makes and reads the backup file of a KMC or a security
// module (`stskms kmc|sm backup` and `restore`, docs/operations.md): one
// tar archive whose first member, MANIFEST.json, names every other member
// with its size and SHA-256, followed by those members — a snapshot of the
// database and the component's directory (its JSON file, the keystore
// directory with its sealed key files or PKCS#11 configuration). Sealed
// keys stay sealed; no PIN or passphrase is ever in a backup.
//
// The reader trusts nothing: a member that is not a regular file, whose
// name is not a clean relative path, is not in the manifest, comes twice,
// has another size or another hash than the manifest says is refused with
// a typed error, and Extract removes whatever it wrote.
package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stskms/stskms/internal/atomicfile"
	"github.com/stskms/stskms/internal/strictjson"
)

// Format names the backup format in the manifest.
const Format = "stskms-backup/1"

// ManifestName is the archive's first member.
const ManifestName = "MANIFEST.json"

// Limits of what a backup file may hold.
const (
	// MaxManifest bounds the manifest, in bytes.
	MaxManifest = 1 << 20
	// MaxMembers bounds the number of members.
	MaxMembers = 4096
	// MaxFile bounds a member that is not the database (a JSON file, a
	// sealed key file), in bytes.
	MaxFile = 16 << 20
	// MaxDatabase bounds the database member, in bytes.
	MaxDatabase = 1 << 40
)

// Kinds of component a backup holds.
const (
	KindKMC = "kmc"
	KindSM  = "sm"
)

// Members that hold the database snapshot.
const (
	// SQLiteMember is the SQLite snapshot (VACUUM INTO), restored as the
	// component's database file.
	SQLiteMember = "database/sqlite.db"
	// PostgresMember is the pg_dump archive (custom format), restored
	// with pg_restore.
	PostgresMember = "database/postgres.dump"
)

// Errors of a backup file that cannot be restored. Every refusal wraps one.
var (
	// ErrFormat: not a backup file, or a malformed manifest.
	ErrFormat = errors.New("backup: not a valid backup file")
	// ErrMember: a member that is unsafe (a link, a device, a path that
	// leaves the directory), unlisted, duplicated, missing or too large.
	ErrMember = errors.New("backup: bad member")
	// ErrHash: a member whose size or SHA-256 is not the manifest's.
	ErrHash = errors.New("backup: member does not match the manifest")
	// ErrKind: a backup of another kind of component than asked for.
	ErrKind = errors.New("backup: wrong kind of component")
)

// Head is an audit log's head: its last record's sequence number and hash.
type Head struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"` // hex SHA-256 of the record, "" for an empty log
}

// Member is one file of the backup.
type Member struct {
	Name   string `json:"name"`   // a clean relative path with '/'
	Size   int64  `json:"size"`   // in bytes
	SHA256 string `json:"sha256"` // hex
}

// Manifest describes a backup.
type Manifest struct {
	Format    string    `json:"format"`
	Kind      string    `json:"kind"`     // KindKMC or KindSM
	Identity  string    `json:"identity"` // the KMC's id, or the module's SMID
	Created   time.Time `json:"created"`
	Version   string    `json:"version"`          // of the binary that made it
	Dialect   string    `json:"dialect"`          // "sqlite" or "postgres"
	Schema    string    `json:"schema,omitempty"` // PostgreSQL: the schema dumped, if not the default
	AuditHead Head      `json:"audit_head"`
	Members   []Member  `json:"members"`
}

// Database returns the member holding the database snapshot.
func (m Manifest) Database() string {
	if m.Dialect == "postgres" {
		return PostgresMember
	}
	return SQLiteMember
}

// check validates m as read from a backup file.
func (m Manifest) check() error {
	switch {
	case m.Format != Format:
		return fmt.Errorf("%w: format %.40q, want %q", ErrFormat, m.Format, Format)
	case m.Kind != KindKMC && m.Kind != KindSM:
		return fmt.Errorf("%w: kind %.20q", ErrFormat, m.Kind)
	case m.Dialect != "sqlite" && m.Dialect != "postgres":
		return fmt.Errorf("%w: dialect %.20q", ErrFormat, m.Dialect)
	case m.Identity == "" || m.Created.IsZero():
		return fmt.Errorf("%w: no identity or creation time", ErrFormat)
	case len(m.Members) > MaxMembers:
		return fmt.Errorf("%w: %d members, at most %d", ErrMember, len(m.Members), MaxMembers)
	}
	seen := make(map[string]bool, len(m.Members))
	for _, mem := range m.Members {
		if err := checkName(mem.Name); err != nil {
			return err
		}
		if seen[mem.Name] {
			return fmt.Errorf("%w: %q listed twice", ErrMember, mem.Name)
		}
		seen[mem.Name] = true
		if limit := m.limit(mem.Name); mem.Size < 0 || mem.Size > limit {
			return fmt.Errorf("%w: %q: size %d outside 0…%d", ErrMember, mem.Name, mem.Size, limit)
		}
		if h, err := hex.DecodeString(mem.SHA256); err != nil || len(h) != sha256.Size {
			return fmt.Errorf("%w: %q: malformed SHA-256", ErrFormat, mem.Name)
		}
	}
	for name := range seen {
		for dir := name; strings.Contains(dir, "/"); {
			dir = dir[:strings.LastIndex(dir, "/")]
			if seen[dir] {
				return fmt.Errorf("%w: %q is a file and a directory", ErrMember, dir)
			}
		}
	}
	if !seen[m.Database()] {
		return fmt.Errorf("%w: no database member %s", ErrMember, m.Database())
	}
	return nil
}

// limit is the largest size a member may have.
func (m Manifest) limit(name string) int64 {
	if name == m.Database() {
		return MaxDatabase
	}
	return MaxFile
}

// member returns the manifest's member called name.
func (m Manifest) member(name string) (Member, bool) {
	for _, mem := range m.Members {
		if mem.Name == name {
			return mem, true
		}
	}
	return Member{}, false
}

// checkName accepts a clean relative path of letters, digits and ._-
// separated by '/', none of whose elements is "." or ".." or hidden.
func checkName(name string) error {
	if name == "" || len(name) > 255 || name == ManifestName {
		return fmt.Errorf("%w: name %.60q", ErrMember, name)
	}
	for el := range strings.SplitSeq(name, "/") {
		if el == "" || el[0] == '.' {
			return fmt.Errorf("%w: name %.60q: not a clean relative path", ErrMember, name)
		}
		for _, c := range el {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return fmt.Errorf("%w: name %.60q: character %q", ErrMember, name, c)
			}
		}
	}
	return nil
}

// Source is a file to put in a backup: its name there and its path here.
type Source struct {
	Name, Path string
}

// Write writes the backup file out (mode 0600, atomically: a temporary
// file beside it, synced, renamed) holding m, whose Members Write fills
// from files, and the files themselves. The files must not change while
// Write runs (the database is a snapshot made for the backup).
func Write(out string, m Manifest, files []Source) (Manifest, error) {
	m.Format = Format
	m.Members = m.Members[:0]
	for _, f := range files {
		mem, err := describe(f)
		if err != nil {
			return m, err
		}
		m.Members = append(m.Members, mem)
	}
	if err := m.check(); err != nil {
		return m, fmt.Errorf("backup: would write an invalid backup: %w", err)
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	dir, name := filepath.Split(out)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, atomicfile.TempPrefix+name+"-*")
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	err = tmp.Chmod(0o600)
	if err == nil {
		err = writeTar(tmp, manifest, m, files)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return m, fmt.Errorf("backup: failed to write %s: %w", out, err)
	}
	return m, atomicfile.SyncDir(dir)
}

// describe returns f's size and hash.
func describe(f Source) (Member, error) {
	if err := checkName(f.Name); err != nil {
		return Member{}, err
	}
	r, err := os.Open(f.Path)
	if err != nil {
		return Member{}, fmt.Errorf("backup: %w", err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return Member{}, fmt.Errorf("backup: %w", err)
	}
	return Member{Name: f.Name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// writeTar writes the archive: the manifest, then each file.
func writeTar(w io.Writer, manifest []byte, m Manifest, files []Source) error {
	tw := tar.NewWriter(w)
	hdr := func(name string, size int64) *tar.Header {
		return &tar.Header{Name: name, Size: size, Mode: 0o600, Typeflag: tar.TypeReg, ModTime: m.Created, Format: tar.FormatPAX}
	}
	if err := tw.WriteHeader(hdr(ManifestName, int64(len(manifest)))); err != nil {
		return err
	}
	if _, err := tw.Write(manifest); err != nil {
		return err
	}
	for i, f := range files {
		if err := copyMember(tw, hdr(f.Name, m.Members[i].Size), f.Path); err != nil {
			return err
		}
	}
	return tw.Close()
}

func copyMember(tw *tar.Writer, h *tar.Header, path string) error {
	r, err := os.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	n, err := io.Copy(tw, io.LimitReader(r, h.Size+1))
	if err == nil && n != h.Size {
		err = fmt.Errorf("%s changed while it was written", h.Name)
	}
	return err
}

// Extract reads the backup file in into dir, which must exist and be
// empty, checking every member against the manifest, and returns the
// manifest. Each member is written as the file dir/NAME (mode 0600). On
// any error, typed (ErrFormat, ErrMember, ErrHash), what Extract wrote in
// dir is removed again.
func Extract(in io.Reader, dir string) (_ Manifest, err error) {
	defer func() {
		if err != nil {
			clean(dir)
		}
	}()
	tr := tar.NewReader(in)
	m, err := readManifest(tr)
	if err != nil {
		return m, err
	}
	seen := make(map[string]bool, len(m.Members))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		if err := extractMember(tr, h, m, seen, dir); err != nil {
			return m, err
		}
	}
	for _, mem := range m.Members {
		if !seen[mem.Name] {
			return m, fmt.Errorf("%w: %q is missing", ErrMember, mem.Name)
		}
	}
	return m, nil
}

// readManifest reads and checks the first member, the manifest.
func readManifest(tr *tar.Reader) (Manifest, error) {
	var m Manifest
	h, err := tr.Next()
	if err != nil {
		return m, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if h.Name != ManifestName || h.Typeflag != tar.TypeReg || h.Size < 0 || h.Size > MaxManifest {
		return m, fmt.Errorf("%w: the first member is not %s", ErrFormat, ManifestName)
	}
	b, err := io.ReadAll(io.LimitReader(tr, MaxManifest))
	if err != nil {
		return m, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if err := strictjson.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: %s: %v", ErrFormat, ManifestName, err)
	}
	return m, m.check()
}

// extractMember writes one member into dir after checking it.
func extractMember(tr *tar.Reader, h *tar.Header, m Manifest, seen map[string]bool, dir string) error {
	if h.Typeflag != tar.TypeReg {
		return fmt.Errorf("%w: %.60q is not a regular file (type %q)", ErrMember, h.Name, h.Typeflag)
	}
	mem, ok := m.member(h.Name)
	switch {
	case !ok:
		return fmt.Errorf("%w: %.60q is not in the manifest", ErrMember, h.Name)
	case seen[h.Name]:
		return fmt.Errorf("%w: %.60q comes twice", ErrMember, h.Name)
	case h.Size != mem.Size:
		return fmt.Errorf("%w: %q has %d bytes, the manifest says %d", ErrHash, h.Name, h.Size, mem.Size)
	}
	seen[h.Name] = true
	path := filepath.Join(dir, filepath.FromSlash(h.Name))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	sum := sha256.New()
	_, err = io.CopyN(io.MultiWriter(f, sum), tr, mem.Size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrFormat, h.Name, err)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != mem.SHA256 {
		return fmt.Errorf("%w: %q: SHA-256 %s, the manifest says %s", ErrHash, h.Name, got, mem.SHA256)
	}
	return nil
}

// ReadManifest reads only the manifest of a backup file.
func ReadManifest(in io.Reader) (Manifest, error) {
	return readManifest(tar.NewReader(in))
}

// clean empties dir (which Extract found empty).
func clean(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// Summary says in one line what the manifest describes.
func (m Manifest) Summary() string {
	return fmt.Sprintf("%s %s, made %s by stskms %s, %s database, audit log at record %d",
		m.Kind, m.Identity, m.Created.UTC().Format(time.RFC3339), m.Version, m.Dialect, m.AuditHead.Seq)
}
