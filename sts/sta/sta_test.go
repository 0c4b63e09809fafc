package sta

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/testvec"
)

// testTablesPath holds a table set copied from
// the project's shared vectors/sta-test-tables.json: seeded random permutations for
// testing the STA structure only; not STSA production tables.
const testTablesPath = "testdata/sta-test-tables.json"

// katPath holds known answers under the test tables, computed by refEncrypt
// (see its provenance field). They pin regressions; the independent pin of
// the STA structure is the token vectors, checked by the token pipeline.
const katPath = "testdata/sta-test-kat.json"

// refEncrypt is the reference implementation: EA07 encryption written bit by
// bit from the pseudocode of the vectors README, sharing no code with the
// package except the JSON shape of the tables.
func refEncrypt(tf *tableFile, key, block uint64) uint64 {
	k := ^key>>12 | ^key<<52 // ROR64(^K, 12)
	for range 16 {
		var substituted uint64
		for n := range 16 {
			nibble := block >> (4 * n) & 0xf
			sbox := tf.S1
			if k>>(4*n+3)&1 == 1 {
				sbox = tf.S2
			}
			substituted |= uint64(sbox[nibble]) << (4 * n)
		}
		var permuted uint64
		for i := range 64 {
			if substituted>>i&1 == 1 {
				permuted |= 1 << tf.P[i]
			}
		}
		block = permuted
		k = k<<1 | k>>63 // ROL64(k, 1)
	}
	return block
}

// readTableFile decodes the table file at path for the reference and loads
// it with LoadTables.
func readTableFile(t testing.TB, path string) (*tableFile, *Tables) {
	t.Helper()
	var tf tableFile
	testvec.Load(t, path, &tf)
	tab, err := LoadTables(path)
	if err != nil {
		t.Fatal(err)
	}
	return &tf, tab
}

// checkAgainstReference compares the cipher with refEncrypt and checks that
// decryption inverts encryption, for random keys and blocks.
func checkAgainstReference(t *testing.T, tf *tableFile, tab *Tables) {
	rng := rand.New(rand.NewPCG(0x5354, 0x4137))
	for range 3000 {
		key, block := rng.Uint64(), rng.Uint64()
		c := tab.NewCipher64(key)
		ct := c.Encrypt64(block)
		if want := refEncrypt(tf, key, block); ct != want {
			t.Fatalf("key %016x: Encrypt64(%016x) = %016x, reference %016x", key, block, ct, want)
		}
		if got := c.Decrypt64(ct); got != block {
			t.Fatalf("key %016x: Decrypt64(%016x) = %016x, want %016x", key, ct, got, block)
		}
		if got := c.Encrypt64(c.Decrypt64(block)); got != block {
			t.Fatalf("key %016x: Encrypt64(Decrypt64(%016x)) = %016x", key, block, got)
		}
		checkBlockAPI(t, tab, key, block, ct)
	}
}

// checkBlockAPI checks the byte interface against the known answer
// (key, plaintext, ciphertext), decrypting in place.
func checkBlockAPI(t *testing.T, tab *Tables, key, plaintext, ciphertext uint64) {
	t.Helper()
	c, err := tab.NewCipher(binary.BigEndian.AppendUint64(nil, key))
	if err != nil {
		t.Fatal(err)
	}
	buf := binary.BigEndian.AppendUint64(nil, plaintext)
	c.Encrypt(buf, buf)
	if got := binary.BigEndian.Uint64(buf); got != ciphertext {
		t.Fatalf("key %016x: Encrypt(%016x) = %016x, want %016x", key, plaintext, got, ciphertext)
	}
	c.Decrypt(buf, buf)
	if got := binary.BigEndian.Uint64(buf); got != plaintext {
		t.Fatalf("key %016x: Decrypt(%016x) = %016x, want %016x", key, ciphertext, got, plaintext)
	}
}

func TestCipherMatchesReference(t *testing.T) {
	tf, tab := readTableFile(t, testTablesPath)
	checkAgainstReference(t, tf, tab)
}

func TestProductionTables(t *testing.T) {
	path := os.Getenv("STSKMS_STA_TABLES")
	if path == "" {
		t.Skip("STSKMS_STA_TABLES not set: production-table STA tests skipped")
	}
	tf, tab := readTableFile(t, path)
	checkAgainstReference(t, tf, tab)
	t.Logf("production tables loaded, fingerprint %s", tab.Fingerprint())
}

type katFile struct {
	Provenance        string `json:"provenance"`
	Tables            string `json:"tables"`
	TablesFingerprint string `json:"tables_fingerprint"`
	Vectors           []struct {
		ID         string `json:"id"`
		Key        string `json:"key"`
		Plaintext  string `json:"plaintext"`
		Ciphertext string `json:"ciphertext"`
	} `json:"vectors"`
}

