package backup

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// entry is one member of a hand-made archive.
type entry struct {
	name string
	body string
	typ  byte   // tar.TypeReg if 0
	link string // of a link
	size int64  // in the header, len(body) if 0
}

// manifestOf describes bodies as the manifest would.
func manifestOf(members map[string]string) Manifest {
	m := Manifest{Format: Format, Kind: KindSM, Identity: "600727-00000001", Created: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Version: "test", Dialect: "sqlite", AuditHead: Head{Seq: 3, Hash: strings.Repeat("ab", 32)}}
	for _, name := range []string{SQLiteMember, "sm.json", "keystore/keystore.json"} {
		if body, ok := members[name]; ok {
			sum := sha256.Sum256([]byte(body))
			m.Members = append(m.Members, Member{Name: name, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])})
		}
	}
	return m
}

var goodMembers = map[string]string{SQLiteMember: "SQLite format 3\x00…", "sm.json": `{"format":"stskms-sm/1"}`,
	"keystore/keystore.json": `{"sealed":true}`}

// archive builds a tar of the manifest m (unless nil) and the entries.
func archive(t testing.TB, m *Manifest, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if m != nil {
		b, _ := json.Marshal(m)
		entries = append([]entry{{name: ManifestName, body: string(b)}}, entries...)
	}
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o600, Typeflag: e.typ, Linkname: e.link, Size: int64(len(e.body))}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if e.size != 0 {
			h.Size = e.size
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Flush() // no Close: some entries lie about their size
	if _, err := buf.Write(make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func goodEntries() []entry {
	return []entry{{name: SQLiteMember, body: goodMembers[SQLiteMember]}, {name: "sm.json", body: goodMembers["sm.json"]},
		{name: "keystore/keystore.json", body: goodMembers["keystore/keystore.json"]}}
}

// TestWriteExtract: what Write writes Extract reads back, member for
// member, and the file is the owner's only.
func TestWriteExtract(t *testing.T) {
	src := t.TempDir()
	var files []Source
	for _, e := range goodEntries() {
		p := filepath.Join(src, strings.ReplaceAll(e.name, "/", "_"))
		if err := os.WriteFile(p, []byte(e.body), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, Source{Name: e.name, Path: p})
	}
	out := filepath.Join(t.TempDir(), "b.stskms-backup")
	m := manifestOf(nil)
	m.Members = nil
	written, err := Write(out, m, files)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v", fi.Mode(), err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	got, err := Extract(f, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Members) != 3 || got.Identity != m.Identity || got.AuditHead != m.AuditHead || len(written.Members) != 3 {
		t.Fatalf("manifest %+v", got)
	}
	for name, body := range goodMembers {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil || string(b) != body {
			t.Fatalf("%s: %q, %v", name, b, err)
		}
	}
}

// TestExtractRefusesHostile: a hostile or damaged archive is refused with
// a typed error and leaves nothing behind: path traversal, absolute
// paths, links, devices, unlisted, duplicated, missing, oversized and
// tampered members, a manifest that is not first or lies.
func TestExtractRefusesHostile(t *testing.T) {
	good := manifestOf(goodMembers)
	withMember := func(mem Member) *Manifest {
		m := manifestOf(goodMembers)
		m.Members = append(m.Members, mem)
		return &m
	}
	hash := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	tampered := goodEntries()
	tampered[1].body = strings.Replace(tampered[1].body, "1", "2", 1)
	dup := append(goodEntries(), entry{name: "sm.json", body: goodMembers["sm.json"]})
	huge := manifestOf(goodMembers)
	huge.Members[1].Size = MaxFile + 1
	lies := goodEntries()
	lies[2].size = 1 << 40
	cases := []struct {
		name    string
		archive []byte
		want    error
	}{
		{"not a tar", []byte("hello, world"), ErrFormat},
		{"no manifest first", archive(t, nil, goodEntries()...), ErrFormat},
		{"traversal", archive(t, withMember(Member{Name: "../evil", SHA256: hash("")}), append(goodEntries(), entry{name: "../evil"})...), ErrMember},
		{"absolute", archive(t, withMember(Member{Name: "/etc/evil", SHA256: hash("")}), append(goodEntries(), entry{name: "/etc/evil"})...), ErrMember},
		{"traversal unlisted", archive(t, &good, append(goodEntries(), entry{name: "../evil", body: "x"})...), ErrMember},
		{"symlink", archive(t, &good, append([]entry{{name: "keystore", typ: tar.TypeSymlink, link: "/tmp"}}, goodEntries()...)...), ErrMember},
		{"hard link", archive(t, &good, append(goodEntries(), entry{name: "sm.json", typ: tar.TypeLink, link: "/etc/passwd"})...), ErrMember},
		{"device", archive(t, &good, append(goodEntries(), entry{name: "dev", typ: tar.TypeChar})...), ErrMember},
		{"unlisted", archive(t, &good, append(goodEntries(), entry{name: "extra", body: "x"})...), ErrMember},
		{"duplicate", archive(t, &good, dup...), ErrMember},
		{"missing", archive(t, &good, goodEntries()[:2]...), ErrMember},
		{"tampered", archive(t, &good, tampered...), ErrHash},
		{"huge in manifest", archive(t, &huge, goodEntries()...), ErrMember},
		{"size lies", archive(t, &good, lies...), ErrHash},
		{"hidden name", archive(t, withMember(Member{Name: "keystore/.x", SHA256: hash("")}), append(goodEntries(), entry{name: "keystore/.x"})...), ErrMember},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "new")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			_, err := Extract(bytes.NewReader(c.archive), dir)
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			assertNothing(t, parent, dir)
		})
	}
	t.Run("good", func(t *testing.T) {
		if _, err := Extract(bytes.NewReader(archive(t, &good, goodEntries()...)), t.TempDir()); err != nil {
			t.Fatal(err)
		}
	})
}

