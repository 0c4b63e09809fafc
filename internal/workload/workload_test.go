package workload

import (
	"os"
	"testing"

	"github.com/stskms/stskms/sts/sta"
)

// TestDigests checks the digests of docs/bench-workload.md at the default
// sizes: the MISTY1 cases always, the STA cases when STSKMS_STA_TABLES
// names the production tables.
func TestDigests(t *testing.T) {
	var tables *sta.Tables
	if path := os.Getenv("STSKMS_STA_TABLES"); path != "" {
		var err error
		if tables, err = sta.LoadTables(path); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			if c.NeedsSTA() && tables == nil {
				t.Skip("STSKMS_STA_TABLES not set: EA07 digest needs the production STA tables")
			}
			n := c.DefaultN
			if testing.Short() && !c.DeriveEach {
				t.Skip("short mode: reuse-key digests take 100 000 tokens")
			}
			r, err := Run(c, n, 0, tables)
			if err != nil {
				t.Fatal(err)
			}
			if r.Digest != c.Digest {
				t.Errorf("digest %s, want %s", r.Digest, c.Digest)
			}
		})
	}
}

// TestFirstTokens pins the first two tokens of the MISTY1 cases (from the
// workload file) and the PANs of the derive-each meters.
func TestFirstTokens(t *testing.T) {
	for i, want := range []string{"600727040000000021", "600727040000000104"} {
		p, err := meterPAN(i)
		if err != nil || p.String() != want {
			t.Errorf("meterPAN(%d) = %v, %v; want %s", i, p, err, want)
		}
	}
	for _, c := range Cases()[2:] {
		r, err := newRunner(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][2]string{
			"misty1_dkga04_derive_each": {"24084290232426370334", "70668062803819325098"},
			"misty1_dkga04_reuse_key":   {"04549400352236197817", "50100355224688739217"},
		}[c.Name]
		for i := range 2 {
			tok, err := r.token(i)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(tok[:20]); got != want[i] {
				t.Errorf("%s token %d = %s, want %s", c.Name, i, got, want[i])
			}
		}
	}
}

// TestSTATestTables runs the STA cases with the test tables: the digest
// differs from the production one but the work is the same.
func TestSTATestTables(t *testing.T) {
	for _, c := range Cases()[:2] {
		if _, err := Run(c, 100, 10, sta.TestTables()); err != nil {
			t.Fatal(err)
		}
	}
}
