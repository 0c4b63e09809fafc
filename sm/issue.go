package sm

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/tokenjson"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/sts"
)

// MeterKey names a meter and the decoder key it holds: its PAN and tariff
// index, and the register (SGC, KRN, KT) its decoder key derives from.
// The register also gives the base date, DKGA and EA.
type MeterKey struct {
	PAN sts.PAN
	TI  uint8
	RegisterKey
}

func (k MeterKey) describe() string {
	return fmt.Sprintf("%s|%d|%06d|%d|%d", k.PAN, k.TI, k.SGC, k.KRN, k.KT)
}

// CreditRequest asks for a class 0 transfer credit token.
type CreditRequest struct {
	// ID is the request id (see Issued). Empty: the module makes one up,
	// and the request cannot be retried safely.
	ID    string
	Meter MeterKey
	// Sub is Electricity, Water, Gas, ConnectionTime or
	// ElectricityCurrency.
	Sub sts.Subclass
	// Amount is the credit in tenths of the subclass's unit (subclasses
	// 0..3), rounded up to the next value a token can carry.
	Amount uint64
	// Currency is the amount of a currency credit token (subclass 4) in
	// units of 0.00001 of the currency; negative for a debit.
	Currency *big.Int
}

// ManagementRequest asks for a class 2 register-type management token.
type ManagementRequest struct {
	ID    string
	Meter MeterKey
	// Sub is MaximumPowerLimit, ClearCredit, TariffRate, ClearTamper,
	// MaximumPhasePowerUnbalanceLimit or WaterMeterFactor.
	Sub sts.Subclass
	// Value is the watts of a power limit, or the 16-bit value of the
	// other subclasses (the register to clear, 0xFFFF for all; the tariff
	// rate; the water meter factor; 0 for clear tamper).
	Value uint64
}

// KeyChangeRequest asks for the key change token set that moves a meter
// from its current decoder key (Meter) to the one derived from another
// register (To) with tariff index TI.
//
// The set is 2 tokens for a 64-bit key (3 with ThreeTokens, the 3rd
// carrying the SGC) and 4 for a 128-bit key. The new register must use the
// same encryption algorithm. Its base date is the meter's or the next one
// (1993 → 2014 → 2035): in that case the set has the rollover bit, and the
// meter clears its TID memory and counts TIDs from the new base date.
type KeyChangeRequest struct {
	ID          string
	Meter       MeterKey
	To          RegisterKey
	TI          uint8
	ThreeTokens bool
}

// TestRequest asks for a class 1 initiate meter test/display token, which
// is not encrypted and needs no register.
type TestRequest struct {
	ID      string
	Sub     sts.Subclass // TestDisplay1 or TestDisplay2
	MfrCode uint16
	Control uint64
}

// Issued is the module's answer to a token request.
//
// Idempotency: the answer is stored with the request id in the transaction
// that issues the tokens, so a request repeated with the same id (a retry
// after a lost answer) gets the stored answer again, Replayed set, and never
// a second token; the same id with another request is refused
// (ErrRequestReused). A request id belongs to the caller who first used
// it: another caller giving it is refused (ErrRequestOwned), never
// answered, and every replay is audited ("token.replay") with the caller
// who asked again.
type Issued struct {
	RequestID string       `json:"request_id"`
	Tokens    []string     `json:"tokens"`
	Class     sts.Class    `json:"class"`
	Subclass  sts.Subclass `json:"subclass"`
	// TID is the token identifier of a class 0 or 2 token (0 for the
	// others).
	TID uint32 `json:"tid,omitempty"`
	// Amount is the credit the token carries as encoded (tenths, rounded
	// up), Currency that of a currency token (currency units, 5 decimals).
	Amount   uint64 `json:"amount,omitempty"`
	Currency string `json:"currency,omitempty"`
	// CLM is the register's credit limit left after a credit token.
	CLM uint32 `json:"clm,omitempty"`
	// Rollover is set on a key change set that changes the base date.
	Rollover bool `json:"rollover,omitempty"`
	// AuditSeq is the number of the audit record of the issue.
	AuditSeq int64     `json:"audit_seq"`
	Time     time.Time `json:"time"`
	Replayed bool      `json:"replayed,omitempty"`
}