// assertNothing fails unless parent holds only the empty directory dir.
func assertNothing(t testing.TB, parent, dir string) {
	t.Helper()
	filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
		if p != parent && p != dir {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
	if _, err := os.Lstat(filepath.Join(filepath.Dir(parent), "evil")); err == nil {
		t.Error("wrote outside the directory")
	}
}

// FuzzExtract: no archive makes Extract panic, write outside its
// directory, or leave anything behind when it refuses; what it accepts
// holds only regular files, each the manifest's.
func FuzzExtract(f *testing.F) {
	good := manifestOf(goodMembers)
	f.Add(archive(f, &good, goodEntries()...))
	f.Add(archive(f, &good, append(goodEntries(), entry{name: "../evil", body: "x"})...))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "new")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		m, err := Extract(bytes.NewReader(data), dir)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrMember) && !errors.Is(err, ErrHash) {
				t.Fatalf("untyped error: %v", err)
			}
			assertNothing(t, parent, dir)
			return
		}
		n := 0
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				t.Error(err)
			case d.Type().IsRegular():
				n++
			case !d.IsDir():
				t.Errorf("not a regular file: %s", p)
			}
			return nil
		})
		if n != len(m.Members) {
			t.Fatalf("%d files for %d members", n, len(m.Members))
		}
	})
}

// TestCollectLeavesOut: a KMC directory's backup holds its configuration
// and custody files, and never the live database, the gateway's queue (in
// flight, and torn if copied live), the kept checkpoint, a PIN file,
// hidden files or the unseal sockets' directory entries.
func TestCollectLeavesOut(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"kmc.json", "gateway.json", "keystore/keystore.json", "keystore/kmc-1.key",
		"kmc.db", "kmc.db-wal", "gateway.db", "gateway.db-wal", "gateway.db-shm", "keystore/audit-checkpoint",
		"pkcs11-pin", ".hidden", "run/.lock"} {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	files, err := collect(Component{Kind: KindKMC, Dir: dir, ConfigFile: "kmc.json", DBFile: "kmc.db"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Name)
	}
	want := "gateway.json keystore/keystore.json keystore/kmc-1.key kmc.json"
	if strings.Join(got, " ") != want {
		t.Fatalf("backed up %v, want %s", got, want)
	}
}
