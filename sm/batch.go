package sm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/sts"
)

// A batch is the state of the token requests that share one transaction
// (group.go). Requests read through it and write into it; it writes to the
// database once, at the end of the transaction (flush):
//
//   - the stored answers of the batch's request ids, read with one query
//     at its start when the batch runs "with answers" (runJobs: at first it
//     counts on the ids being new, and a conflict on inserting the answers
//     runs it again with them);
//   - each register the requests use, read and checked once, its credit
//     limit decremented by one UPDATE for the whole batch;
//   - each meter and key's last TID, read once, written once;
//   - the audit records, appended together (audit.Log.AppendBatch), and the
//     answers, inserted together.
//
// A request that is refused leaves the batch as it found it: its checks
// come first, its changes to the batch last. So the batch's writes are
// those of the requests that were not refused, in their order, exactly as
// if each had run in a transaction of its own one after the other.
type batch struct {
	stored  map[string]storedAnswer
	regs    map[RegisterKey]*regUse
	tids    map[tidKey]int64 // last TID per meter and key, -1 if none
	newTIDs []tidKey         // keys whose TID the batch sets, in order
	set     map[tidKey]bool
	issued  []issuedAnswer
	replays []audit.Entry // the audit entries of the answers replayed
}

// storedAnswer is a row of sm_request.
type storedAnswer struct {
	digest, answer, actor string
}

// regUse is a register as the batch sees it.
type regUse struct {
	gen, loaded int64
	clm         uint32 // left, after the batch's credit so far
	spent       uint64 // taken by the batch
}

// tidKey names a meter and key.
type tidKey struct {
	pan string
	RegisterKey
}

// issuedAnswer is a request the batch issues: its audit entry and answer.
type issuedAnswer struct {
	id, digest string
	atNS       int64
	entry      audit.Entry
	ans        *Issued
}

// errPending reruns a request whose id another request of the same batch
// uses: once that one has committed, it gets its stored answer.
var errPending = errors.New("sm: request id in use by a request of the same transaction")

// batchRows is the most rows one INSERT of a flush writes.
const batchRows = 500

func newBatch() *batch {
	return &batch{stored: map[string]storedAnswer{}, regs: map[RegisterKey]*regUse{}, tids: map[tidKey]int64{},
		set: map[tidKey]bool{}}
}

// load reads the stored answers of ids and the last TIDs of tids, one
// query each.
func (b *batch) load(ctx context.Context, tx *store.Tx, ids []string, tids []tidKey) error {
	// Two requests of one batch with the same id: the second waits for
	// the first (errPending) even without the stored answers.
	err := selectIn(ctx, tx, `SELECT id, digest, answer, actor FROM sm_request WHERE id IN `, ids, func(row store.Scanner) error {
		var id string
		var s storedAnswer
		if err := row.Scan(&id, &s.digest, &s.answer, &s.actor); err != nil {
			return err
		}
		b.stored[id] = s
		return nil
	})
	if err != nil || len(tids) == 0 {
		return err
	}
	pans := make([]string, 0, len(tids))
	for _, k := range tids {
		b.tids[k] = -1
		pans = append(pans, k.pan)
	}
	return selectIn(ctx, tx, `SELECT pan, sgc, krn, kt, tid FROM sm_tid WHERE pan IN `, pans, func(row store.Scanner) error {
		var k tidKey
		var sgc, krn, kt, tid int64
		if err := row.Scan(&k.pan, &sgc, &krn, &kt, &tid); err != nil {
			return err
		}
		k.RegisterKey = RegisterKey{SGC: uint32(sgc), KRN: uint8(krn), KT: sts.KeyType(kt)}
		b.tids[k] = tid
		return nil
	})
}

// selectIn runs query (…) with the distinct values of vals, batchRows at a
// time, calling scan for each row.
func selectIn(ctx context.Context, tx *store.Tx, query string, vals []string, scan func(store.Scanner) error) error {
	slices.Sort(vals)
	vals = slices.Compact(vals)
	for lo := 0; lo < len(vals); lo += batchRows {
		part := vals[lo:min(lo+batchRows, len(vals))]
		args := make([]any, len(part))
		q := append(make([]byte, 0, len(query)+6*len(part)), query...)
		for i, v := range part {
			args[i] = v
			sep := byte(',')
			if i == 0 {
				sep = '('
			}
			q = appendParam(append(q, sep), tx.Dialect(), i+1)
		}
		q = append(q, ')')
		if err := store.EachRow(ctx, tx, string(q), args, scan); err != nil {
			return err
		}
	}
	return nil
}

