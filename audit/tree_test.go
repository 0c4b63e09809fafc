package audit_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/audit/audittest"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// mth is the RFC 6962 Merkle tree hash of the leaves whose data are
// hashes, computed from the RFC, independently of the package.
func mth(data [][32]byte) [32]byte {
	switch len(data) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return sha256.Sum256(append([]byte{0}, data[0][:]...))
	}
	k := 1
	for k*2 < len(data) {
		k *= 2
	}
	l, r := mth(data[:k]), mth(data[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

// signer makes an audit key for l: its signer and verifier.
func signer(t testing.TB, l *audit.Log) (audit.Signer, note.Verifier) {
	t.Helper()
	s, vkey := audittest.Key(t, l)
	v, err := audit.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// checkpoint returns a checkpoint of l signed by s, or fails t.
func checkpoint(t testing.TB, l *audit.Log, s audit.Signer) []byte {
	t.Helper()
	cp, _, err := l.Checkpoint(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// rawSQL runs q on the log's tables as someone with database access, after
// dropping the append-only triggers as they could.
func rawSQL(t *testing.T, db *store.DB, q string, args ...any) {
	t.Helper()
	ctx := context.Background()
	for _, tab := range []string{"audit_log", "audit_checkpoint", "audit_key"} {
		var off []string
		switch db.Dialect() {
		case store.SQLite:
			off = []string{`DROP TRIGGER IF EXISTS ` + tab + `_no_update`, `DROP TRIGGER IF EXISTS ` + tab + `_no_delete`}
		case store.PostgreSQL:
			off = []string{`ALTER TABLE ` + tab + ` DISABLE TRIGGER USER`}
		}
		for _, s := range off {
			db.Exec(ctx, s) // the table may not exist (schema step 1)
		}
	}
	if _, err := db.Exec(ctx, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// hashes returns the Hash of every record of l.
func hashes(t *testing.T, l *audit.Log) [][32]byte {
	var hs [][32]byte
	for _, r := range records(t, l) {
		hs = append(hs, r.Hash)
	}
	return hs
}

// TestTreeRoot appends by every path and checks the tree against the
// RFC 6962 root of the records' hashes, after each step, with Check and
// VerifyTree.
func TestTreeRoot(t *testing.T) {
	eachLog(t, func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log) {
		check := func() {
			t.Helper()
			want := mth(hashes(t, l))
			quick, err := l.Check(ctx)
			if err != nil || quick.Root != want {
				t.Fatalf("Check: root %x, %v; want %x", quick.Root, err, want)
			}
			full, err := l.VerifyTree(ctx, nil)
			if err != nil || full.Root != want || full.Records != quick.Records {
				t.Fatalf("VerifyTree: %d records, root %x, %v; want %d, %x", full.Records, full.Root, err, quick.Records, want)
			}
		}
		check()
		appendN(t, l, 5)
		check()
		for _, n := range []int{1, 7, 16, 3} {
			if err := l.Tx(ctx, func(tx *store.Tx) error {
				es := make([]audit.Entry, n)
				for i := range es {
					es[i] = entry(i)
				}
				_, err := l.AppendBatch(ctx, tx, es)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			check()
		}
		// Another handle, whose guess is stale, appends in between.
		other := openLog(t, db)
		appendN(t, other, 3)
		if err := l.Tx(ctx, func(tx *store.Tx) error {
			_, err := l.AppendBatch(ctx, tx, []audit.Entry{entry(1), entry(2)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		check()
		// A rolled-back append leaves no tree behind.
		boom := errors.New("boom")
		if err := l.Tx(ctx, func(tx *store.Tx) error {
			if _, err := l.AppendBatch(ctx, tx, []audit.Entry{entry(1)}); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatal(err)
		}
		appendN(t, l, 2)
		check()
	})
}

// TestCheckpointCaught keeps a signed checkpoint outside the database,
// then changes the log as someone with database access could, and checks
// that VerifyTree refuses it with the exact problem, where Verify (the
// chain alone) cannot tell.
func TestCheckpointCaught(t *testing.T) {
	const n = 8
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, db *store.DB, l *audit.Log, rs []audit.Record)
		kind error
	}{
		{"tail removed, head rewound", func(t *testing.T, db *store.DB, _ *audit.Log, rs []audit.Record) {
			rawSQL(t, db, `DELETE FROM audit_log WHERE seq > 7`)
			rawSQL(t, db, `DELETE FROM audit_checkpoint`)
			rawSQL(t, db, `UPDATE audit_head SET seq = 7, hash = $1`, rs[6].Hash[:])
		}, audit.ErrRolledBack},
		{"rolled back, then grown again (fork)", func(t *testing.T, db *store.DB, _ *audit.Log, rs []audit.Record) {
			rawSQL(t, db, `DELETE FROM audit_log WHERE seq > 5`)
			rawSQL(t, db, `DELETE FROM audit_checkpoint`)
			rawSQL(t, db, `UPDATE audit_head SET seq = 5, hash = $1`, rs[4].Hash[:])
			appendN(t, openLog(t, db), 6)
		}, audit.ErrForked},
		{"all rewritten", func(t *testing.T, db *store.DB, _ *audit.Log, rs []audit.Record) {
			rawSQL(t, db, `DELETE FROM audit_log`)
			rawSQL(t, db, `DELETE FROM audit_checkpoint`)
			rawSQL(t, db, `UPDATE audit_head SET seq = 0, hash = $1`, rs[0].Prev[:])
			appendN(t, openLog(t, db), n)
		}, audit.ErrForked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachLog(t, func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log) {
				s, v := signer(t, l)
				rs := appendN(t, l, n-1) // and the key's record
				rs = append([]audit.Record{records(t, l)[0]}, rs...)
				kept, c, err := l.Checkpoint(ctx, s)
				if err != nil || c.Size != n {
					t.Fatalf("Checkpoint: size %d, %v", c.Size, err)
				}
				tc.edit(t, db, l, rs)
				if _, err := l.Verify(ctx); err != nil {
					t.Fatalf("the chain alone: %v; want verified (the edit is consistent)", err)
				}
				_, err = l.VerifyTree(ctx, v, kept)
				var ce *audit.CheckpointError
				if !errors.Is(err, tc.kind) || !errors.As(err, &ce) || ce.Size != n {
					t.Fatalf("VerifyTree: %v; want %v", err, tc.kind)
				}
				t.Log(err)
			})
		})
	}
}

// TestCheckAtOpen checks that the quick check refuses a fork of the log
// against the checkpoint kept in the database, and a tree that does not
// end with the last record.
func TestCheckAtOpen(t *testing.T) {
	eachLog(t, func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log) {
		s, _ := signer(t, l)
		rs := appendN(t, l, 6)
		checkpoint(t, l, s)
		appendN(t, l, 3)
		if _, err := l.Check(ctx); err != nil {
			t.Fatalf("Check of a grown log: %v", err)
		}
		// Rolled back behind the kept checkpoint.
		rawSQL(t, db, `DELETE FROM audit_log WHERE seq > 4`)
		rawSQL(t, db, `UPDATE audit_head SET seq = 4, hash = $1`, rs[2].Hash[:])
		if _, err := l.Check(ctx); !errors.Is(err, audit.ErrRolledBack) {
			t.Fatalf("Check of a rolled-back log: %v; want ErrRolledBack", err)
		}
		appendN(t, openLog(t, db), 5)
		if _, err := l.Check(ctx); !errors.Is(err, audit.ErrForked) {
			t.Fatalf("Check of a forked log: %v; want ErrForked", err)
		}
		// The last record edited: its hash tells.
		rawSQL(t, db, `DELETE FROM audit_checkpoint`)
		if _, err := l.Check(ctx); err != nil {
			t.Fatalf("Check without a checkpoint: %v", err)
		}
		rawSQL(t, db, `UPDATE audit_log SET subject = 'edited' WHERE seq = 9`)
		if _, err := l.Check(ctx); !errors.Is(err, audit.ErrEdited) {
			t.Fatalf("Check of a log whose last record is edited: %v; want ErrEdited", err)
		}
	})
}

// TestCheckExtends: a checkpoint kept outside the database catches, at
// open and in logarithmic time, a database put back in time (a restored
// backup: records, tree and the checkpoints kept in it, all consistent)
// and one grown again since; a forged one is refused.
func TestCheckExtends(t *testing.T) {
	eachLog(t, func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log) {
		s, v := signer(t, l)
		rs := appendN(t, l, 5)
		checkpoint(t, l, s)
		appendN(t, l, 4)
		kept := checkpoint(t, l, s)
		if _, err := l.CheckExtends(ctx, kept, nil); err != nil {
			t.Fatalf("CheckExtends of the log itself: %v", err)
		}
		appendN(t, l, 2)
		if _, err := l.CheckExtends(ctx, kept, v); err != nil {
			t.Fatalf("CheckExtends of a grown log: %v", err)
		}
		// The database as it was after record 5 (and its checkpoint).
		rawSQL(t, db, `DELETE FROM audit_log WHERE seq > 6`)
		rawSQL(t, db, `DELETE FROM audit_checkpoint WHERE size > 6`)
		rawSQL(t, db, `UPDATE audit_head SET seq = 6, hash = $1`, rs[4].Hash[:])
		if _, err := l.Check(ctx); err != nil {
			t.Fatalf("Check of the restored database alone: %v", err)
		}
		if _, err := l.CheckExtends(ctx, kept, v); !errors.Is(err, audit.ErrRolledBack) {
			t.Fatalf("CheckExtends of a restored database: %v; want ErrRolledBack", err)
		}
		appendN(t, openLog(t, db), 8)
		if _, err := l.CheckExtends(ctx, kept, v); !errors.Is(err, audit.ErrForked) {
			t.Fatalf("CheckExtends of a restored, then grown database: %v; want ErrForked", err)
		}
		if _, err := l.CheckExtends(ctx, bytes.Replace(kept, []byte("\n10\n"), []byte("\n1\n"), 1), v); !errors.Is(err, audit.ErrBadCheckpoint) {
			t.Fatalf("CheckExtends of an altered checkpoint: %v; want ErrBadCheckpoint", err)
		}
	})
}

// TestForgedCheckpoint checks that checkpoints not signed by the log's
// audit key, or altered, are refused and name the problem.
func TestForgedCheckpoint(t *testing.T) {
	eachLog(t, func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log) {
		s, v := signer(t, l)
		appendN(t, l, 4)
		good := checkpoint(t, l, s)
		if _, err := l.VerifyTree(ctx, v, good); err != nil {
			t.Fatalf("VerifyTree with its checkpoint: %v", err)
		}
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		mallory, _ := audit.NewECDSASigner(l.Origin(), priv)
		text, _, _ := strings.Cut(string(good), "\n\n")
		forged, err := note.Sign(&note.Note{Text: text + "\n"}, mallory)
		if err != nil {
			t.Fatal(err)
		}
		altered := bytes.Replace(good, []byte("\n5\n"), []byte("\n4\n"), 1)
		sig := bytes.LastIndex(good, []byte(" ")) + 5
		flipped := bytes.Clone(good)
		flipped[sig] ^= 'A' ^ 'B'
		for name, cp := range map[string][]byte{"other key": forged, "size altered": altered,
			"signature altered": flipped, "not a note": []byte("hello\n")} {
			_, err := l.VerifyTree(ctx, v, cp)
			var ce *audit.CheckpointError
			if !errors.As(err, &ce) || ce.Kind != audit.BadCheckpoint {
				t.Errorf("%s: %v; want a bad checkpoint", name, err)
			}
		}
	})
}

// TestProof proves records against the latest checkpoint and checks the
// proofs offline; altered proofs are refused.
func TestProof(t *testing.T) {
	eachLog(t, func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log) {
		s, v := signer(t, l)
		if _, err := l.Prove(ctx, 1); !errors.Is(err, audit.ErrNoCheckpoint) {
			t.Fatalf("Prove without a checkpoint: %v", err)
		}
		appendN(t, l, 10)
		checkpoint(t, l, s)
		for seq := int64(1); seq <= 11; seq++ {
			p, err := l.Prove(ctx, seq)
			if err != nil {
				t.Fatalf("Prove(%d): %v", seq, err)
			}
			text := p.Marshal()
			if _, err := audit.CheckProof(text, v); err != nil {
				t.Fatalf("CheckProof(%d): %v\n%s", seq, err, text)
			}
			if seq != 7 {
				continue
			}
			t.Logf("%s", text)
			for name, bad := range map[string][]byte{
				"record altered": bytes.Replace(text, []byte("vending:node-1"), []byte("vending:node-2"), 1),
				"seq altered":    bytes.Replace(text, []byte("seq 7\n"), []byte("seq 6\n"), 1),
				"path dropped":   bytes.Replace(text, []byte("path "), []byte("xpath "), 1),
			} {
				if _, err := audit.CheckProof(bad, v); err == nil {
					t.Errorf("%s: CheckProof passed", name)
				}
			}
		}
		if _, err := l.Prove(ctx, 12); !errors.Is(err, audit.ErrNoCheckpoint) {
			t.Fatalf("Prove past the checkpoint: %v", err)
		}
	})
}

// TestMigrateChain makes a database with the code of schema step 1 (the
// hash chain alone), then opens it with this version: the tree is built
// from the existing records. A database whose chain is broken is not
// migrated.
func TestMigrateChain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, "audit", audit.MigrationsV1); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			es := make([]audit.Entry, i+1)
			for j := range es {
				es[j] = entry(10*i + j)
			}
			if err := audit.AppendV1(ctx, db, t0, es); err != nil {
				t.Fatal(err)
			}
		}
		l := openLog(t, db)
		rep, err := l.VerifyTree(ctx, nil)
		if err != nil || rep.Records != 15 || rep.Root != mth(hashes(t, l)) {
			t.Fatalf("VerifyTree after migration: %d records, %v", rep.Records, err)
		}
		appendN(t, l, 3)
		if _, err := l.VerifyTree(ctx, nil); err != nil {
			t.Fatalf("VerifyTree after appends: %v", err)
		}
	})
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, "audit", audit.MigrationsV1); err != nil {
			t.Fatal(err)
		}
		if err := audit.AppendV1(ctx, db, t0, []audit.Entry{entry(1), entry(2), entry(3)}); err != nil {
			t.Fatal(err)
		}
		rawSQL(t, db, `UPDATE audit_log SET actor = 'mallory' WHERE seq = 2`)
		if _, err := audit.Open(ctx, db); !errors.Is(err, audit.ErrEdited) {
			t.Fatalf("Open of a broken chain: %v; want ErrEdited", err)
		}
		if _, err := db.Exec(ctx, `SELECT tree FROM audit_log`); err == nil {
			t.Error("the tree's column was made although the migration failed")
		}
	})
}

