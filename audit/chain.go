package audit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/stskms/stskms/store"
)

// Domain-separation tags of the hashes (see the package doc).
const (
	recordTag  = "stskms-audit-v1\x00"
	genesisTag = "stskms-audit-genesis-v1\x00"
)

// genesis returns the Prev of the first record of the log with the given id.
func genesis(id [16]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(genesisTag))
	h.Write(id[:])
	return [32]byte(h.Sum(nil))
}

// hashRecord returns the Hash of a record (see the package doc).
func hashRecord(seq, ns int64, actor, action, subject string, details []byte, prev *[32]byte) [32]byte {
	b := make([]byte, 0, len(recordTag)+16+4*4+len(actor)+len(action)+len(subject)+len(details)+32)
	b = append(b, recordTag...)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = binary.BigEndian.AppendUint64(b, uint64(ns))
	for _, s := range []string{actor, action, subject, string(details)} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	b = append(b, prev[:]...)
	return sha256.Sum256(b)
}

// Kind is how a chain is broken.
type Kind int

// The kinds of ChainError.
const (
	// Edited: a record's Hash is not the hash of its content; a field was
	// changed without recomputing it.
	Edited Kind = iota + 1
	// Removed: a Seq is missing, or the head names a record past the last.
	Removed
	// Reordered: a record's Prev is not the Hash of the record before it, or
	// the Seq order is broken: records were moved, swapped or inserted, the
	// record before was rewritten with a recomputed hash, or the first
	// record is not of this log.
	Reordered
	// Truncated: the head does not name the last record: there are records
	// past it, its hash is not that record's, or it is missing.
	Truncated
)

// Sentinels matched by a *ChainError of the corresponding Kind.
var (
	ErrEdited    = errors.New("audit: record edited")
	ErrRemoved   = errors.New("audit: record removed")
	ErrReordered = errors.New("audit: records reordered")
	ErrTruncated = errors.New("audit: head does not match the end of the log")
)

// String returns "edited", "removed", "reordered" or "truncated".
func (k Kind) String() string {
	switch k {
	case Edited:
		return "edited"
	case Removed:
		return "removed"
	case Reordered:
		return "reordered"
	case Truncated:
		return "truncated"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

func (k Kind) sentinel() error {
	switch k {
	case Edited:
		return ErrEdited
	case Removed:
		return ErrRemoved
	case Reordered:
		return ErrReordered
	case Truncated:
		return ErrTruncated
	}
	return nil
}

// ChainError reports where and how the chain is broken. errors.Is(err,
// ErrEdited) holds for Kind Edited, and so on.
type ChainError struct {
	// Seq is the first record found wrong: the edited or moved record, the
	// first missing one, the first past the head, or the head's record (0
	// for an empty log or a missing head).
	Seq    int64
	Kind   Kind
	Reason string // what was seen, for people
}

// Error names the record where the chain breaks and how.
func (e *ChainError) Error() string {
	return fmt.Sprintf("audit: chain broken at record %d (%v): %s", e.Seq, e.Kind, e.Reason)
}

// Unwrap returns the sentinel of e's Kind.
func (e *ChainError) Unwrap() error { return e.Kind.sentinel() }

// Report is what Verify found.
type Report struct {
	LogID [16]byte
	// Records is how many records were verified: the length of the log
	// when Verify returns nil, at most those before the break otherwise.
	Records int64
	// Head is the Hash of record number Records, or the log's genesis value
	// if that is 0. Keep (Records, Head) outside the database to detect
	// later a removal of the log's tail together with its head.
	Head [32]byte
	// Root is the hash of the log's Merkle tree of Records records
	// (RFC 6962), set by Check and VerifyTree: what a checkpoint signs.
	Root [32]byte
}

// head is the audit_head row.
type head struct {
	id   [16]byte
	seq  int64
	hash [32]byte
	tree *treeBuilder // the tree of seq records, if known (in a guess)
}

func (l *Log) readHead(ctx context.Context) (head, error) { return readHead(ctx, l.db) }

// readHead reads the head through q.
func readHead(ctx context.Context, q querier) (head, error) {
	var h head
	var id, hash []byte
	err := q.QueryRow(ctx, `SELECT log_id, seq, hash FROM audit_head WHERE one = 1`).Scan(&id, &h.seq, &hash)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return h, &ChainError{Kind: Truncated, Reason: "the head is missing"}
		}
		return h, fmt.Errorf("audit: failed to read the head: %w", err)
	}
	if len(id) != len(h.id) || len(hash) != len(h.hash) {
		return h, &ChainError{Seq: h.seq, Kind: Truncated, Reason: "the head is malformed"}
	}
	copy(h.id[:], id)
	copy(h.hash[:], hash)
	return h, nil
}