// eachRow runs query on q, calling fn with each row as read reads it:
// store.EachRow for a reader that is a function, rows streamed (not
// gathered as store.All does) to fn.
func eachRow[T any](ctx context.Context, q store.Querier, query string, read func(store.Scanner) (T, error), fn func(T) error) error {
	return store.EachRow(ctx, q, query, nil, func(row store.Scanner) error {
		v, err := read(row)
		if err != nil {
			return err
		}
		return fn(v)
	})
}

// lookup returns the stored answer of the job's request id, if any;
// errPending if a request of the batch issues under that id.
func (b *batch) lookup(j *job) (Issued, bool, error) {
	s, ok := b.stored[j.id]
	if !ok {
		return Issued{}, false, nil
	}
	if s.answer == "" && s.actor == j.actor {
		return Issued{}, true, errPending
	}
	return decodeStored(j, s)
}

// decodeStored returns a stored answer of j's request id: refused if it
// belongs to another caller (whatever the request, so that a caller learns
// nothing of another's requests) or answers another request.
func decodeStored(j *job, s storedAnswer) (Issued, bool, error) {
	if s.actor != j.actor {
		return Issued{}, true, refuse(ErrRequestOwned, "%q", j.id)
	}
	if s.digest != j.digest {
		return Issued{}, true, refuse(ErrRequestReused, "%q", j.id)
	}
	var ans Issued
	if err := json.Unmarshal([]byte(s.answer), &ans); err != nil {
		return Issued{}, true, refuseCause(ErrIntegrity, err, "stored answer of %q", j.id)
	}
	ans.Replayed = true
	return ans, true, nil
}

// lockRegister reads a register in the transaction, the first time the
// batch uses it, and returns its credit limit left; errStale if it was
// reloaded since r was read (and then forgets the cached copy of r).
func (m *Module) lockRegister(ctx context.Context, tx *store.Tx, b *batch, r *Register) (uint32, error) {
	u, ok := b.regs[r.RegisterKey]
	if !ok {
		var clm int64
		u = new(regUse)
		err := tx.QueryRow(ctx, `SELECT clm, gen, loaded_ns FROM sm_register WHERE sgc = $1 AND krn = $2 AND kt = $3`,
			int64(r.SGC), int64(r.KRN), int64(r.KT)).Scan(&clm, &u.gen, &u.loaded)
		if errors.Is(err, store.ErrNotFound) {
			m.forget(r.RegisterKey)
			return 0, refuse(ErrNoRegister, "%v", r.RegisterKey)
		}
		if err != nil {
			return 0, err
		}
		u.clm = uint32(clm)
		b.regs[r.RegisterKey] = u
	}
	if u.gen != r.gen || u.loaded != r.Loaded.UnixNano() {
		m.forget(r.RegisterKey)
		return 0, errStale
	}
	return u.clm, nil
}

// spend takes cost from a register the batch has locked.
func (b *batch) spend(k RegisterKey, cost uint64) {
	u := b.regs[k]
	u.clm -= uint32(cost)
	u.spent += cost
}

func (k MeterKey) tidKey() tidKey { return tidKey{pan: k.PAN.String(), RegisterKey: k.RegisterKey} }

// lastTID is the last TID issued for a meter and key, or -1.
func (b *batch) lastTID(ctx context.Context, tx *store.Tx, pan sts.PAN, k RegisterKey) (int64, error) {
	key := tidKey{pan: pan.String(), RegisterKey: k}
	if last, ok := b.tids[key]; ok {
		return last, nil
	}
	var last int64
	err := tx.QueryRow(ctx, `SELECT tid FROM sm_tid WHERE pan = $1 AND sgc = $2 AND krn = $3 AND kt = $4`,
		key.pan, int64(k.SGC), int64(k.KRN), int64(k.KT)).Scan(&last)
	if errors.Is(err, store.ErrNotFound) {
		last, err = -1, nil
	}
	if err != nil {
		return 0, err
	}
	b.tids[key] = last
	return last, nil
}

// setTID records tid as the last TID of a meter and key.
func (b *batch) setTID(mk MeterKey, tid uint32) {
	key := tidKey{pan: mk.PAN.String(), RegisterKey: mk.RegisterKey}
	b.tids[key] = int64(tid)
	if !b.set[key] {
		b.set[key] = true
		b.newTIDs = append(b.newTIDs, key)
	}
}

// issue adds a request's audit entry and answer to the batch.
func (b *batch) issue(j *job, e audit.Entry, ans *Issued) {
	b.issued = append(b.issued, issuedAnswer{id: j.id, digest: j.digest, atNS: j.now.UnixNano(), entry: e, ans: ans})
	b.stored[j.id] = storedAnswer{digest: j.digest, actor: j.actor}
}

// replay adds the audit entry of a replayed answer to the batch.
func (b *batch) replay(e audit.Entry) { b.replays = append(b.replays, e) }

