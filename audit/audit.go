// Package audit is the append-only audit log that the security module and
// the KMC share, a transparency log: every token issued, every key loaded,
// every registry or slot change is written to it in the same database
// transaction as the change itself, before the answer leaves, so that the
// change and its record commit together or not at all. The records form a
// hash chain and the leaves of a Merkle tree (RFC 6962) whose checkpoints
// the component signs with its audit key. [Log.VerifyTree] (behind
// `stskms audit verify`) detects any record edited, removed, reordered or
// added past the end, and, given checkpoints kept outside the database,
// any rollback or fork of the log since; [Log.Check] is the logarithmic
// check of opening and the self-test. docs/audit.md is the auditor's guide.
//
// It imports the standard library, package store and
// golang.org/x/mod/sumdb (tlog for the tree, note for checkpoints); the
// audit key's custody is the caller's ([Signer]).
//
// # What is logged
//
// A caller logs an [Entry]: who (Actor, the authenticated role or user),
// what (Action, such as "token.issue", "klf.load", "slot.install"), on what
// (Subject, such as an SMID or a meter PAN) and a small JSON object of
// Details. The log is readable by every auditor and exported in clear: it
// must never hold key material or other secrets — no clear or wrapped keys,
// key components, passwords or PINs, in Details or anywhere else.
// Identifiers such as a key revision, a KCV or a fingerprint are fine.
//
// Details must be an I-JSON object (RFC 7493: UTF-8, no duplicate member
// names) nested at most [MaxDepth] deep, whose numbers are integers in
// ±(2⁵³−1) (amounts in minor units; write anything else as a string). It is
// stored, returned and hashed in its RFC 8785 (JCS) canonical form: no
// white space, members sorted by the UTF-16 code units of their names,
// integers in plain decimal, strings with only '"', '\\' and the control
// characters escaped (\b \t \n \f \r, otherwise \u00xx). At most
// [MaxDetails] bytes in that form. Actor, Action and Subject are UTF-8
// without control characters, at most [MaxField] bytes; Actor and Action
// may not be empty. Anything else is refused with an [*EntryError].
//
// # The chain
//
// Records are numbered Seq = 1, 2, 3, … without gaps. Each carries the time
// it was appended (UTC, nanoseconds), its entry, Prev (the Hash of the record
// before it) and its own Hash:
//
//	Hash = SHA-256(
//	    "stskms-audit-v1" 0x00        16 bytes: ASCII tag and a zero byte
//	    Seq                           8 bytes, big-endian two's complement
//	    Time                          8 bytes, big-endian two's complement:
//	                                  nanoseconds since 1970-01-01T00:00:00Z
//	    len(Actor)   Actor            4 bytes big-endian length, then UTF-8
//	    len(Action)  Action           idem
//	    len(Subject) Subject          idem
//	    len(Details) Details          idem, the canonical JSON as stored
//	    Prev                          32 bytes
//	)
//
// The first record's Prev is the log's genesis value,
//
//	genesis = SHA-256("stskms-audit-genesis-v1" 0x00 || LogID)
//
// where LogID is 16 random bytes chosen when the log is created, so that no
// record of one log (another installation's, a test database's) can pass
// for one of another. An auditor can recompute all of it with any tool; in
// Python, for a row r of audit_log (text columns as UTF-8 bytes):
//
//	lp = lambda b: struct.pack(">I", len(b)) + b
//	h = hashlib.sha256(b"stskms-audit-v1\0" + struct.pack(">qq", r.seq, r.at_ns)
//	    + lp(r.actor) + lp(r.action) + lp(r.subject) + lp(r.details) + r.prev).digest()
//
// # Storage
//
// Migrations of component "audit" create two tables: audit_log (seq, at_ns,
// actor, action, subject, details, prev, hash, and since step 2 tree: see
// below), one row per record, which
// triggers make append-only (UPDATE, DELETE and, on PostgreSQL, TRUNCATE
// fail), and audit_head, one row (log_id, seq, hash) naming the last record.
// [Log.Append] updates the head first in the caller's transaction: that row
// serialises appenders on both back ends, which is what makes Seq gapless
// and the chain linear. On SQLite a transaction holds the one write lock
// from its start. On PostgreSQL a transaction of [Log.Tx] queues for the
// head before it takes its snapshot; one of a plain [store.DB.Tx] that
// meets a concurrent appender fails with a serialization failure and is run
// again. A rolled-back transaction leaves neither a record nor a gap.
//
// The triggers only stop mistakes: whoever can run DDL can drop them. The
// hash chain is what detects tampering. It cannot, by itself, detect the
// tail of the log removed together with a rewind of the head: signed
// checkpoints kept outside the database do (see below).
//
// # The tree
//
// Record Seq is leaf Seq−1 of an RFC 6962 Merkle tree whose leaf data is
// the record's Hash (32 bytes; so the leaf hash is SHA-256(0x00 ‖ Hash)):
// the Hash already binds the record's content and its place in the chain,
// and an inclusion proof carries the record, from which the checker
// recomputes it. The tree's stored hashes, as golang.org/x/mod/sumdb/tlog
// numbers them (tlog.StoredHashIndex), are kept with the records that
// complete them: migration step 2 adds the column tree to audit_log, which
// holds, for record Seq, the hashes of the subtrees its leaf completes,
// levels 1 and up, concatenated (empty for a left child; about 32 bytes a
// record on average); a leaf's hash is computed from the record's Hash.
// So an append writes no extra row: it reads only the O(log n) hashes of
// the tree's right edge, and a handle remembers them after its last
// append, so a batch usually reads none. (A table of one row per stored
// hash cost about 15 % of the module's batched throughput.) The same step
// builds the tree of an existing log, after verifying its chain (a broken
// chain fails the migration and changes nothing), and adds
// audit_checkpoint (size, note), the signed checkpoints made, and
// audit_key (verifier, custody_key), the audit key's verifier key in clear
// and the name of its private key in the component's custody, which
// alone signs ([Signer]); both are append-only
// like audit_log.
//
// # Checkpoints
//
// A checkpoint is a signed note (golang.org/x/mod/sumdb/note, C2SP
// signed-note) whose text is the C2SP tlog-checkpoint body:
//
//	stskms/audit/<log id in hex>    the origin, also the key's name
//	<size>                          records in the tree, decimal
//	<root>                          the tree's hash, base64
//
// signed with the audit key: ECDSA P-256 over SHA-256, ASN.1 signature,
// C2SP signature type 0x02 (key ID: the first four bytes of SHA-256 of the
// key's SubjectPublicKeyInfo). Its verifier key is
// NAME+KEYID+base64(0x02 ‖ SubjectPublicKeyInfo) ([VerifierKey]). A log
// extends a checkpoint if it has at least its size and a consistency
// proof from the stored tree leads from the checkpoint's root to the
// log's: otherwise the log was rolled back ([ErrRolledBack]) or forked
// ([ErrForked]). A [Proof] is a record with its audit path to a
// checkpoint's root, checked offline by [CheckProof].
package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/stskms/stskms/store"
)