// MaxRequestID is the longest request id, in bytes.
const MaxRequestID = 128

// errStale reruns a request whose register was reloaded between its
// preparation and its transaction.
var errStale = errors.New("sm: register reloaded meanwhile")

// job is one token request: what it is (for the idempotency digest and the
// audit), its preparation and its part of a transaction.
type job struct {
	op      string // permission and audit action
	id      string
	actor   string // the caller, Actor.String: the owner of id
	digest  string
	subject string
	now     time.Time
	// prepare, if set, does the work that needs no transaction (read the
	// register, check its times, derive the meter's cipher) and sets run.
	// It runs again when run finds the register reloaded meanwhile.
	prepare func(ctx context.Context) error
	// tids are the meters and keys whose last TID run reads.
	tids []tidKey
	// run does the request's checks inside tx, then records its changes
	// in b (never failing after that), filling ans and returning the audit
	// details. Its ctx is the committer's, not the caller's: a caller who
	// gives up once its request is submitted does not fail the others.
	run func(ctx context.Context, tx *store.Tx, b *batch, ans *Issued) (map[string]any, error)
}

// maxRounds is how many times a request is prepared before the module
// gives up on a register that keeps being reloaded.
const maxRounds = 3

func newJob(op, id, description, subject string, now time.Time) (*job, error) {
	if id == "" {
		var b [16]byte
		rand.Read(b[:])
		id = "auto-" + hex.EncodeToString(b[:])
	}
	if err := checkRequestID(id); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(op + "|" + description))
	return &job{op: op, id: id, digest: hex.EncodeToString(sum[:]), subject: subject, now: now}, nil
}

func checkRequestID(id string) error {
	if len(id) > MaxRequestID {
		return refuse(ErrInvalidRequest, "request id of %d bytes (at most %d)", len(id), MaxRequestID)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return refuse(ErrInvalidRequest, "request id byte %d is not printable ASCII", i)
		}
	}
	return nil
}

// stored returns the stored answer of the job's request id, if any.
func (m *Module) stored(ctx context.Context, j *job) (Issued, bool, error) {
	var s storedAnswer
	err := m.db.QueryRow(ctx, `SELECT digest, answer, actor FROM sm_request WHERE id = $1`, j.id).Scan(&s.digest, &s.answer, &s.actor)
	if errors.Is(err, store.ErrNotFound) {
		return Issued{}, false, nil
	}
	if err != nil {
		return Issued{}, false, err
	}
	ans, ok, err := decodeStored(j, s)
	if err == nil {
		_, err = m.log.AppendNow(ctx, replayEntry(j, ans))
	}
	if err != nil {
		return Issued{}, true, err
	}
	return ans, ok, nil
}

// replayEntry is the audit entry of the replay of the answer ans to j.
func replayEntry(j *job, ans Issued) audit.Entry {
	return audit.Entry{Actor: j.actor, Action: "token.replay", Subject: j.subject,
		Details: map[string]any{"request_id": j.id, "op": j.op, "audit_seq": ans.AuditSeq}}
}

// issue runs one job (see issueAll).
func (m *Module) issue(ctx context.Context, a Actor, j *job) (Issued, error) {
	ans, errs := m.issueAll(ctx, a, []*job{j})
	return ans[0], errs[0]
}

