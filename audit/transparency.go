package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/stskms/stskms/store"
)

// Origin returns the origin line of the log's checkpoints, which is also
// the name of its audit key: "stskms/audit/" and the log's id in hex.
func (l *Log) Origin() string { return origin(l.id) }

// ErrNoKey is returned by Key when the log has no audit key yet.
var ErrNoKey = errors.New("audit: the log has no audit key yet (open the module or KMC once with this version)")

// SetKey records the log's audit key, once, with a record of action
// "audit.key.create" in the same transaction: its verifier key (see
// VerifierKey), which anyone may read, and custodyKey, the name under
// which the component's custody holds its private key. If the log has a
// key already (another process was first), SetKey keeps it. It returns
// whether the key given was recorded.
func (l *Log) SetKey(ctx context.Context, verifier, custodyKey string) (bool, error) {
	v, err := NewVerifier(verifier)
	if err != nil {
		return false, err
	}
	if v.Name() != l.Origin() {
		return false, fmt.Errorf("%w: named %q, want %q", ErrVerifierKey, v.Name(), l.Origin())
	}
	set := false
	err = l.Tx(ctx, func(tx *store.Tx) error {
		set = false
		res, err := tx.Exec(ctx, `INSERT INTO audit_key (one, verifier, custody_key) VALUES (1, $1, $2) ON CONFLICT (one) DO NOTHING`,
			verifier, custodyKey)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return err
		}
		set = true
		_, err = l.Append(ctx, tx, Entry{Actor: "system", Action: "audit.key.create", Subject: l.Origin(),
			Details: map[string]any{"verifier": verifier, "custody_key": custodyKey}})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("audit: failed to record the audit key: %w", err)
	}
	return set, nil
}

// Key returns the log's verifier key and the name of its private key in
// the component's custody (ErrNoKey if there is none).
func (l *Log) Key(ctx context.Context) (verifier, custodyKey string, err error) {
	err = l.db.QueryRow(ctx, `SELECT verifier, custody_key FROM audit_key WHERE one = 1`).Scan(&verifier, &custodyKey)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", ErrNoKey
	}
	if err != nil {
		return "", "", fmt.Errorf("audit: failed to read the audit key: %w", err)
	}
	return verifier, custodyKey, nil
}

// Verifier returns the note verifier of the log's audit key, as the
// database holds it (ErrNoKey if none). An auditor compares its key with
// the one the component showed when it was commissioned, kept elsewhere.
func (l *Log) Verifier(ctx context.Context) (note.Verifier, error) {
	vkey, _, err := l.Key(ctx)
	if err != nil {
		return nil, err
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	if v.Name() != l.Origin() {
		return nil, fmt.Errorf("%w: named %q, want %q", ErrVerifierKey, v.Name(), l.Origin())
	}
	return v, nil
}

// Checkpoint checks the log as Check does, then signs with s a checkpoint
// of the log as it stands, keeps it in the database (the latest one is
// what Check and Prove start from) and returns it signed.
func (l *Log) Checkpoint(ctx context.Context, s Signer) ([]byte, Checkpoint, error) {
	rep, err := l.Check(ctx)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	if s.Name() != l.Origin() {
		return nil, Checkpoint{}, fmt.Errorf("audit: the signer is named %q, want %q", s.Name(), l.Origin())
	}
	c := Checkpoint{Origin: l.Origin(), Size: rep.Records, Root: rep.Root}
	signed, err := signCheckpoint(c, s)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	if _, err := l.db.Exec(ctx, `INSERT INTO audit_checkpoint (size, note) VALUES ($1, $2) ON CONFLICT (size) DO NOTHING`,
		c.Size, string(signed)); err != nil {
		return nil, Checkpoint{}, fmt.Errorf("audit: failed to keep the checkpoint: %w", err)
	}
	return signed, c, nil
}

// latestCheckpoint returns the latest checkpoint kept in the database,
// verified with v (nil and no error if there is none).
func (l *Log) latestCheckpoint(ctx context.Context, v note.Verifier) ([]byte, *Checkpoint, error) {
	var signed string
	err := l.db.QueryRow(ctx, `SELECT note FROM audit_checkpoint ORDER BY size DESC LIMIT 1`).Scan(&signed)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("audit: failed to read the latest checkpoint: %w", err)
	}
	c, err := l.openCheckpoint([]byte(signed), v)
	if err != nil {
		return nil, nil, err
	}
	return []byte(signed), &c, nil
}