// component is the name of the log's schema in store's migrations.
const component = "audit"

// migrations is the schema of the log. Released steps never change.
var migrations = []store.Migration{{
	Version: 1,
	Name:    "hash-chained log and its head",
	SQL: `CREATE TABLE audit_log (
		seq     BIGINT PRIMARY KEY,
		at_ns   BIGINT NOT NULL,
		actor   TEXT NOT NULL,
		action  TEXT NOT NULL,
		subject TEXT NOT NULL,
		details TEXT NOT NULL,
		prev    {{blob}} NOT NULL,
		hash    {{blob}} NOT NULL
	);
	CREATE TABLE audit_head (
		one    BIGINT PRIMARY KEY CHECK (one = 1),
		log_id {{blob}} NOT NULL,
		seq    BIGINT NOT NULL,
		hash   {{blob}} NOT NULL
	)`,
	Func: createLog,
}, treeMigration, indexMigration}

// appendOnly makes audit_log refuse changes other than INSERT, per dialect.
var appendOnly = map[store.Dialect][]string{
	store.SQLite: {
		`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
		BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`,
		`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
		BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`,
	},
	store.PostgreSQL: {
		`CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql
		AS 'BEGIN RAISE EXCEPTION ''audit_log is append-only''; END'`,
		`CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
		FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`,
		`CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
		FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()`,
	},
}