// issueAll runs jobs, each with its own outcome: the stored answer if its
// id was seen, else its part of a transaction, which appends its audit
// record and stores its answer, so the token, its audit record and its
// answer commit together. The transactions are shared with other requests
// (group commit, group.go). A job refused by its preparation gets the
// stored answer of its id if there is one: a retry gets its token even if
// the register has gone or expired since.
func (m *Module) issueAll(ctx context.Context, a Actor, jobs []*job) ([]Issued, []error) {
	answers := make([]Issued, len(jobs))
	errs := make([]error, len(jobs))
	todo := make([]int, len(jobs))
	for i := range todo {
		todo[i] = i
		jobs[i].actor = a.String()
	}
	for round := 0; len(todo) > 0; round++ {
		if round == maxRounds {
			for _, i := range todo {
				errs[i] = refuse(ErrNoRegister, "the register of request %q keeps being reloaded", jobs[i].id)
			}
			break
		}
		var ready []int
		var txs []txJob
		for _, i := range todo {
			if err := m.prepareJob(ctx, jobs[i]); err != nil {
				answers[i], errs[i] = m.refused(ctx, jobs[i], err)
				continue
			}
			ready = append(ready, i)
			txs = append(txs, txJob{id: jobs[i].id, tids: jobs[i].tids, fn: m.txFunc(a, jobs[i], &answers[i])})
		}
		todo = todo[:0]
		for k, err := range m.submit(txs) {
			i := ready[k]
			switch {
			case errors.Is(err, errStale), errors.Is(err, errPending):
				todo = append(todo, i)
			case err != nil:
				// A refusal or a conflict (another process committed
				// the same request id first): the transaction may have
				// counted on the id being new (group.go).
				answers[i], errs[i] = m.refused(ctx, jobs[i], err)
			}
		}
	}
	for i, err := range errs {
		if err != nil && !answers[i].Replayed {
			answers[i] = Issued{}
		}
	}
	return answers, errs
}

func (m *Module) prepareJob(ctx context.Context, j *job) error {
	if j.prepare == nil {
		return nil
	}
	return j.prepare(ctx)
}

// refused returns the stored answer of a job refused with err, or err.
func (m *Module) refused(ctx context.Context, j *job, err error) (Issued, error) {
	var e *Error
	if !errors.As(err, &e) && !errors.Is(err, store.ErrConflict) {
		return Issued{}, err
	}
	if ans, ok, err2 := m.stored(ctx, j); ok || err2 != nil {
		return ans, err2
	}
	return Issued{}, err
}

// txFunc is the part of j in a transaction: its stored answer, or its run
// and the audit entry and answer it adds to the batch.
func (m *Module) txFunc(a Actor, j *job, ans *Issued) func(ctx context.Context, tx *store.Tx, b *batch) error {
	return func(ctx context.Context, tx *store.Tx, b *batch) error {
		stored, ok, err := b.lookup(j)
		if ok || err != nil {
			*ans = stored
			if err == nil {
				b.replay(replayEntry(j, stored))
			}
			return err
		}
		*ans = Issued{RequestID: j.id, Time: j.now.UTC()}
		details, err := j.run(ctx, tx, b, ans)
		if err != nil {
			return err
		}
		details["request_id"] = j.id
		details["tokens_sha256"] = tokenHashes(ans.Tokens)
		b.issue(j, audit.Entry{Actor: a.String(), Action: j.op, Subject: j.subject, Details: details}, ans)
		return nil
	}
}

// TokenHash identifies a token in the audit log without making the log a
// store of unused tokens: the first 8 bytes of SHA-256 of its 20 digits,
// in hex.
func TokenHash(digits string) string {
	sum := sha256.Sum256([]byte(digits))
	return hex.EncodeToString(sum[:8])
}

func tokenHashes(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		out[i] = TokenHash(t)
	}
	return out
}

// Credit issues a class 0 credit token (operator; SM?VC). The module
// refuses a key type its variant may not use for credit (05), a missing
// register (28), a key before ACT or after IUT (43, 42), a TID past the
// KEN (41) or too far ahead of the clock (44), a subclass that is not
// credit (48), an amount out of range (63), and a credit beyond the
// register's credit limit CLM (31). In one transaction it decrements the
// CLM by the amount encoded (for currency: by 0.01 units, rounded up; a
// debit costs nothing and gives nothing back), records the TID, appends the
// audit record and stores the answer.
func (m *Module) Credit(ctx context.Context, a Actor, req CreditRequest) (Issued, error) {
	if err := m.ready(a, "token.credit"); err != nil {
		return Issued{}, err
	}
	j, err := m.creditJob(req)
	if err != nil {
		return Issued{}, err
	}
	return m.issue(ctx, a, j)
}

