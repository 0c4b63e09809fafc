package audit

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/stskms/stskms/store"
)

// treeMigration is step 2 of the log's schema: the Merkle tree over the
// records (a column of audit_log), the checkpoints made of it and the
// audit key's verifier.
var treeMigration = store.Migration{
	Version: 2,
	Name:    "Merkle tree, checkpoints and audit key",
	SQL: `ALTER TABLE audit_log ADD COLUMN tree {{blob}};
	CREATE TABLE audit_checkpoint (
		size BIGINT PRIMARY KEY,
		note TEXT NOT NULL
	);
	CREATE TABLE audit_key (
		one         BIGINT PRIMARY KEY CHECK (one = 1),
		verifier    TEXT NOT NULL,
		custody_key TEXT NOT NULL
	)`,
	Func: buildTree,
}

// treeAppendOnly makes the tables of step 2 refuse changes other than
// INSERT.
var treeAppendOnly = map[store.Dialect][]string{}

func init() {
	for _, t := range []string{"audit_checkpoint", "audit_key"} {
		treeAppendOnly[store.SQLite] = append(treeAppendOnly[store.SQLite],
			`CREATE TRIGGER `+t+`_no_update BEFORE UPDATE ON `+t+`
			BEGIN SELECT RAISE(ABORT, '`+t+` is append-only'); END`,
			`CREATE TRIGGER `+t+`_no_delete BEFORE DELETE ON `+t+`
			BEGIN SELECT RAISE(ABORT, '`+t+` is append-only'); END`)
		treeAppendOnly[store.PostgreSQL] = append(treeAppendOnly[store.PostgreSQL],
			`CREATE TRIGGER `+t+`_no_change BEFORE UPDATE OR DELETE ON `+t+`
			FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`,
			`CREATE TRIGGER `+t+`_no_truncate BEFORE TRUNCATE ON `+t+`
			FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()`)
	}
}

// Statements that let buildTree fill the tree column of existing records
// and make audit_log append-only again, per dialect.
var (
	allowUpdate = map[store.Dialect]string{
		store.SQLite:     `DROP TRIGGER audit_log_no_update`,
		store.PostgreSQL: `ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change`,
	}
	forbidUpdate = map[store.Dialect]string{
		store.SQLite:     appendOnly[store.SQLite][0],
		store.PostgreSQL: `ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change`,
	}
)

// buildPage is how many records buildTree reads at a time.
const buildPage = 10000

// buildTree migrates a log of step 1: it verifies the hash chain as Verify
// does, then stores the tree of the records it holds. A broken chain fails
// the migration, leaving the database as it was.
func buildTree(ctx context.Context, tx *store.Tx) error {
	for _, q := range treeAppendOnly[tx.Dialect()] {
		if _, err := tx.Exec(ctx, q); err != nil {
			return err
		}
	}
	h, err := readHead(ctx, tx)
	if err != nil {
		return err
	}
	if _, err := walk(ctx, tx, h, func() (head, error) { return h, nil }, nil); err != nil {
		return fmt.Errorf("audit: the hash chain does not verify, the tree is not built: %w", err)
	}
	if _, err := tx.Exec(ctx, allowUpdate[tx.Dialect()]); err != nil {
		return err
	}
	b := newTreeBuilder(0)
	for b.n < h.seq {
		hashes, err := pageHashes(ctx, tx, b.n, buildPage)
		if err != nil {
			return err
		}
		var seqs []int64
		var trees [][]byte
		for _, x := range hashes {
			tree, err := b.add(x)
			if err != nil {
				return err
			}
			if tree != nil {
				seqs, trees = append(seqs, b.n), append(trees, tree)
			}
		}
		if err := updateTrees(ctx, tx, seqs, trees); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, forbidUpdate[tx.Dialect()])
	return err
}

// updateRows is the most records one UPDATE of updateTrees writes.
const updateRows = 500