// createLog chooses the log's id and writes its empty head.
func createLog(ctx context.Context, tx *store.Tx) error {
	var id [16]byte
	rand.Read(id[:])
	g := genesis(id)
	if _, err := tx.Exec(ctx, `INSERT INTO audit_head (one, log_id, seq, hash) VALUES (1, $1, 0, $2)`,
		id[:], g[:]); err != nil {
		return err
	}
	for _, q := range appendOnly[tx.Dialect()] {
		if _, err := tx.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// Log is the audit log of one database. It is safe for concurrent use, and
// several processes may append to the same database at once.
type Log struct {
	db  *store.DB
	id  [16]byte
	now func() time.Time // the clock; tests set it

	// guess is the head as the last AppendBatch of this handle left it,
	// which saves the next one reading it; it is only ever a guess,
	// checked by the update that moves the head.
	mu    sync.Mutex
	guess head
}

// Open migrates the log's tables in db (component "audit"), creating an
// empty log with a new id the first time, and returns it.
func Open(ctx context.Context, db *store.DB) (*Log, error) {
	if err := db.Migrate(ctx, component, migrations); err != nil {
		return nil, fmt.Errorf("audit: failed to migrate: %w", err)
	}
	var id []byte
	if err := db.QueryRow(ctx, `SELECT log_id FROM audit_head WHERE one = 1`).Scan(&id); err != nil {
		return nil, fmt.Errorf("audit: failed to read the log's head: %w", err)
	}
	l := &Log{db: db, now: time.Now}
	if copy(l.id[:], id) != len(l.id) || len(id) != len(l.id) {
		return nil, fmt.Errorf("audit: the log's id has %d bytes, want %d", len(id), len(l.id))
	}
	return l, nil
}

// ID returns the log's id, chosen at random when it was created, from which
// its genesis value is derived.
func (l *Log) ID() [16]byte { return l.id }

// Append adds e to the log inside tx, the caller's transaction, so that the
// change the record is about and the record commit together or not at all.
// It returns the record as it will stand once tx commits; if tx is rolled
// back, there is no record and its Seq will be used by the next one.
//
// tx must be a transaction of the log's database, best one of [Log.Tx]:
// appends are serialised by the log's head, which Append updates and holds
// for the rest of tx. In a transaction of Log.Tx, and on SQLite in any,
// concurrent appenders wait for each other; in a plain DB.Tx on PostgreSQL
// they fail with a serialization failure and are retried, which under load
// can starve. As a function given to Tx may run more than once, use the
// Record of the run that committed.
//
// An entry that breaks the rules of the package doc is refused with an
// *EntryError before anything is written, leaving tx usable.
func (l *Log) Append(ctx context.Context, tx *store.Tx, e Entry) (Record, error) {
	p, err := e.prepare()
	if err != nil {
		return Record{}, err
	}
	return l.append(ctx, tx, p)
}

// Tx is [store.DB.Tx] for a transaction that appends to the log: it runs
// fn in a serializable transaction of the log's database, which fn may fill
// with any work of its own and Append calls.
//
// On PostgreSQL it first queues for the log's head (LOCK TABLE audit_head
// IN EXCLUSIVE MODE, before the transaction's snapshot is taken), so that
// appending transactions run one after the other instead of failing and
// being retried: under a steady load, the retries of a transaction that
// appends inside a plain DB.Tx can starve (every attempt overlaps with a
// newer appender and fails) until DB.Tx gives up with store.ErrContention.
// Plain SELECTs, and so Verify and Records, do not wait. Such transactions
// are serialised from their start, so keep them short. On SQLite, where a
// transaction holds the write lock from its start anyway, Tx is DB.Tx.
func (l *Log) Tx(ctx context.Context, fn func(tx *store.Tx) error) error {
	if l.db.Dialect() != store.PostgreSQL {
		return l.db.Tx(ctx, fn)
	}
	return l.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE audit_head IN EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("audit: failed to lock the log's head: %w", err)
		}
		return fn(tx)
	})
}

// AppendNow adds e to the log in a transaction of its own (see [Log.Tx]), for
// events that change nothing else in the database (a log-in, a self-test
// failure).
func (l *Log) AppendNow(ctx context.Context, e Entry) (Record, error) {
	p, err := e.prepare()
	if err != nil {
		return Record{}, err
	}
	var r Record
	err = l.Tx(ctx, func(tx *store.Tx) error {
		var err error
		r, err = l.append(ctx, tx, p)
		return err
	})
	if err != nil {
		return Record{}, err
	}
	return r, nil
}