// TestTreeTamper edits the tree hashes stored with a record, as someone
// could to make a proof of a record that is not there: VerifyTree, which
// recomputes every stored hash, names the record; the quick check sees a
// root that no longer extends the kept checkpoint.
func TestTreeTamper(t *testing.T) {
	eachLog(t, func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log) {
		s, v := signer(t, l)
		appendN(t, l, 7)
		checkpoint(t, l, s)
		// Record 8 (7 and the key's) completes the subtrees of levels 1
		// to 3: the whole tree of the checkpoint.
		junk := bytes.Repeat([]byte{0x5a}, 96)
		rawSQL(t, db, `UPDATE audit_log SET tree = $1 WHERE seq = 8`, junk)
		_, err := l.VerifyTree(ctx, v)
		var ce *audit.ChainError
		if !errors.As(err, &ce) || ce.Kind != audit.Edited || ce.Seq != 8 {
			t.Fatalf("VerifyTree of an edited tree: %v; want edited at record 8", err)
		}
		if _, err := l.Check(ctx); !errors.Is(err, audit.ErrForked) {
			t.Fatalf("Check of an edited tree: %v; want ErrForked", err)
		}
	})
}

// FuzzCheckProof: the parsers of proofs, checkpoints and verifier keys
// refuse anything malformed with an error, never a panic.
func FuzzCheckProof(f *testing.F) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	vkey, _ := audit.VerifierKey("stskms/audit/00", &priv.PublicKey)
	v, err := audit.NewVerifier(vkey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("stskms audit inclusion proof v1\nseq 1\ntime_ns 0\nactor a\naction b\nsubject \ndetails {}\nprev AAAA\nhash AAAA\npath AAAA\n\nx\n1\nAAAA\n\n— x AAAA\n"))
	f.Add([]byte(vkey))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := audit.CheckProof(data, v); err == nil {
			t.Fatal("a fuzzed proof checked")
		}
		audit.OpenCheckpoint(data, v)
		audit.NewVerifier(string(data))
	})
}

// TestTreeConcurrent appends from several handles and goroutines at once,
// singly and in batches: the tree stays the one of the records.
func TestTreeConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		logs := []*audit.Log{openLog(t, db), openLog(t, db)}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				l := logs[g%2]
				for i := range 10 {
					var err error
					if i%2 == 0 {
						_, err = l.AppendNow(ctx, entry(i))
					} else {
						err = l.Tx(ctx, func(tx *store.Tx) error {
							_, err := l.AppendBatch(ctx, tx, []audit.Entry{entry(i), entry(i + 1), entry(i + 2)})
							return err
						})
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		l := logs[0]
		rep, err := l.VerifyTree(ctx, nil)
		if err != nil || rep.Records != 4*(5+15) || rep.Root != mth(hashes(t, l)) {
			t.Fatalf("VerifyTree: %d records, %v", rep.Records, err)
		}
	})
}
