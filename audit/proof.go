package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/stskms/stskms/store"
)

// proofHeader is the first line of an inclusion proof.
const proofHeader = "stskms audit inclusion proof v1"

// MaxProof bounds the size of an inclusion proof, in bytes.
const MaxProof = 64 << 10

// ErrProof is matched by the error of an inclusion proof that does not
// check.
var ErrProof = errors.New("audit: inclusion proof refused")

// ErrNoCheckpoint is returned by Prove when no checkpoint kept in the
// database covers the record.
var ErrNoCheckpoint = errors.New("audit: no checkpoint covers the record yet (make one: stskms audit checkpoint)")

// Proof is a record of the log with its inclusion proof against a signed
// checkpoint: all an auditor needs, with the log's verifier key, to check
// offline that the record is in the log the checkpoint signed.
//
// Its text form (Marshal, ParseProof) is lines of UTF-8:
//
//	stskms audit inclusion proof v1
//	seq N                       the record's Seq, decimal
//	time_ns NS                  its Time, nanoseconds since 1970 (UTC)
//	actor ACTOR
//	action ACTION
//	subject SUBJECT             (may be empty: "subject ")
//	details DETAILS             canonical JSON, one line
//	prev BASE64                 the record's Prev
//	hash BASE64                 its Hash (checked against the content)
//	path BASE64                 zero or more: the RFC 6962 audit path, from
//	                            the leaf up
//	(an empty line)
//	the signed checkpoint, as a signed note
//
// The leaf of record N is leaf number N-1 of the tree; its data is the
// record's Hash (see the package doc).
type Proof struct {
	Record     Record
	Path       [][32]byte
	Checkpoint []byte // signed note
}

// Prove returns record seq with its inclusion proof against the latest
// checkpoint kept in the database (ErrNoCheckpoint if none covers it). The
// proof is checked before it is returned.
func (l *Log) Prove(ctx context.Context, seq int64) (Proof, error) {
	v, err := l.Verifier(ctx)
	if err != nil {
		return Proof{}, err
	}
	signed, c, err := l.latestCheckpoint(ctx, v)
	if err != nil {
		return Proof{}, err
	}
	if c == nil || seq < 1 || seq > c.Size {
		return Proof{}, fmt.Errorf("%w: record %d", ErrNoCheckpoint, seq)
	}
	var p Proof
	row := l.db.QueryRow(ctx, selectRecords+`WHERE seq = $1`, seq)
	if err := scanRecord(row, &p.Record); errors.Is(err, store.ErrNotFound) {
		return Proof{}, &ChainError{Seq: seq, Kind: Removed, Reason: "the record is missing"}
	} else if err != nil {
		return Proof{}, err
	}
	rp, err := tlog.ProveRecord(c.Size, seq-1, dbHashes{ctx, l.db})
	if err != nil {
		return Proof{}, err
	}
	for _, h := range rp {
		p.Path = append(p.Path, h)
	}
	p.Checkpoint = signed
	if _, err := CheckProof(p.Marshal(), v); err != nil {
		return Proof{}, err
	}
	return p, nil
}

// Marshal returns p in its text form.
func (p Proof) Marshal() []byte {
	var b bytes.Buffer
	r := &p.Record
	details, _ := r.Details.(json.RawMessage)
	b64 := base64.StdEncoding.EncodeToString
	fmt.Fprintf(&b, "%s\nseq %d\ntime_ns %d\nactor %s\naction %s\nsubject %s\ndetails %s\nprev %s\nhash %s\n",
		proofHeader, r.Seq, r.Time.UnixNano(), r.Actor, r.Action, r.Subject, details, b64(r.Prev[:]), b64(r.Hash[:]))
	for _, h := range p.Path {
		fmt.Fprintf(&b, "path %s\n", b64(h[:]))
	}
	b.WriteByte('\n')
	b.Write(p.Checkpoint)
	return b.Bytes()
}