// updateTrees sets the tree column of records seqs to trees, updateRows
// records per statement.
func updateTrees(ctx context.Context, tx *store.Tx, seqs []int64, trees [][]byte) error {
	for lo := 0; lo < len(seqs); lo += updateRows {
		hi := min(lo+updateRows, len(seqs))
		var q strings.Builder
		args := make([]any, 0, 2*(hi-lo))
		for i := lo; i < hi; i++ {
			if i > lo {
				q.WriteByte(',')
			}
			if tx.Dialect() == store.PostgreSQL {
				fmt.Fprintf(&q, "($%d::bigint, $%d::bytea)", len(args)+1, len(args)+2)
			} else {
				q.WriteString("(?, ?)")
			}
			args = append(args, seqs[i], trees[i])
		}
		stmt := `UPDATE audit_log SET tree = v.column2 FROM (VALUES ` + q.String() + `) AS v WHERE audit_log.seq = v.column1`
		if tx.Dialect() == store.PostgreSQL {
			stmt = `UPDATE audit_log SET tree = v.tree FROM (VALUES ` + q.String() + `) AS v(seq, tree) WHERE audit_log.seq = v.seq`
		}
		if _, err := tx.Exec(ctx, stmt, args...); err != nil {
			return fmt.Errorf("audit: failed to store the tree: %w", err)
		}
	}
	return nil
}