// flush writes the batch: credit limits, TIDs, audit records, answers.
func (m *Module) flush(ctx context.Context, tx *store.Tx, b *batch) error {
	if err := b.flushRegisters(ctx, tx); err != nil {
		return err
	}
	if err := b.flushTIDs(ctx, tx); err != nil {
		return err
	}
	if len(b.issued)+len(b.replays) == 0 {
		return nil
	}
	entries := make([]audit.Entry, 0, len(b.issued)+len(b.replays))
	for _, x := range b.issued {
		entries = append(entries, x.entry)
	}
	recs, err := m.log.AppendBatch(ctx, tx, append(entries, b.replays...))
	if err != nil {
		return err
	}
	return b.flushAnswers(ctx, tx, recs[:len(b.issued)])
}

// flushRegisters takes each register's credit spent, in key order (so that
// module processes sharing a database take its rows in the same order).
func (b *batch) flushRegisters(ctx context.Context, tx *store.Tx) error {
	keys := make([]RegisterKey, 0, len(b.regs))
	for k, u := range b.regs {
		if u.spent > 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y RegisterKey) int {
		return cmpRegisterKey(x, y)
	})
	for _, k := range keys {
		u := b.regs[k]
		res, err := tx.Exec(ctx, `UPDATE sm_register SET clm = clm - $1 WHERE sgc = $2 AND krn = $3 AND kt = $4 AND gen = $5 AND clm >= $1`,
			int64(u.spent), int64(k.SGC), int64(k.KRN), int64(k.KT), u.gen)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("sm: %v changed during the transaction (%d rows, %v)", k, n, err)
		}
	}
	return nil
}

func cmpRegisterKey(x, y RegisterKey) int {
	switch {
	case x.SGC != y.SGC:
		return cmpInt(x.SGC, y.SGC)
	case x.KRN != y.KRN:
		return cmpInt(x.KRN, y.KRN)
	}
	return cmpInt(x.KT, y.KT)
}

func cmpInt[T ~uint8 | ~uint32](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// flushTIDs writes the TIDs the batch set.
func (b *batch) flushTIDs(ctx context.Context, tx *store.Tx) error {
	return insertRows(ctx, tx, `INSERT INTO sm_tid (pan, sgc, krn, kt, tid) VALUES `,
		` ON CONFLICT (pan, sgc, krn, kt) DO UPDATE SET tid = excluded.tid`, 5, len(b.newTIDs),
		func(i int, args []any) []any {
			k := b.newTIDs[i]
			return append(args, k.pan, int64(k.SGC), int64(k.KRN), int64(k.KT), b.tids[k])
		})
}

// flushAnswers stores the answers, with the audit records' numbers.
func (b *batch) flushAnswers(ctx context.Context, tx *store.Tx, recs []audit.Record) error {
	answers := make([]string, len(b.issued))
	for i, x := range b.issued {
		x.ans.AuditSeq = recs[i].Seq
		a, err := json.Marshal(x.ans)
		if err != nil {
			return err
		}
		answers[i] = string(a)
	}
	return insertRows(ctx, tx, `INSERT INTO sm_request (id, digest, answer, at_ns, actor) VALUES `, "", 5, len(b.issued),
		func(i int, args []any) []any {
			x := b.issued[i]
			return append(args, x.id, x.digest, answers[i], x.atNS, x.entry.Actor)
		})
}

// appendParam appends placeholder n: $n, or a plain ? on SQLite, where
// the driver finds a numbered parameter by a search through all of them,
// which makes a statement with many numbered parameters slow to bind.
func appendParam(q []byte, d store.Dialect, n int) []byte {
	if d == store.SQLite {
		return append(q, '?')
	}
	return strconv.AppendInt(append(q, '$'), int64(n), 10)
}

// insertRows runs head VALUES (…), (…) tail for n rows of cols columns,
// batchRows rows per statement; row appends the values of row i to args.
func insertRows(ctx context.Context, tx *store.Tx, head, tail string, cols, n int, row func(i int, args []any) []any) error {
	for lo := 0; lo < n; lo += batchRows {
		hi := min(lo+batchRows, n)
		q := make([]byte, 0, len(head)+len(tail)+(hi-lo)*cols*6)
		q = append(q, head...)
		args := make([]any, 0, (hi-lo)*cols)
		for i := lo; i < hi; i++ {
			if i > lo {
				q = append(q, ',')
			}
			q = append(q, '(')
			for c := range cols {
				if c > 0 {
					q = append(q, ',')
				}
				q = appendParam(q, tx.Dialect(), len(args)+c+1)
			}
			q = append(q, ')')
			args = row(i, args)
		}
		q = append(q, tail...)
		if _, err := tx.Exec(ctx, string(q), args...); err != nil {
			return err
		}
	}
	return nil
}