// openCheckpoint is OpenCheckpoint, also checking the origin.
func (l *Log) openCheckpoint(signed []byte, v note.Verifier) (Checkpoint, error) {
	c, err := OpenCheckpoint(trimNote(signed), v)
	if err != nil {
		return c, err
	}
	if c.Origin != l.Origin() {
		return c, &CheckpointError{Size: c.Size, Kind: BadCheckpoint,
			Reason: fmt.Sprintf("of the log %q, not this one (%q)", c.Origin, l.Origin())}
	}
	return c, nil
}

// Check is the quick check of the log that opening a module or a KMC and
// the periodic self-test run, in time logarithmic in the log's size: the
// head names the last record, whose hash is that of its content, no
// record lies past it, and the tree's root extends the latest checkpoint
// kept in the database, whose signature verifies with the log's audit
// key. It does not read every record: Verify and VerifyTree do. The
// Report's Root is the tree's hash.
func (l *Log) Check(ctx context.Context) (Report, error) {
	h, err := l.readHead(ctx)
	if err != nil {
		return Report{}, err
	}
	rep := Report{LogID: h.id, Head: genesis(h.id)}
	if h.seq > 0 {
		var r Record
		err := scanRecord(l.db.QueryRow(ctx, selectRecords+`WHERE seq = $1`, h.seq), &r)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return rep, &ChainError{Seq: h.seq, Kind: Removed, Reason: "the head names a record that is missing"}
		case err != nil:
			return rep, err
		case hashRecord(r.Seq, r.Time.UnixNano(), r.Actor, r.Action, r.Subject, r.Details.(json.RawMessage), &r.Prev) != r.Hash:
			return rep, &ChainError{Seq: r.Seq, Kind: Edited, Reason: "hash does not match the content"}
		case r.Hash != h.hash:
			return rep, &ChainError{Seq: h.seq, Kind: Truncated, Reason: "the head's hash is not this record's"}
		}
	} else if h.hash != rep.Head {
		return rep, &ChainError{Kind: Truncated, Reason: "the head of the empty log is not its genesis value"}
	}
	if err := l.checkPastHead(ctx, h.seq); err != nil {
		return rep, err
	}
	r := dbHashes{ctx, l.db}
	root, err := tlog.TreeHash(h.seq, r)
	if err != nil {
		return rep, err
	}
	rep.Records, rep.Head, rep.Root = h.seq, h.hash, root
	if err := l.checkLatest(ctx, nil, h.seq, root, r); err != nil {
		return rep, err
	}
	return rep, nil
}

// CheckExtends is Check, and also checks, in logarithmic time, that the
// log extends kept, a signed checkpoint kept outside the database (in the
// component's custody, at a witness), whose signature must verify with v
// (nil: the log's audit key): the check of opening that catches a
// restored or rolled-back database (*CheckpointError of kind RolledBack
// or Forked).
func (l *Log) CheckExtends(ctx context.Context, kept []byte, v note.Verifier) (Report, error) {
	if v == nil {
		var err error
		if v, err = l.Verifier(ctx); err != nil {
			return Report{}, err
		}
	}
	c, err := l.openCheckpoint(kept, v)
	if err != nil {
		return Report{}, err
	}
	rep, err := l.Check(ctx)
	if err != nil {
		return rep, err
	}
	return rep, checkExtends(c, rep.Records, rep.Root, dbHashes{ctx, l.db})
}

// padHash returns b as a hash, zero if it is not 32 bytes long.
func padHash(b []byte) tlog.Hash {
	if len(b) != tlog.HashSize {
		return tlog.Hash{}
	}
	return tlog.Hash(b)
}