func (l *Log) append(ctx context.Context, tx *store.Tx, p prepared) (Record, error) {
	ns, err := l.stamp()
	if err != nil {
		return Record{}, err
	}
	var seq int64
	var prev []byte
	err = tx.QueryRow(ctx, `UPDATE audit_head SET seq = seq + 1 WHERE one = 1 RETURNING seq, hash`).Scan(&seq, &prev)
	if err != nil {
		return Record{}, headError(err)
	}
	r := Record{Seq: seq, Time: time.Unix(0, ns).UTC(), Entry: p.entry()}
	if copy(r.Prev[:], prev) != len(r.Prev) || len(prev) != len(r.Prev) {
		return Record{}, fmt.Errorf("audit: failed to append: %w",
			&ChainError{Seq: seq - 1, Kind: Truncated, Reason: "the head's hash is malformed"})
	}
	r.Hash = hashRecord(seq, ns, p.actor, p.action, p.subject, p.details, &r.Prev)
	l.mu.Lock()
	g := l.guess
	l.mu.Unlock()
	if g.seq != seq-1 || g.hash != r.Prev {
		g.tree = nil
	}
	trees, tree, err := growTree(ctx, tx, g.tree, []Record{r})
	if err != nil {
		return Record{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log (seq, at_ns, actor, action, subject, details, prev, hash, tree)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		seq, ns, p.actor, p.action, p.subject, string(p.details), r.Prev[:], r.Hash[:], trees[0]); err != nil {
		return Record{}, fmt.Errorf("audit: failed to append record %d: %w", seq, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE audit_head SET hash = $1 WHERE one = 1`, r.Hash[:]); err != nil {
		return Record{}, fmt.Errorf("audit: failed to append record %d: %w", seq, err)
	}
	l.setGuess(&r, tree)
	return r, nil
}

// AppendBatch adds es to the log inside tx, in order, as [Log.Append] would
// one after the other, but with one update of the head (which, as in
// Append, comes first and serialises appenders) and multi-row inserts, for
// callers that log many events in one transaction (a group commit of token
// requests). The handle remembers the head it leaves; when no one else has
// appended since, the next batch moves it without reading it first. It
// returns the records as they will stand once tx commits, one per entry.
// An entry that breaks the rules of the package doc is refused with an
// *EntryError before anything is written, leaving tx usable. All records of
// a batch carry the same Time. No entries: nothing is written.
func (l *Log) AppendBatch(ctx context.Context, tx *store.Tx, es []Entry) ([]Record, error) {
	ps := make([]prepared, len(es))
	var buf bytes.Buffer
	for i, e := range es {
		var err error
		if ps[i], err = e.prepareQuick(&buf); err != nil {
			return nil, err
		}
	}
	if len(ps) == 0 {
		return nil, nil
	}
	ns, err := l.stamp()
	if err != nil {
		return nil, err
	}
	rs, tree, err := l.moveHead(ctx, tx, ps, ns)
	if err != nil {
		return nil, err
	}
	trees, tree, err := growTree(ctx, tx, tree, rs)
	if err != nil {
		return nil, err
	}
	l.setGuess(&rs[len(rs)-1], tree)
	for lo := 0; lo < len(rs); lo += batchRows {
		if err := insertRecords(ctx, tx, rs[lo:min(lo+batchRows, len(rs))], ps[lo:], trees[lo:], ns); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

// moveHead makes the records of ps and moves the head past them: in one
// update if the head is where the handle's guess says, else by reading it
// (moving its seq), then writing the last hash. It returns the tree the
// records follow, if the guess knows it.
func (l *Log) moveHead(ctx context.Context, tx *store.Tx, ps []prepared, ns int64) ([]Record, *treeBuilder, error) {
	l.mu.Lock()
	g := l.guess
	l.mu.Unlock()
	if g.seq > 0 {
		rs := chain(ps, ns, g.seq+1, g.hash)
		last := &rs[len(rs)-1]
		res, err := tx.Exec(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE one = 1 AND seq = $3 AND hash = $4`,
			last.Seq, last.Hash[:], g.seq, g.hash[:])
		if err != nil {
			return nil, nil, headError(err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			return rs, g.tree, nil
		}
	}
	var seq int64
	var prev []byte
	err := tx.QueryRow(ctx, `UPDATE audit_head SET seq = seq + $1 WHERE one = 1 RETURNING seq, hash`, int64(len(ps))).Scan(&seq, &prev)
	if err != nil {
		return nil, nil, headError(err)
	}
	first := seq - int64(len(ps)) + 1
	if len(prev) != len(g.hash) {
		return nil, nil, fmt.Errorf("audit: failed to append: %w",
			&ChainError{Seq: first - 1, Kind: Truncated, Reason: "the head's hash is malformed"})
	}
	rs := chain(ps, ns, first, [32]byte(prev))
	last := &rs[len(rs)-1]
	if _, err := tx.Exec(ctx, `UPDATE audit_head SET hash = $1 WHERE one = 1`, last.Hash[:]); err != nil {
		return nil, nil, fmt.Errorf("audit: failed to append record %d: %w", seq, err)
	}
	return rs, nil, nil
}

// setGuess remembers r as the head the log will have if its transaction
// commits, and tree as the tree it will have.
func (l *Log) setGuess(r *Record, tree *treeBuilder) {
	l.mu.Lock()
	l.guess = head{id: l.id, seq: r.Seq, hash: r.Hash, tree: tree}
	l.mu.Unlock()
}

// chain makes the records of ps, numbered from first, the first one's
// Prev being prev.
func chain(ps []prepared, ns, first int64, prev [32]byte) []Record {
	rs := make([]Record, len(ps))
	for i, p := range ps {
		r := &rs[i]
		*r = Record{Seq: first + int64(i), Time: time.Unix(0, ns).UTC(), Entry: p.entry(), Prev: prev}
		r.Hash = hashRecord(r.Seq, ns, p.actor, p.action, p.subject, p.details, &r.Prev)
		prev = r.Hash
	}
	return rs
}

// prepareQuick is prepare, writing the canonical form of Details directly
// when they are a map[string]any of the plain values a program logs
// (quickCanonical), instead of encoding them and parsing the encoding.
func (e Entry) prepareQuick(buf *bytes.Buffer) (prepared, error) {
	m, ok := e.Details.(map[string]any)
	if !ok || m == nil {
		return e.prepare()
	}
	buf.Reset()
	if !quickCanonical(buf, m, 1) || buf.Len() > MaxDetails {
		return e.prepare()
	}
	e.Details = nil
	p, err := e.prepare()
	p.details = bytes.Clone(buf.Bytes())
	return p, err
}

// quickCanonical writes the canonical form (see the package doc) of an
// object at nesting depth depth whose member names are ASCII and whose
// values are strings (UTF-8), integers in ±(2⁵³−1), booleans, nil, string
// slices or such objects, as canonicalDetails would. It reports false,
// leaving out in any state, for anything else, which takes the general
// path.
func quickCanonical(out *bytes.Buffer, m map[string]any, depth int) bool {
	if depth > MaxDepth {
		return false
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		for i := 0; i < len(k); i++ {
			if k[i] >= utf8.RuneSelf {
				return false
			}
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			out.WriteByte(',')
		}
		writeString(out, k)
		out.WriteByte(':')
		if !quickValue(out, m[k], depth) {
			return false
		}
	}
	out.WriteByte('}')
	return true
}

// quickValue writes one value of quickCanonical.
func quickValue(out *bytes.Buffer, v any, depth int) bool {
	switch x := v.(type) {
	case string:
		if !utf8.ValidString(x) {
			return false
		}
		writeString(out, x)
	case int:
		return quickInt(out, int64(x))
	case int64:
		return quickInt(out, x)
	case uint32:
		return quickInt(out, int64(x))
	case bool:
		out.WriteString(strconv.FormatBool(x))
	case nil:
		out.WriteString("null")
	case []string:
		if x == nil {
			out.WriteString("null")
			return true
		}
		if depth+1 > MaxDepth {
			return false
		}
		out.WriteByte('[')
		for i, s := range x {
			if i > 0 {
				out.WriteByte(',')
			}
			if !quickValue(out, s, depth+1) {
				return false
			}
		}
		out.WriteByte(']')
	case map[string]any:
		if x == nil {
			out.WriteString("null")
			return true
		}
		return quickCanonical(out, x, depth+1)
	default:
		return false
	}
	return true
}

func quickInt(out *bytes.Buffer, v int64) bool {
	if v > maxSafeInt || v < -maxSafeInt {
		return false
	}
	out.WriteString(strconv.FormatInt(v, 10))
	return true
}

// batchRows is the most records one INSERT of AppendBatch writes (9
// parameters each, well within both back ends' limits).
const batchRows = 500

// insertRecords writes rs, whose prepared entries are ps and tree columns
// trees, in one INSERT.
func insertRecords(ctx context.Context, tx *store.Tx, rs []Record, ps []prepared, trees [][]byte, ns int64) error {
	q := make([]byte, 0, 96+len(rs)*54)
	q = append(q, "INSERT INTO audit_log (seq, at_ns, actor, action, subject, details, prev, hash, tree) VALUES "...)
	args := make([]any, 0, 9*len(rs))
	for i := range rs {
		r, p := &rs[i], ps[i]
		if i > 0 {
			q = append(q, ',')
		}
		if tx.Dialect() == store.SQLite {
			// Plain placeholders: the SQLite driver finds a numbered one
			// by a search through all of them, slow to bind by the
			// hundred.
			q = append(q, "(?, ?, ?, ?, ?, ?, ?, ?, ?)"...)
		} else {
			n := len(args)
			q = fmt.Appendf(q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9)
		}
		args = append(args, r.Seq, ns, p.actor, p.action, p.subject, string(p.details), r.Prev[:], r.Hash[:], trees[i])
	}
	if _, err := tx.Exec(ctx, string(q), args...); err != nil {
		return fmt.Errorf("audit: failed to append records %d to %d: %w", rs[0].Seq, rs[len(rs)-1].Seq, err)
	}
	return nil
}

// stamp reads the clock for a record, in nanoseconds.
func (l *Log) stamp() (int64, error) {
	t := l.now().UTC().Round(0)
	ns := t.UnixNano()
	if !time.Unix(0, ns).Equal(t) {
		return 0, fmt.Errorf("audit: failed to append: clock reads %v, outside the years 1678 to 2262", t)
	}
	return ns, nil
}

// headError is the error of a failed update of the head.
func headError(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("audit: failed to append: %w", &ChainError{Kind: Truncated, Reason: "the head is missing"})
	}
	return fmt.Errorf("audit: failed to append: %w", err)
}

// Record is an Entry as the log holds it. In a Record, Details is always a
// json.RawMessage holding the canonical JSON that was hashed.
type Record struct {
	Seq int64 // 1, 2, 3, … in the order of appending, without gaps
	// Time is when it was appended, in UTC to the nanosecond, by the
	// appending process's clock: across processes it may not follow Seq,
	// which is the order.
	Time time.Time
	Entry
	Prev [32]byte // Hash of the record before, or the log's genesis value
	Hash [32]byte // SHA-256 over the record as the package doc says
}

// selectRecords is the query of Records and Verify, followed by a WHERE.
const selectRecords = `SELECT seq, at_ns, actor, action, subject, details, prev, hash FROM audit_log `

// Records calls fn with every record whose Seq is from or more, in Seq
// order, streaming them from the database, until fn returns an error, which
// Records then returns as is. It does not verify the chain (Verify does);
// a record whose prev or hash column is not 32 bytes long ends it with a
// *ChainError of kind Edited.
func (l *Log) Records(ctx context.Context, from int64, fn func(Record) error) error {
	return eachRecord(ctx, l.db, `WHERE seq >= $1 ORDER BY seq`, []any{from}, fn)
}

// eachRecord calls fn with every record of selectRecords followed by rest
// (with args), streaming them from the database through q, until fn
// returns an error, which eachRecord then returns as is; a record read
// badly ends it as scanRecord says, a failed query with "audit: failed to
// read records".
func eachRecord(ctx context.Context, q store.Querier, rest string, args []any, fn func(Record) error) error {
	stopped := false // by scanRecord or fn, whose errors are returned as they are
	err := store.EachRow(ctx, q, selectRecords+rest, args, func(row store.Scanner) error {
		var r Record
		err := scanRecord(row, &r)
		if err == nil {
			err = fn(r)
		}
		stopped = err != nil
		return err
	})
	if err != nil && !stopped {
		return fmt.Errorf("audit: failed to read records: %w", err)
	}
	return err
}

// scanRecord reads a row of selectRecords into r.
func scanRecord(row store.Scanner, r *Record) error {
	var ns int64
	var details string
	var prev, hash []byte
	if err := row.Scan(&r.Seq, &ns, &r.Actor, &r.Action, &r.Subject, &details, &prev, &hash); err != nil {
		return fmt.Errorf("audit: failed to read records: %w", err)
	}
	r.Time = time.Unix(0, ns).UTC()
	r.Details = json.RawMessage(details)
	if len(prev) != len(r.Prev) || len(hash) != len(r.Hash) {
		return &ChainError{Seq: r.Seq, Kind: Edited, Reason: "prev or hash is not 32 bytes long"}
	}
	copy(r.Prev[:], prev)
	copy(r.Hash[:], hash)
	return nil
}