// CreditBatch issues credit tokens as Credit does, for many requests at
// once, sharing transactions: out[i] and errs[i] are the answer to or
// refusal of reqs[i]. The requests are checked and their tokens made
// independently: one refused leaves the others be.
func (m *Module) CreditBatch(ctx context.Context, a Actor, reqs []CreditRequest) (out []Issued, errs []error) {
	out, errs = make([]Issued, len(reqs)), make([]error, len(reqs))
	if err := m.ready(a, "token.credit"); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return out, errs
	}
	var jobs []*job
	var at []int
	for i, req := range reqs {
		j, err := m.creditJob(req)
		if err != nil {
			errs[i] = err
			continue
		}
		jobs, at = append(jobs, j), append(at, i)
	}
	answers, jerrs := m.issueAll(ctx, a, jobs)
	for k, i := range at {
		out[i], errs[i] = answers[k], jerrs[k]
	}
	return out, errs
}

// amountRefusal refuses a credit amount a token cannot carry, in the
// subclass's unit (kWh, m³, …) as a person gives it, not in tenths.
func amountRefusal(tenths uint64) *Error {
	if tenths == 0 {
		return refuse(ErrRange, "amount 0: a credit is at least 0.1 of the unit")
	}
	return refuse(ErrRange, "amount %d.%d is above the largest a token carries, %d.%d of the unit",
		tenths/10, tenths%10, uint64(sts.MaxAmount)/10, uint64(sts.MaxAmount)%10)
}

// creditJob checks a credit request and makes its job.
func (m *Module) creditJob(req CreditRequest) (*job, error) {
	var tok creditToken
	switch {
	case req.Sub <= sts.ConnectionTime:
		amt, err := sts.EncodeAmount(req.Amount)
		if err != nil || req.Amount == 0 {
			return nil, amountRefusal(req.Amount)
		}
		tok = creditToken{sub: req.Sub, amount: amt, cost: amt.Value()}
	case req.Sub == sts.ElectricityCurrency:
		if req.Currency == nil {
			return nil, refuse(ErrRange, "a currency credit needs a currency amount")
		}
		amt, err := sts.EncodeCurrencyAmount(req.Currency)
		if err != nil {
			return nil, refuseCause(ErrRange, err, "currency amount")
		}
		tok = creditToken{sub: req.Sub, currency: amt, isCurrency: true, cost: currencyCost(amt.Value())}
	default:
		return nil, refuse(ErrSubclass, "class 0 subclass %d is not a credit this module issues", req.Sub)
	}
	if err := m.checkCredit(req.Meter.KT); err != nil {
		return nil, err
	}
	desc := fmt.Sprintf("%s|%d|%d|%v", req.Meter.describe(), req.Sub, req.Amount, req.Currency)
	return m.registerJob("token.credit", req.ID, desc, req.Meter, func(j *job, r *Register, c sts.Cipher) {
		rnd := randomNibble()
		j.run = func(ctx context.Context, tx *store.Tx, b *batch, ans *Issued) (map[string]any, error) {
			clm, err := m.lockRegister(ctx, tx, b, r)
			if err != nil {
				return nil, err
			}
			if uint64(clm) < tok.cost {
				return nil, refuse(ErrCreditLimit, "%v has %d left, the token needs %d", r.RegisterKey, clm, tok.cost)
			}
			tid, err := m.nextTID(ctx, tx, b, req.Meter, r, j.now)
			if err != nil {
				return nil, err
			}
			n, err := tok.encode(tid, rnd, c)
			if err != nil {
				return nil, refuseCause(ErrRange, err, "token")
			}
			b.spend(r.RegisterKey, tok.cost)
			b.setTID(req.Meter, tid)
			ans.Tokens = []string{n.String()}
			ans.Class, ans.Subclass, ans.TID, ans.CLM = sts.ClassCredit, tok.sub, tid, clm-uint32(tok.cost)
			details := map[string]any{"subclass": int(tok.sub), "tid": tid, "cost": int64(tok.cost), "clm": int64(ans.CLM),
				"ti": int(req.Meter.TI), "sgc": int(r.SGC), "krn": int(r.KRN), "kt": int(r.KT)}
			if tok.isCurrency {
				ans.Currency = tok.currency.String()
				details["currency"] = ans.Currency
			} else {
				ans.Amount = tok.amount.Value()
				details["amount"] = int64(ans.Amount)
			}
			return details, nil
		}
	})
}

// creditToken is a credit token before its TID and RND.
type creditToken struct {
	sub        sts.Subclass
	amount     sts.Amount
	currency   sts.CurrencyAmount
	isCurrency bool
	cost       uint64 // what it takes from the credit limit
}