// checkPastHead checks that no record lies past the head's, seq (one
// appended since may: the head is read again).
func (l *Log) checkPastHead(ctx context.Context, seq int64) error {
	var last int64
	if err := l.db.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_log`).Scan(&last); err != nil {
		return fmt.Errorf("audit: failed to read records: %w", err)
	}
	if last <= seq {
		return nil
	}
	h2, err := l.readHead(ctx)
	if err != nil {
		return err
	}
	if last > h2.seq {
		return &ChainError{Seq: max(h2.seq+1, 1), Kind: Truncated,
			Reason: fmt.Sprintf("records past the head, which names record %d", h2.seq)}
	}
	return nil
}

// checkLatest checks that the tree of n records with root root extends the
// latest checkpoint kept in the database, whose signature verifies with v
// (nil: the log's audit key).
func (l *Log) checkLatest(ctx context.Context, v note.Verifier, n int64, root tlog.Hash, r tlog.HashReader) error {
	var err error
	if v == nil {
		v, err = l.Verifier(ctx)
	}
	if errors.Is(err, ErrNoKey) {
		var kept int64
		if err := l.db.QueryRow(ctx, `SELECT COUNT(*) FROM audit_checkpoint`).Scan(&kept); err != nil {
			return fmt.Errorf("audit: failed to read the checkpoints: %w", err)
		}
		if kept > 0 {
			return &CheckpointError{Kind: BadCheckpoint, Reason: "checkpoints are kept but the audit key is missing"}
		}
		return nil
	}
	if err != nil {
		return err
	}
	_, c, err := l.latestCheckpoint(ctx, v)
	if err != nil || c == nil {
		return err
	}
	return checkExtends(*c, n, root, r)
}

// VerifyTree is Verify, and also checks the tree: every stored hash of the
// tree is the one the records make, and the log extends each of
// checkpoints (signed checkpoints kept by the auditor) and the latest one
// kept in the database, each of whose signature must verify with v (nil:
// the log's audit key as the database holds it). The Report's Root is the
// tree's hash, computed from the records. Problems of the tree are
// *ChainError, those of checkpoints *CheckpointError.
func (l *Log) VerifyTree(ctx context.Context, v note.Verifier, checkpoints ...[]byte) (Report, error) {
	if v == nil && len(checkpoints) > 0 {
		var err error
		if v, err = l.Verifier(ctx); err != nil {
			return Report{}, err
		}
	}
	cps := make([]Checkpoint, len(checkpoints))
	for i, signed := range checkpoints {
		var err error
		if cps[i], err = l.openCheckpoint(signed, v); err != nil {
			return Report{}, err
		}
	}
	h, err := l.readHead(ctx)
	if err != nil {
		return Report{}, err
	}
	// The tree columns are read beside the records, on another
	// connection: only up to the head read first, which both reads see.
	rows, err := l.db.Query(ctx, `SELECT seq, tree FROM audit_log WHERE seq <= $1 ORDER BY seq`, h.seq)
	if err != nil {
		return Report{}, fmt.Errorf("audit: failed to read the tree: %w", err)
	}
	defer rows.Close()
	b := newTreeBuilder(0)
	rep, err := walk(ctx, l.db, h, func() (head, error) { return l.readHead(ctx) }, func(r *Record) error {
		want, err := b.add(r.Hash)
		if err != nil || r.Seq > h.seq {
			return err
		}
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return fmt.Errorf("audit: failed to read the tree: %w", err)
			}
			return &ChainError{Seq: r.Seq, Kind: Removed, Reason: "the record's tree column is missing"}
		}
		var seq int64
		var got []byte
		if err := rows.Scan(&seq, &got); err != nil {
			return fmt.Errorf("audit: failed to read the tree: %w", err)
		}
		if seq != r.Seq || !bytes.Equal(got, want) {
			return &ChainError{Seq: r.Seq, Kind: Edited, Reason: "the tree hashes stored with the record do not match the records"}
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	if rep.Root, err = b.root(); err != nil {
		return rep, err
	}
	r := dbHashes{ctx, l.db}
	for _, c := range cps {
		if err := checkExtends(c, rep.Records, rep.Root, r); err != nil {
			return rep, err
		}
	}
	if err := l.checkLatest(ctx, v, rep.Records, rep.Root, r); err != nil {
		return rep, err
	}
	return rep, nil
}