func TestKnownAnswers(t *testing.T) {
	var kat katFile
	testvec.Load(t, katPath, &kat)
	tf, tab := readTableFile(t, filepath.Join("testdata", kat.Tables))
	if got := tab.Fingerprint(); got != kat.TablesFingerprint {
		t.Fatalf("Fingerprint() = %s, want %s", got, kat.TablesFingerprint)
	}
	if len(kat.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range kat.Vectors {
		t.Run(v.ID, func(t *testing.T) {
			key, plaintext, ciphertext := hex64(t, v.Key), hex64(t, v.Plaintext), hex64(t, v.Ciphertext)
			if got := refEncrypt(tf, key, plaintext); got != ciphertext {
				t.Errorf("reference gives %016x, want %016x", got, ciphertext)
			}
			checkBlockAPI(t, tab, key, plaintext, ciphertext)
		})
	}
}

func hex64(t *testing.T, s string) uint64 {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 8 {
		t.Fatalf("bad 64-bit hex %q", s)
	}
	return binary.BigEndian.Uint64(b)
}

func TestRekey(t *testing.T) {
	_, tab := readTableFile(t, testTablesPath)
	const key1, key2, block = 0x0123456789abcdef, 0xfedcba9876543210, 0x1122334455667788
	c := tab.NewCipher64(key1)
	c.Rekey(key2)
	if got, want := c.Encrypt64(block), tab.NewCipher64(key2).Encrypt64(block); got != want {
		t.Errorf("after Rekey: Encrypt64 = %016x, want %016x", got, want)
	}
}

func TestNoAllocations(t *testing.T) {
	_, tab := readTableFile(t, testTablesPath)
	c := tab.NewCipher64(0x0123456789abcdef)
	for name, f := range map[string]func(){
		"Encrypt64": func() { c.Encrypt64(1) },
		"Decrypt64": func() { c.Decrypt64(1) },
		"Rekey":     func() { c.Rekey(2) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
}

func TestNewCipherKeySize(t *testing.T) {
	_, tab := readTableFile(t, testTablesPath)
	for _, n := range []int{0, 7, 9, 16} {
		_, err := tab.NewCipher(make([]byte, n))
		var kse KeySizeError
		if !errors.As(err, &kse) || int(kse) != n {
			t.Errorf("NewCipher(%d bytes) error = %v, want KeySizeError(%d)", n, err, n)
		}
	}
}

func TestShortBlockPanics(t *testing.T) {
	_, tab := readTableFile(t, testTablesPath)
	c := tab.NewCipher64(0)
	full, short := make([]byte, 8), make([]byte, 7)
	for name, f := range map[string]func(){
		"Encrypt short src": func() { c.Encrypt(full, short) },
		"Encrypt short dst": func() { c.Encrypt(short, full) },
		"Decrypt short src": func() { c.Decrypt(full, short) },
		"Decrypt short dst": func() { c.Decrypt(short, full) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}

func TestFingerprint(t *testing.T) {
	tf, tab := readTableFile(t, testTablesPath)
	var canonical []byte
	for _, v := range slices.Concat(tf.S1, tf.S2, tf.P) {
		canonical = append(canonical, byte(v))
	}
	sum := sha256.Sum256(canonical)
	if got, want := tab.Fingerprint(), hex.EncodeToString(sum[:8]); got != want {
		t.Errorf("Fingerprint() = %s, want %s", got, want)
	}

	swapped, err := ParseTables(tableVariant(t, func(m map[string]any) {
		s1 := m["s1"].([]any)
		s1[0], s1[1] = s1[1], s1[0]
	}))
	if err != nil {
		t.Fatal(err)
	}
	if swapped.Fingerprint() == tab.Fingerprint() {
		t.Error("different tables have the same fingerprint")
	}
}

// tableVariant returns the test table file after edit has changed its
// decoded JSON object.
func tableVariant(t testing.TB, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	testvec.Load(t, testTablesPath, &m)
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// setEntry returns an edit that sets entry i of table name to v.
func setEntry(name string, i int, v any) func(map[string]any) {
	return func(m map[string]any) { m[name].([]any)[i] = v }
}

// copyEntry returns an edit that makes entry i of table name repeat entry 0.
func copyEntry(name string, i int) func(map[string]any) {
	return func(m map[string]any) {
		table := m[name].([]any)
		table[i] = table[0]
	}
}

// resize returns an edit that gives table name n entries.
func resize(name string, n int) func(map[string]any) {
	return func(m map[string]any) {
		table := m[name].([]any)
		m[name] = append(table, table...)[:n]
	}
}

// invalidTable is a table file that ParseTables must reject.
type invalidTable struct {
	name    string
	edit    func(map[string]any) // applied to the test tables; nil means use raw
	raw     string
	wantMsg string
}

// data returns the file content of c.
func (c invalidTable) data(t testing.TB) []byte {
	if c.edit == nil {
		return []byte(c.raw)
	}
	return tableVariant(t, c.edit)
}

var invalidTables = []invalidTable{
	{name: "missing s1", edit: func(m map[string]any) { delete(m, "s1") }, wantMsg: "s1 is missing"},
	{name: "null s2", edit: func(m map[string]any) { m["s2"] = nil }, wantMsg: "s2 is missing"},
	{name: "missing p", edit: func(m map[string]any) { delete(m, "p") }, wantMsg: "p is missing"},
	{name: "short s1", edit: resize("s1", 15), wantMsg: "s1 has 15 entries, want 16"},
	{name: "long s2", edit: resize("s2", 17), wantMsg: "s2 has 17 entries, want 16"},
	{name: "short p", edit: resize("p", 63), wantMsg: "p has 63 entries, want 64"},
	{name: "s1 entry 16", edit: setEntry("s1", 3, 16), wantMsg: "s1[3] is out of range 0..15"},
	{name: "s2 entry -1", edit: setEntry("s2", 0, -1), wantMsg: "s2[0] is out of range 0..15"},
	{name: "p entry 64", edit: setEntry("p", 63, 64), wantMsg: "p[63] is out of range 0..63"},
	{name: "s1 repeats", edit: copyEntry("s1", 5), wantMsg: "s1 is not a permutation of 0..15"},
	{name: "s2 repeats", edit: copyEntry("s2", 15), wantMsg: "s2 is not a permutation of 0..15"},
	{name: "p repeats", edit: copyEntry("p", 40), wantMsg: "p is not a permutation of 0..63"},
	{name: "fractional entry", edit: setEntry("s1", 0, 1.5), wantMsg: "cannot unmarshal"},
	{name: "string table", edit: func(m map[string]any) { m["p"] = "0..63" }, wantMsg: "cannot unmarshal"},
	{name: "empty file", raw: "", wantMsg: "unexpected end of JSON input"},
	{name: "truncated JSON", raw: `{"s1": [0, 1,`, wantMsg: "unexpected end of JSON input"},
	{name: "syntax error", raw: `{"s1": [0, 1,]}`, wantMsg: "invalid character"},
	{name: "array", raw: `[]`, wantMsg: "cannot unmarshal array"},
	{name: "null", raw: `null`, wantMsg: "s1 is missing"},
}

func TestParseTablesRejects(t *testing.T) {
	for _, c := range invalidTables {
		t.Run(c.name, func(t *testing.T) {
			tab, err := ParseTables(c.data(t))
			if !errors.Is(err, ErrInvalidTables) {
				t.Fatalf("ParseTables = %v, %v; want error wrapping ErrInvalidTables", tab, err)
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Errorf("error %q does not mention %q", err, c.wantMsg)
			}
		})
	}
}

func TestLoadTablesMissingFile(t *testing.T) {
	_, err := LoadTables(filepath.Join(t.TempDir(), "absent.json"))
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalidTables) {
		t.Errorf("LoadTables(absent file) error = %v, want a not-exist error", err)
	}
}

func FuzzParseTables(f *testing.F) {
	valid, err := os.ReadFile(testTablesPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(bytes.ReplaceAll(valid, []byte(`"s1"`), []byte(`"S1"`)))
	for _, c := range invalidTables {
		f.Add(c.data(f))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := ParseTables(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidTables) {
				t.Fatalf("error %v does not wrap ErrInvalidTables", err)
			}
			return
		}
		var tf tableFile
		if err := json.Unmarshal(data, &tf); err != nil {
			t.Fatalf("accepted file does not decode: %v", err)
		}
		const key, block = 0x0123456789abcdef, 0x0011223344556677
		c := tab.NewCipher64(key)
		ct := c.Encrypt64(block)
		if want := refEncrypt(&tf, key, block); ct != want {
			t.Fatalf("Encrypt64 = %016x, reference %016x", ct, want)
		}
		if got := c.Decrypt64(ct); got != block {
			t.Fatalf("Decrypt64(Encrypt64(%016x)) = %016x", block, got)
		}
	})
}

func benchCipher(b *testing.B) (*Tables, *Cipher) {
	tab, err := LoadTables(testTablesPath)
	if err != nil {
		b.Fatal(err)
	}
	return tab, tab.NewCipher64(0x0123456789abcdef)
}

func BenchmarkEncrypt64(b *testing.B) {
	_, c := benchCipher(b)
	b.ReportAllocs()
	var x uint64
	for b.Loop() {
		x = c.Encrypt64(x)
	}
}

func BenchmarkDecrypt64(b *testing.B) {
	_, c := benchCipher(b)
	b.ReportAllocs()
	var x uint64
	for b.Loop() {
		x = c.Decrypt64(x)
	}
}

// sinkCipher makes BenchmarkNewCipher64 measure a heap-allocated cipher.
var sinkCipher *Cipher

func BenchmarkNewCipher64(b *testing.B) {
	tab, _ := benchCipher(b)
	b.ReportAllocs()
	var key uint64
	for b.Loop() {
		sinkCipher = tab.NewCipher64(key)
		key++
	}
}

// BenchmarkRekeyEncrypt64 measures a fresh key for every block, as when each
// token has its own decoder key.
func BenchmarkRekeyEncrypt64(b *testing.B) {
	_, c := benchCipher(b)
	b.ReportAllocs()
	var x uint64
	for b.Loop() {
		c.Rekey(x)
		x = c.Encrypt64(x)
	}
}
