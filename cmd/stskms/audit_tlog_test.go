package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/store"
)

// TestAuditTransparency runs the audit commands as an auditor would on a
// KMC: the verifier key read without custody, a checkpoint signed and kept
// outside, an inclusion proof checked offline; then the database is
// changed as someone with write access could — the tail cut with the head
// rewound (which the hash chain alone accepts), then the log grown again
// (a fork) — and forged checkpoints are given: each is refused, naming the
// problem.
func TestAuditTransparency(t *testing.T) {
	tmp := t.TempDir()
	dir := initTestKMC(t)
	file := func(name, data string) string {
		t.Helper()
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mustRunCLI(t, 0, "kmc", "sgc", "add", "--dir", dir, "--sgc", "600123")
	mustRunCLI(t, 0, "kmc", "sgc", "add", "--dir", dir, "--sgc", "600124")

	out, _ := mustRunCLI(t, 0, "audit", "key", "--dir", dir)
	key := strings.TrimSpace(out)
	if !regexp.MustCompile(`^stskms/audit/[0-9a-f]{32}\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+$`).MatchString(key) {
		t.Fatalf("audit key: %q", out)
	}
	if _, errOut := mustRunCLI(t, 0, "kmc", "pubkey", "--dir", dir); !strings.Contains(errOut, "audit key "+key+"\n") {
		t.Errorf("kmc pubkey does not show the audit key: %s", errOut)
	}
	cp, _ := mustRunCLI(t, 0, "audit", "checkpoint", "--dir", dir)
	if !regexp.MustCompile(`^stskms/audit/[0-9a-f]{32}\n\d+\n[A-Za-z0-9+/=]{44}\n\n— stskms/audit/`).MatchString(cp) {
		t.Fatalf("checkpoint: %q", cp)
	}
	cpFile := file("cp1", cp)
	keyFile := file("key", key+"\n")
	if out, _ := mustRunCLI(t, 0, "audit", "verify", "--dir", dir, "--checkpoint", cpFile, "--key", keyFile); !strings.Contains(out, "extends checkpoint "+cpFile) {
		t.Errorf("verify with the checkpoint: %s", out)
	}

	proof, _ := mustRunCLI(t, 0, "audit", "prove", "--dir", dir, "--seq", "2")
	proofFile := file("proof", proof)
	if out, _ := mustRunCLI(t, 0, "audit", "check-proof", "--proof", proofFile, "--key", key); !strings.HasPrefix(out, "proof verified: record 2 ") {
		t.Errorf("check-proof: %s", out)
	}
	altered := file("altered", strings.Replace(proof, "\nseq 2\n", "\nseq 3\n", 1))
	if _, errOut := mustRunCLI(t, 1, "audit", "check-proof", "--proof", altered, "--key", key); !strings.Contains(errOut, "proof NOT verified") {
		t.Errorf("altered proof: %s", errOut)
	}

	// Forged checkpoints: signed by another key of the same name, or
	// altered.
	v, err := audit.NewVerifier(key)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mallory, err := audit.NewECDSASigner(v.Name(), priv)
	if err != nil {
		t.Fatal(err)
	}
	text, _, _ := strings.Cut(cp, "\n\n")
	forged, err := note.Sign(&note.Note{Text: text + "\n"}, mallory)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(cp, "\n", 3)
	for name, data := range map[string]string{
		"forged":  string(forged),
		"altered": lines[0] + "\n" + "1" + lines[1] + "\n" + lines[2],
	} {
		_, errOut := mustRunCLI(t, 1, "audit", "verify", "--dir", dir, "--checkpoint", file(name, data), "--key", key)
		if !strings.Contains(errOut, "bad checkpoint") {
			t.Errorf("%s checkpoint: %s", name, errOut)
		}
	}

	// The tail cut and the head rewound, with the tree and the kept
	// checkpoints: the chain alone verifies, the kept checkpoint tells.
	size := tlogSize(t, cp)
	rewind(t, filepath.Join(dir, "kmc.db"), size-1)
	if out, _ := mustRunCLI(t, 0, "audit", "verify", "--dir", dir); !strings.HasPrefix(out, "audit log verified: ") {
		t.Fatalf("the rewound log without a checkpoint: %s", out)
	}
	if _, errOut := mustRunCLI(t, 1, "audit", "verify", "--dir", dir, "--checkpoint", cpFile, "--key", key); !strings.Contains(errOut, "rolled back") {
		t.Errorf("rewound log: %s", errOut)
	}
	// The KMC itself refuses the rewound database (it kept a checkpoint
	// in its keystore) until its officers accept it. Grown again past the
	// checkpoint: a fork.
	if _, errOut := mustRunCLI(t, 1, "kmc", "sgc", "add", "--dir", dir, "--sgc", "600125"); !strings.Contains(errOut, "rolled back") {
		t.Errorf("the KMC opened its rewound database: %s", errOut)
	}
	mustRunCLI(t, 0, "kmc", "accept-rollback", "--dir", dir)
	mustRunCLI(t, 0, "kmc", "sgc", "add", "--dir", dir, "--sgc", "600125")
	mustRunCLI(t, 0, "kmc", "sgc", "add", "--dir", dir, "--sgc", "600126")
	if _, errOut := mustRunCLI(t, 1, "audit", "verify", "--dir", dir, "--checkpoint", cpFile, "--key", key); !strings.Contains(errOut, "forked") {
		t.Errorf("forked log: %s", errOut)
	}
	mustRunCLI(t, 2, "audit", "checkpoint")
	mustRunCLI(t, 2, "audit", "prove", "--dir", dir)
	mustRunCLI(t, 2, "audit", "check-proof", "--proof", proofFile)
}

// tlogSize returns the size line of a checkpoint.
func tlogSize(t *testing.T, cp string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.Split(cp, "\n")[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// rewind removes the records of the log in the SQLite database at path
// past n (their tree hashes with them) and the checkpoints kept in the database, and
// sets the head back to record n, as someone with write access could.
func rewind(t *testing.T, path string, n int64) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"DROP TRIGGER audit_log_no_delete", "DROP TRIGGER audit_checkpoint_no_delete",
		"DELETE FROM audit_log WHERE seq > $1", "DELETE FROM audit_checkpoint",
		"UPDATE audit_head SET seq = $1, hash = (SELECT hash FROM audit_log WHERE seq = $1)",
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = []any{n}
		}
		if _, err := db.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
