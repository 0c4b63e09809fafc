package records_test

import (
	"crypto/ecdh"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// vectorFile holds the §3.7 vectors printed by ../shared/notes/kms-vectors.py
// (provenance inside; never edit an expected value).
const vectorFile = "testdata/kms-vectors.json"

// seedFile holds the seed records R1 and R2 of STS 600-9-2 §5.1.3.5 and
// §5.1.4.4 as reconstructed in kms-vectors.py.
const seedFile = "testdata/seed-records.json"

type vectorRecord struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Line string `json:"line"`
	CRC  string `json:"crc"`
}

type vectors struct {
	Provenance  string         `json:"provenance"`
	PubSM       string         `json:"pub_sm"`
	PubKMC      string         `json:"pub_kmc"`
	KMCID       string         `json:"kmcid"`
	KMCIDKH     string         `json:"kmcid_kh"`
	KMCIDCRC    string         `json:"kmcid_crc"`
	SMID        string         `json:"smid"`
	SMIDKH      string         `json:"smid_kh"`
	SMIDCRC     string         `json:"smid_crc"`
	Fingerprint string         `json:"fingerprint"`
	Records     []vectorRecord `json:"records"`
}

// record returns the vector record of the given name (PK_ECDH, VKLOAD_REQ,
// KLF_HDR, VK_REC, KLF_END).
func (v *vectors) record(tb testing.TB, name string) string {
	tb.Helper()
	for _, r := range v.Records {
		if r.Name == name {
			return r.Line
		}
	}
	tb.Fatalf("no vector record %s", name)
	return ""
}

type seedCRC struct {
	Field    string `json:"field"`
	Printed  string `json:"printed"`
	Computed string `json:"computed"`
}

type seedRecord struct {
	ID                 string    `json:"id"`
	Source             string    `json:"source"`
	Type               string    `json:"type"`
	Line               string    `json:"line"`
	CRCs               []seedCRC `json:"crcs"`
	PrintedFingerprint string    `json:"printed_fingerprint"`
}

type seeds struct {
	Provenance string       `json:"provenance"`
	Records    []seedRecord `json:"records"`
}

func (s *seeds) record(tb testing.TB, id string) seedRecord {
	tb.Helper()
	for _, r := range s.Records {
		if r.ID == id {
			return r
		}
	}
	tb.Fatalf("no seed record %s", id)
	return seedRecord{}
}

func loadJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

func loadVectors(tb testing.TB) *vectors {
	tb.Helper()
	var v vectors
	loadJSON(tb, vectorFile, &v)
	return &v
}

func loadSeeds(tb testing.TB) *seeds {
	tb.Helper()
	var s seeds
	loadJSON(tb, seedFile, &s)
	return &s
}

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustPub(tb testing.TB, hexPoint string) *ecdh.PublicKey {
	tb.Helper()
	k, err := ecdh.P384().NewPublicKey(mustHex(tb, hexPoint))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// field returns the i-th "|"-separated field of a record line (0 = type).
func field(line string, i int) string {
	return splitBar(line)[i]
}

func splitBar(line string) []string {
	var out []string
	start := 0
	for i := 0; i < len(line); i++ {
		if line[i] == '|' {
			out = append(out, line[start:i])
			start = i + 1
		}
	}
	return append(out, line[start:])
}

// replaceField returns line with field i replaced, CRC left as it was.
func replaceField(line string, i int, s string) string {
	parts := splitBar(line)
	parts[i] = s
	out := parts[0]
	for _, p := range parts[1:] {
		out += "|" + p
	}
	return out
}

// withCRC replaces the 4-digit CRC at the end of s with the correct one,
// computed independently of the package (bitwise CRC-16/MODBUS).
func withCRC(s string) string {
	body := s[:len(s)-4]
	return body + crcHex(body)
}

func crcHex(s string) string {
	crc := uint16(0xFFFF)
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i])
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[crc>>12], digits[crc>>8&0xF], digits[crc>>4&0xF], digits[crc&0xF]})
}