// pageHashes returns the Hash of at most n records past record after.
func pageHashes(ctx context.Context, q querier, after int64, n int) ([][32]byte, error) {
	out, err := store.All(ctx, q, `SELECT hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, []any{after, n},
		func(row store.Scanner) ([32]byte, error) {
			var h []byte
			err := row.Scan(&h)
			return padHash(h), err
		})
	if err != nil {
		return nil, fmt.Errorf("audit: failed to read records: %w", err)
	}
	if len(out) == 0 {
		return nil, &ChainError{Seq: after + 1, Kind: Removed, Reason: "the record is missing"}
	}
	return out, nil
}

// treeBuilder grows the tree of a log in memory from its record hashes,
// keeping only the hashes that later records need (the tree's frontier).
type treeBuilder struct {
	n      int64 // records in the tree
	hashes map[int64]tlog.Hash
}

func newTreeBuilder(n int64) *treeBuilder {
	return &treeBuilder{n: n, hashes: make(map[int64]tlog.Hash)}
}

// ReadHashes implements tlog.HashReader from the builder's hashes.
func (b *treeBuilder) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := b.hashes[x]
		if !ok {
			return nil, &ChainError{Seq: b.n, Kind: Edited, Reason: fmt.Sprintf("stored tree hash %d is missing", x)}
		}
		out[i] = h
	}
	return out, nil
}

// add appends the record whose Hash is h (the leaf's data) and returns
// the tree hashes it completes above its leaf, concatenated, levels 1 and
// up (nil if none: the record is a left child): what the record's tree
// column holds.
func (b *treeBuilder) add(h [32]byte) ([]byte, error) {
	hs, err := tlog.StoredHashesForRecordHash(b.n, tlog.RecordHash(h[:]), b)
	if err != nil {
		return nil, err
	}
	base := tlog.StoredHashIndex(0, b.n)
	var tree []byte
	for i, x := range hs {
		b.hashes[base+int64(i)] = x
		if i > 0 {
			tree = append(tree, x[:]...)
		}
	}
	b.n++
	if len(b.hashes) > 256 {
		b.prune()
	}
	return tree, nil
}

// prune keeps the frontier only.
func (b *treeBuilder) prune() {
	keep := make(map[int64]tlog.Hash, 64)
	for _, x := range frontier(b.n) {
		if h, ok := b.hashes[x]; ok {
			keep[x] = h
		}
	}
	b.hashes = keep
}

// clone returns a copy of the builder holding its frontier only.
func (b *treeBuilder) clone() *treeBuilder {
	c := newTreeBuilder(b.n)
	for _, x := range frontier(b.n) {
		if h, ok := b.hashes[x]; ok {
			c.hashes[x] = h
		}
	}
	return c
}

// root returns the tree's hash.
func (b *treeBuilder) root() (tlog.Hash, error) { return tlog.TreeHash(b.n, b) }

// frontier returns the stored-hash indexes of the complete subtrees a tree
// of n records ends with: all that appending the next record, or hashing
// the tree, reads.
func frontier(n int64) []int64 {
	var out []int64
	for l := 0; n>>l > 0; l++ {
		if (n>>l)&1 == 1 {
			out = append(out, tlog.StoredHashIndex(l, (n>>l)-1))
		}
	}
	return out
}

// querier is a *store.DB or a *store.Tx.
type querier interface {
	store.Querier
	QueryRow(ctx context.Context, query string, args ...any) *store.Row
}

// dbHashes is a tlog.HashReader of the stored hashes of the log's tree.
type dbHashes struct {
	ctx context.Context
	q   querier
}

// ReadHashes implements tlog.HashReader.
func (r dbHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return readTree(r.ctx, r.q, indexes)
}

// readTree reads the stored hashes of indexes: a leaf's from its record's
// Hash, the others from the tree column of the record that completed
// them. A missing one is an error of kind Truncated.
func readTree(ctx context.Context, q querier, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	if len(indexes) == 0 {
		return out, nil
	}
	var sb strings.Builder
	sb.WriteString(`SELECT seq, hash, tree FROM audit_log WHERE seq IN (`)
	args := make([]any, len(indexes))
	for i, x := range indexes {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "$%d", i+1)
		args[i] = holder(x)
	}
	sb.WriteByte(')')
	type row struct{ hash, tree []byte }
	got := make(map[int64]row, len(indexes))
	err := store.EachRow(ctx, q, sb.String(), args, func(s store.Scanner) error {
		var seq int64
		var r row
		if err := s.Scan(&seq, &r.hash, &r.tree); err != nil {
			return err
		}
		got[seq] = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: failed to read the tree: %w", err)
	}
	for i, x := range indexes {
		level, _ := tlog.SplitStoredHashIndex(x)
		seq := holder(x)
		r, ok := got[seq]
		switch {
		case !ok:
			return nil, &ChainError{Seq: seq, Kind: Removed, Reason: fmt.Sprintf("record %d, which holds tree hash %d, is missing", seq, x)}
		case level == 0:
			out[i] = tlog.RecordHash(r.hash)
		case len(r.tree) < level*tlog.HashSize:
			return nil, &ChainError{Seq: seq, Kind: Edited, Reason: fmt.Sprintf("record %d lacks tree hash %d", seq, x)}
		default:
			out[i] = tlog.Hash(r.tree[(level-1)*tlog.HashSize : level*tlog.HashSize])
		}
	}
	return out, nil
}

// holder returns the Seq of the record whose append completes the tree
// node of stored-hash index x: the last leaf under it.
func holder(x int64) int64 {
	level, n := tlog.SplitStoredHashIndex(x)
	return (n + 1) << level
}

// growTree computes the tree columns of rs, which follow the tree b
// describes (b.n == rs[0].Seq-1; nil: its frontier is read through tx),
// and returns them with the grown tree.
func growTree(ctx context.Context, tx *store.Tx, b *treeBuilder, rs []Record) ([][]byte, *treeBuilder, error) {
	n := rs[0].Seq - 1
	if b == nil || b.n != n {
		idx := frontier(n)
		hs, err := readTree(ctx, tx, idx)
		if err != nil {
			return nil, nil, fmt.Errorf("audit: failed to append: %w", err)
		}
		b = newTreeBuilder(n)
		for i, x := range idx {
			b.hashes[x] = hs[i]
		}
	} else {
		b = b.clone()
	}
	trees := make([][]byte, len(rs))
	for i := range rs {
		var err error
		if trees[i], err = b.add(rs[i].Hash); err != nil {
			return nil, nil, fmt.Errorf("audit: failed to append: %w", err)
		}
	}
	b.prune()
	return trees, b, nil
}