// ParseProof parses the text form of a Proof; it does not check it
// (CheckProof does).
func ParseProof(text []byte) (Proof, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrProof, fmt.Sprintf(format, a...))
	}
	if len(text) > MaxProof {
		return Proof{}, bad("more than %d bytes", MaxProof)
	}
	head, cp, ok := bytes.Cut(text, []byte("\n\n"))
	if !ok {
		return Proof{}, bad("no empty line before the checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != proofHeader {
		return Proof{}, bad("the first line is not %q", proofHeader)
	}
	fields := []string{"seq", "time_ns", "actor", "action", "subject", "details", "prev", "hash"}
	if len(lines) < 1+len(fields) {
		return Proof{}, bad("%d lines, want at least %d", len(lines), 1+len(fields))
	}
	val := make(map[string]string, len(fields))
	for i, f := range fields {
		v, ok := strings.CutPrefix(lines[1+i], f+" ")
		if !ok {
			return Proof{}, bad("line %d is not %q", 2+i, f)
		}
		val[f] = v
	}
	var p Proof
	r := &p.Record
	var err1, err2 error
	r.Seq, err1 = strconv.ParseInt(val["seq"], 10, 64)
	ns, err2 := strconv.ParseInt(val["time_ns"], 10, 64)
	if err1 != nil || err2 != nil || r.Seq < 1 {
		return Proof{}, bad("seq or time_ns is not a number")
	}
	r.Time = time.Unix(0, ns).UTC()
	r.Actor, r.Action, r.Subject = val["actor"], val["action"], val["subject"]
	r.Details = json.RawMessage(val["details"])
	if !decode32(val["prev"], &r.Prev) || !decode32(val["hash"], &r.Hash) {
		return Proof{}, bad("prev or hash is not 32 bytes in base64")
	}
	for i, line := range lines[1+len(fields):] {
		v, ok := strings.CutPrefix(line, "path ")
		var h [32]byte
		if !ok || !decode32(v, &h) {
			return Proof{}, bad("line %d is not a path hash", 2+len(fields)+i)
		}
		p.Path = append(p.Path, h)
	}
	p.Checkpoint = cp
	return p, nil
}

func decode32(s string, h *[32]byte) bool {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != len(h) {
		return false
	}
	copy(h[:], b)
	return true
}

// CheckProof checks an inclusion proof in text form with the verifier key
// of the log's audit key, reading nothing else: the record's Hash is that
// of its content, the checkpoint's signature verifies and is of the key's
// log, and the audit path leads from the record's leaf to the
// checkpoint's root. It returns the proof, or an error matching ErrProof
// or, for the checkpoint, a *CheckpointError.
func CheckProof(text []byte, v note.Verifier) (Proof, error) {
	p, err := ParseProof(text)
	if err != nil {
		return Proof{}, err
	}
	r := &p.Record
	details, _ := r.Details.(json.RawMessage)
	if hashRecord(r.Seq, r.Time.UnixNano(), r.Actor, r.Action, r.Subject, details, &r.Prev) != r.Hash {
		return Proof{}, fmt.Errorf("%w: record %d does not match its hash (altered)", ErrProof, r.Seq)
	}
	c, err := OpenCheckpoint(trimNote(p.Checkpoint), v)
	if err != nil {
		return Proof{}, err
	}
	if c.Origin != v.Name() {
		return Proof{}, &CheckpointError{Size: c.Size, Kind: BadCheckpoint,
			Reason: fmt.Sprintf("of the log %q, the key is of %q", c.Origin, v.Name())}
	}
	if r.Seq > c.Size {
		return Proof{}, fmt.Errorf("%w: record %d is past the checkpoint's %d records", ErrProof, r.Seq, c.Size)
	}
	path := make(tlog.RecordProof, len(p.Path))
	for i, h := range p.Path {
		path[i] = h
	}
	if tlog.CheckRecord(path, c.Size, c.Root, r.Seq-1, tlog.RecordHash(r.Hash[:])) != nil {
		return Proof{}, fmt.Errorf("%w: record %d is not in the log of the checkpoint (the audit path does not lead to its root)", ErrProof, r.Seq)
	}
	return p, nil
}