func (t creditToken) encode(tid uint32, rnd uint8, c sts.Cipher) (sts.Number, error) {
	if t.isCurrency {
		return sts.CurrencyCredit{Sub: t.sub, TID: tid, Amount: t.currency}.Encode(c)
	}
	return sts.Credit{Sub: t.sub, TID: tid, RND: rnd, Amount: t.amount}.Encode(c)
}

// currencyCost is what a currency credit of v (units of 0.00001) takes
// from the credit limit: 0.01 units, rounded up; nothing for a debit.
func currencyCost(v *big.Int) uint64 {
	if v.Sign() <= 0 {
		return 0
	}
	q, r := new(big.Int).QuoRem(v, big.NewInt(1000), new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsUint64() {
		return 1 << 63
	}
	return q.Uint64()
}

// Manage issues a class 2 management token (operator; SM?VM), under every
// key type and in both variants, with the checks of Credit but the credit
// limit.
func (m *Module) Manage(ctx context.Context, a Actor, req ManagementRequest) (Issued, error) {
	if err := m.ready(a, "token.manage"); err != nil {
		return Issued{}, err
	}
	var value uint16
	switch req.Sub {
	case sts.MaximumPowerLimit, sts.MaximumPhasePowerUnbalanceLimit:
		amt, err := sts.EncodeAmount(req.Value)
		if err != nil {
			return Issued{}, refuseCause(ErrRange, err, "%d W", req.Value)
		}
		value = uint16(amt)
	case sts.ClearCredit, sts.TariffRate, sts.ClearTamper, sts.WaterMeterFactor:
		if req.Value > 0xFFFF {
			return Issued{}, refuse(ErrRange, "value %d (16 bits)", req.Value)
		}
		value = uint16(req.Value)
	default:
		return Issued{}, refuse(ErrSubclass, "class 2 subclass %d is not a management token (key changes: KeyChange)", req.Sub)
	}
	desc := fmt.Sprintf("%s|%d|%d", req.Meter.describe(), req.Sub, req.Value)
	j, err := m.registerJob("token.manage", req.ID, desc, req.Meter, func(j *job, r *Register, c sts.Cipher) {
		rnd := randomNibble()
		j.run = func(ctx context.Context, tx *store.Tx, b *batch, ans *Issued) (map[string]any, error) {
			if _, err := m.lockRegister(ctx, tx, b, r); err != nil {
				return nil, err
			}
			tid, err := m.nextTID(ctx, tx, b, req.Meter, r, j.now)
			if err != nil {
				return nil, err
			}
			n, err := sts.Management{Sub: req.Sub, TID: tid, RND: rnd, Value: value}.Encode(c)
			if err != nil {
				return nil, refuseCause(ErrRange, err, "token")
			}
			b.setTID(req.Meter, tid)
			ans.Tokens = []string{n.String()}
			ans.Class, ans.Subclass, ans.TID = sts.ClassManagement, req.Sub, tid
			return map[string]any{"subclass": int(req.Sub), "tid": tid, "value": int64(req.Value), "ti": int(req.Meter.TI),
				"sgc": int(r.SGC), "krn": int(r.KRN), "kt": int(r.KT)}, nil
		}
	})
	if err != nil {
		return Issued{}, err
	}
	return m.issue(ctx, a, j)
}

// registerJob makes the job of a request on one register, whose
// preparation (outside the transaction: work that need not hold the write
// lock) reads the register, checks ACT and IUT, derives the meter's cipher
// and calls prepare. The register comes from the cache (cache.go) if it is
// there; if the cached copy fails a check, the register is read again.
func (m *Module) registerJob(op, id, desc string, mk MeterKey,
	prepare func(j *job, r *Register, c sts.Cipher)) (*job, error) {
	j, err := newJob(op, id, desc, mk.PAN.String(), m.now())
	if err != nil {
		return nil, err
	}
	j.tids = []tidKey{mk.tidKey()}
	j.prepare = func(ctx context.Context) error {
		r, cached := m.cache.register(mk.RegisterKey)
		c, err := m.meterCipher(ctx, j, &r, cached, mk)
		if err != nil && cached {
			m.forget(mk.RegisterKey)
			c, err = m.meterCipher(ctx, j, &r, false, mk)
		}
		if err != nil {
			return err
		}
		prepare(j, &r, c)
		return nil
	}
	return j, nil
}

// meterCipher reads register r (unless cached), checks its times and
// derives the meter's cipher.
func (m *Module) meterCipher(ctx context.Context, j *job, r *Register, cached bool, mk MeterKey) (sts.Cipher, error) {
	if !cached {
		var err error
		if *r, err = m.register(ctx, mk.RegisterKey); err != nil {
			return nil, err
		}
	}
	if err := r.checkTime(j.now); err != nil {
		return nil, err
	}
	return m.decoderCipher(ctx, r, mk.PAN, mk.TI)
}

// nextTID returns the TID of the next token for a meter and key: the
// minutes since the key's base date now, or one more than the last TID
// issued for that meter and key if that is later, so that two tokens in
// the same minute never share a TID, and above the floor of the module's
// restores (sm/restore.go). It refuses a TID more than the module's window
// ahead of the clock or beyond 24 bits (44), and one whose top 8 bits
// exceed the key's KEN (41).
func (m *Module) nextTID(ctx context.Context, tx *store.Tx, b *batch, mk MeterKey, r *Register, now time.Time) (uint32, error) {
	clock, err := r.BDT.TID(now)
	if err != nil {
		return 0, refuseCause(ErrTIDWindow, err, "base date %d", r.BDT)
	}
	last, err := b.lastTID(ctx, tx, mk.PAN, mk.RegisterKey)
	if err != nil {
		return 0, err
	}
	floor, err := m.tidFloor(r)
	if err != nil {
		return 0, err
	}
	tid := max(int64(clock), last+1, floor)
	switch {
	case tid > sts.MaxTID:
		return 0, refuse(ErrTIDWindow, "TID %d beyond 24 bits: change the meter's key with a rollover", tid)
	case tid-int64(clock) > int64(m.window) && tid == floor:
		return 0, m.floorRefusal(r, tid, int64(clock))
	case tid-int64(clock) > int64(m.window):
		return 0, refuse(ErrTIDWindow, "TID %d would run %d minutes ahead of the clock (at most %d)", tid, tid-int64(clock), m.window)
	case sts.KeyExpired(uint32(tid), r.KEN):
		return 0, refuse(ErrKeyExpired, "TID %d, KEN %d", tid, r.KEN)
	}
	return uint32(tid), nil
}

// KeyChange issues a key change token set (operator; SM?VK): the new
// decoder key derived from register To for the meter, in 2, 3 or 4 tokens
// encrypted under the meter's current key. The variant rules (05), both
// registers (28, 43, 42) and the base-date rule (94) are checked. Without
// rollover the new key's TIDs continue from the old key's, since the
// meter keeps its TID memory.
func (m *Module) KeyChange(ctx context.Context, a Actor, req KeyChangeRequest) (Issued, error) {
	if err := m.ready(a, "token.keychange"); err != nil {
		return Issued{}, err
	}
	if err := m.checkKeyChange(req.Meter.KT, req.To.KT); err != nil {
		return Issued{}, err
	}
	now := m.now()
	desc := fmt.Sprintf("%s|%06d|%d|%d|%d|%v", req.Meter.describe(), req.To.SGC, req.To.KRN, req.To.KT, req.TI, req.ThreeTokens)
	j, err := newJob("token.keychange", req.ID, desc, req.Meter.PAN.String(), now)
	if err != nil {
		return Issued{}, err
	}
	j.prepare = func(ctx context.Context) error { return m.prepareKeyChange(ctx, j, req) }
	j.tids = []tidKey{req.Meter.tidKey(), {pan: req.Meter.PAN.String(), RegisterKey: req.To}}
	return m.issue(ctx, a, j)
}

func (m *Module) prepareKeyChange(ctx context.Context, j *job, req KeyChangeRequest) error {
	oldR, err := m.register(ctx, req.Meter.RegisterKey)
	if err != nil {
		return err
	}
	newR, err := m.register(ctx, req.To)
	if err != nil {
		return err
	}
	for _, r := range []*Register{&oldR, &newR} {
		if err := r.checkTime(j.now); err != nil {
			return err
		}
	}
	if oldR.EA != newR.EA {
		return refuse(ErrAttribute, "the meter's key is EA%s, %v is EA%s", oldR.EA, newR.RegisterKey, newR.EA)
	}
	rollover := false
	switch {
	case newR.BDT == oldR.BDT:
	case newR.BDT == nextBaseDate(oldR.BDT):
		rollover = true
	default:
		return refuse(ErrAttribute, "base date %d after %d: a key change keeps the base date or moves to the next", newR.BDT, oldR.BDT)
	}
	if req.ThreeTokens && oldR.EA.KeySize() != 8 {
		return refuse(ErrRange, "three-token sets are for 64-bit keys")
	}
	oldC, err := m.decoderCipher(ctx, &oldR, req.Meter.PAN, req.Meter.TI)
	if err != nil {
		return err
	}
	newDK, err := m.decoderKey(ctx, &newR, req.To, req.Meter.PAN, req.TI)
	if err != nil {
		return err
	}
	defer clear(newDK)
	set, err := sts.KeyChangeTokens(sts.NewKey{Key: newDK, KeyType: req.To.KT, KRN: req.To.KRN, TI: req.TI, KEN: newR.KEN,
		Rollover: rollover, SGC: req.To.SGC, ThreeTokens: req.ThreeTokens})
	if err != nil {
		return refuseCause(ErrRange, err, "key change set")
	}
	tokens := make([]string, len(set))
	for i, t := range set {
		n, err := t.Encode(oldC)
		set[i].KeyPart = 0
		if err != nil {
			return refuseCause(ErrRange, err, "key change token")
		}
		tokens[i] = n.String()
	}
	newMeter := MeterKey{PAN: req.Meter.PAN, TI: req.TI, RegisterKey: req.To}
	j.run = func(ctx context.Context, tx *store.Tx, b *batch, ans *Issued) (map[string]any, error) {
		for _, r := range []*Register{&oldR, &newR} {
			if _, err := m.lockRegister(ctx, tx, b, r); err != nil {
				return nil, err
			}
		}
		if !rollover {
			// The meter keeps its TID memory: the new key's TIDs
			// continue after the old key's.
			last, err := b.lastTID(ctx, tx, req.Meter.PAN, req.Meter.RegisterKey)
			if err != nil {
				return nil, err
			}
			cur, err := b.lastTID(ctx, tx, req.Meter.PAN, req.To)
			if err != nil {
				return nil, err
			}
			if last > cur {
				b.setTID(newMeter, uint32(last))
			}
		}
		ans.Tokens = tokens
		ans.Class, ans.Subclass, ans.Rollover = sts.ClassManagement, sts.DecoderKey1, rollover
		return map[string]any{"from": registerDetails(oldR.RegisterKey), "to": registerDetails(req.To),
			"ti_from": int(req.Meter.TI), "ti_to": int(req.TI), "rollover": rollover, "bdt_from": int(oldR.BDT),
			"bdt_to": int(newR.BDT), "tokens": len(tokens)}, nil
	}
	return nil
}

func registerDetails(k RegisterKey) map[string]any {
	return map[string]any{"sgc": int(k.SGC), "krn": int(k.KRN), "kt": int(k.KT)}
}

// nextBaseDate is the base date a rollover moves to, or 0.
func nextBaseDate(b sts.BaseDate) sts.BaseDate {
	switch b {
	case sts.BaseDate1993:
		return sts.BaseDate2014
	case sts.BaseDate2014:
		return sts.BaseDate2035
	}
	return 0
}

// Test issues a class 1 test/display token (operator), in both variants.
func (m *Module) Test(ctx context.Context, a Actor, req TestRequest) (Issued, error) {
	if err := m.ready(a, "token.test"); err != nil {
		return Issued{}, err
	}
	if req.Sub != sts.TestDisplay1 && req.Sub != sts.TestDisplay2 {
		return Issued{}, refuse(ErrSubclass, "class 1 subclass %d", req.Sub)
	}
	n, err := sts.Test{Sub: req.Sub, MfrCode: req.MfrCode, Control: req.Control}.Encode(nil)
	if err != nil {
		return Issued{}, refuseCause(ErrRange, err, "test token")
	}
	j, err := newJob("token.test", req.ID, fmt.Sprintf("%d|%d|%d", req.Sub, req.MfrCode, req.Control), "", m.now())
	if err != nil {
		return Issued{}, err
	}
	j.run = func(ctx context.Context, tx *store.Tx, b *batch, ans *Issued) (map[string]any, error) {
		ans.Tokens = []string{n.String()}
		ans.Class, ans.Subclass = sts.ClassTest, req.Sub
		return map[string]any{"subclass": int(req.Sub), "mfr_code": int(req.MfrCode), "control": int64(req.Control)}, nil
	}
	return m.issue(ctx, a, j)
}

// VerifyRequest asks to decode a token made for a meter.
type VerifyRequest struct {
	Meter MeterKey
	Token string
}

// Verified is a decoded token. A key change section is returned without
// its key bits (PCI HSM B14: no key leaves the module in clear).
type Verified struct {
	Class    sts.Class    `json:"class"`
	Subclass sts.Subclass `json:"subclass"`
	Name     string       `json:"name"`
	Token    sts.Token    `json:"token"`
}

// Fields returns the token's fields in the one vocabulary of a decoded
// token (internal/tokenjson: tid, rnd, amount, …), never a key change
// section's key bits.
func (v Verified) Fields() tokenjson.Fields { return tokenjson.Of(v.Token).Without("key_part") }

// MarshalJSON prints the decoded token with its fields in the API's
// names (docs/sm-api.yaml, DecodedToken), not those of the Go types.
func (v Verified) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Class    sts.Class        `json:"class"`
		Subclass sts.Subclass     `json:"subclass"`
		Name     string           `json:"name"`
		Token    tokenjson.Fields `json:"token"`
	}{v.Class, v.Subclass, v.Name, v.Fields()})
}

