package records_test

import (
	"crypto/ecdh"
	"fmt"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/testvec"
	"github.com/stskms/stskms/sts"
)

// vectorFile holds the §3.7 vectors printed by docs/notes/kms-vectors.py
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
	return lookup(tb, "vector record", name, v.Records, func(r vectorRecord) string { return r.Name }).Line
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
	return lookup(tb, "seed record", id, s.Records, func(r seedRecord) string { return r.ID })
}

// lookup returns the item of items whose key is name, or fails the test.
func lookup[T any](tb testing.TB, what, name string, items []T, key func(T) string) T {
	tb.Helper()
	for _, it := range items {
		if key(it) == name {
			return it
		}
	}
	tb.Fatalf("no %s %s", what, name)
	var zero T
	return zero
}

func loadVectors(tb testing.TB) *vectors {
	tb.Helper()
	var v vectors
	testvec.Load(tb, vectorFile, &v)
	return &v
}

func loadSeeds(tb testing.TB) *seeds {
	tb.Helper()
	var s seeds
	testvec.Load(tb, seedFile, &s)
	return &s
}

func mustPub(tb testing.TB, hexPoint string) *ecdh.PublicKey {
	tb.Helper()
	k, err := ecdh.P384().NewPublicKey(testvec.Hex(tb, hexPoint))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// field returns the i-th "|"-separated field of a record line (0 = type).
func field(line string, i int) string {
	return splitBar(line)[i]
}

func splitBar(line string) []string { return strings.Split(line, "|") }

// replaceField returns line with field i replaced, CRC left as it was.
func replaceField(line string, i int, s string) string {
	parts := splitBar(line)
	parts[i] = s
	return strings.Join(parts, "|")
}

// withCRC replaces the 4-digit CRC at the end of s with the correct one,
// computed outside the package by sts.CRC16Update, which the sts tests
// check against a bitwise CRC-16/MODBUS and its catalogue check value.
func withCRC(s string) string {
	body := s[:len(s)-4]
	return body + crcHex(body)
}

func crcHex(s string) string { return fmt.Sprintf("%04X", sts.CRC16Update(0xFFFF, s)) }