// Verify reads the whole log in Seq order, streaming it, and checks that
// Seq runs 1, 2, 3, … without gaps, that every record's Hash is the hash of
// its content and its Prev the Hash of the record before (the genesis value
// for the first), and that the head names the last record. It returns the
// first break as a *ChainError, with a Report of the records verified
// before it; other errors are those of the database.
//
// Verify takes no lock: appends may go on while it runs, and the records it
// reports are those committed when it started, or some more.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	// The head is read before the records, so that every record up to it
	// is visible to the query; records past it may be appends made since,
	// which a second look at the head tells from forgeries.
	h, err := l.readHead(ctx)
	if err != nil {
		return Report{}, err
	}
	return walk(ctx, l.db, h, func() (head, error) { return l.readHead(ctx) }, nil)
}

// walk is Verify through q, h being the head read before the records,
// reread a second look at it; fn, if not nil, is called with every record
// found good and may end the walk with an error.
func walk(ctx context.Context, q querier, h head, reread func() (head, error), fn func(*Record) error) (Report, error) {
	rep := Report{LogID: h.id, Head: genesis(h.id)}
	atHead := rep // the report as of the record the head names
	err := eachRecord(ctx, q, `ORDER BY seq`, nil, func(r Record) error {
		want := rep.Records + 1
		switch {
		case r.Seq > want:
			return &ChainError{Seq: want, Kind: Removed, Reason: fmt.Sprintf("the next record is %d", r.Seq)}
		case r.Seq < want:
			return &ChainError{Seq: r.Seq, Kind: Reordered, Reason: "a record out of sequence"}
		case r.Prev != rep.Head && r.Seq == 1:
			return &ChainError{Seq: r.Seq, Kind: Reordered, Reason: "prev is not the log's genesis value"}
		case r.Prev != rep.Head:
			return &ChainError{Seq: r.Seq, Kind: Reordered, Reason: "prev is not the hash of the record before"}
		}
		details := r.Details.(json.RawMessage)
		if hashRecord(r.Seq, r.Time.UnixNano(), r.Actor, r.Action, r.Subject, details, &r.Prev) != r.Hash {
			return &ChainError{Seq: r.Seq, Kind: Edited, Reason: "hash does not match the content"}
		}
		if r.Seq == h.seq && r.Hash != h.hash {
			return &ChainError{Seq: r.Seq, Kind: Truncated, Reason: "the head's hash is not this record's"}
		}
		if fn != nil {
			if err := fn(&r); err != nil {
				return err
			}
		}
		rep.Records, rep.Head = r.Seq, r.Hash
		if r.Seq == h.seq {
			atHead = rep
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	switch {
	case rep.Records < h.seq:
		return rep, &ChainError{Seq: rep.Records + 1, Kind: Removed,
			Reason: fmt.Sprintf("the head names record %d, the last is %d", h.seq, rep.Records)}
	case rep.Records == 0 && h.hash != rep.Head:
		return rep, &ChainError{Kind: Truncated, Reason: "the head of the empty log is not its genesis value"}
	case rep.Records > h.seq:
		// Appended since the head was read, or forged past it.
		h2, err := reread()
		if err != nil {
			return rep, err
		}
		if rep.Records > h2.seq {
			return atHead, &ChainError{Seq: max(h2.seq+1, 1), Kind: Truncated,
				Reason: fmt.Sprintf("records past the head, which names record %d", h2.seq)}
		}
		if rep.Records == h2.seq && rep.Head != h2.hash {
			return rep, &ChainError{Seq: rep.Records, Kind: Truncated, Reason: "the head's hash is not this record's"}
		}
	}
	return rep, nil
}