// Verify decodes a token under a meter's decoder key (operator; SM?VT):
// the register must exist and be within ACT and IUT, and a credit token is
// refused under a key type the variant may not use (05), as STS 600-10-1
// §4.1.3 forbids the decryption too. A token that does not decode is
// ErrFormat (49). The check is audited.
func (m *Module) Verify(ctx context.Context, a Actor, req VerifyRequest) (Verified, error) {
	if err := m.ready(a, "token.verify"); err != nil {
		return Verified{}, err
	}
	num, err := sts.ParseNumber(req.Token)
	if err != nil {
		return Verified{}, refuseCause(ErrFormat, err, "token")
	}
	now := m.now()
	r, err := m.register(ctx, req.Meter.RegisterKey)
	if err != nil {
		return Verified{}, err
	}
	if err := r.checkTime(now); err != nil {
		return Verified{}, err
	}
	c, err := m.decoderCipher(ctx, &r, req.Meter.PAN, req.Meter.TI)
	if err != nil {
		return Verified{}, err
	}
	blk, err := sts.Open(num, c)
	if err != nil {
		return Verified{}, refuseCause(ErrFormat, err, "token")
	}
	if blk.Class == sts.ClassCredit {
		if err := m.checkCredit(req.Meter.KT); err != nil {
			return Verified{}, err
		}
	}
	t, err := sts.Decode(num, c)
	if err != nil {
		return Verified{}, refuseCause(ErrFormat, err, "token")
	}
	if kc, ok := t.(sts.KeyChange); ok {
		kc.KeyPart = 0
		t = kc
	}
	name, _ := sts.SubclassName(t.Class(), t.Subclass())
	v := Verified{Class: t.Class(), Subclass: t.Subclass(), Name: name, Token: t}
	err = m.tx(ctx, func(tx *store.Tx) error {
		_, err := m.log.Append(ctx, tx, audit.Entry{Actor: a.String(), Action: "token.verify", Subject: req.Meter.PAN.String(),
			Details: map[string]any{"token_sha256": TokenHash(num.String()), "class": int(v.Class), "subclass": int(v.Subclass),
				"sgc": int(r.SGC), "krn": int(r.KRN), "kt": int(r.KT)}})
		return err
	})
	if err != nil {
		return Verified{}, err
	}
	return v, nil
}

func randomNibble() uint8 {
	var b [1]byte
	rand.Read(b[:])
	return b[0] & 0xF
}
