package sm

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/sts"
)

// IssueRecord is one token request the module answered with tokens, as its
// audit record tells it: when, who, what and for which meter. It never
// holds the tokens: they are bearer values, and the record keeps only
// their hashes (TokenHash).
type IssueRecord struct {
	Seq      int64     // the number of the audit record
	Time     time.Time // when, UTC
	Actor    string    // who asked (Actor.String)
	Class    sts.Class
	Subclass sts.Subclass
	// PAN is the meter's, "" for a test token (class 1), which is for
	// no meter in particular.
	PAN string
	// Register is the register the tokens are encrypted under (a key
	// change: the meter's key before the change); zero for a test token.
	Register RegisterKey
	// To is the register a key change moves the meter to.
	To       RegisterKey
	TID      uint32 // 0 for a key change or a test token
	Amount   uint64 // a credit's amount in tenths of its unit (subclasses 0–3)
	Currency string // a currency credit's amount in currency units
	Value    int64  // a management token's value (watts of a power limit, …)
	Tokens   int    // how many tokens (2 to 4 for a key change)
	// RequestID is the request's id.
	RequestID string
}

// IssueFilter chooses issued tokens; its zero value chooses all.
type IssueFilter struct {
	PAN     string      // one meter's tokens ("": every meter's)
	Classes []sts.Class // of these classes (none: of every class)
	// From and Until bound the time of issue: From ≤ time < Until; a
	// zero bound is open.
	From, Until time.Time
}

// issueActions maps the audit actions of issued tokens to their class.
var issueActions = map[string]sts.Class{
	"token.credit":    sts.ClassCredit,
	"token.test":      sts.ClassTest,
	"token.manage":    sts.ClassManagement,
	"token.keychange": sts.ClassManagement,
}

// where is the WHERE clause of f on the audit log and its arguments,
// which start at $first.
func (f IssueFilter) where(first int) (string, []any) {
	var b strings.Builder
	var args []any
	arg := func(v any) int { args = append(args, v); return first + len(args) - 1 }
	b.WriteString(" WHERE action IN (")
	n := 0
	for _, action := range []string{"token.credit", "token.test", "token.manage", "token.keychange"} {
		if len(f.Classes) > 0 && !slices.Contains(f.Classes, issueActions[action]) {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "$%d", arg(action))
		n++
	}
	if n == 0 {
		fmt.Fprintf(&b, "$%d", arg("")) // no class of tokens: no record
	}
	b.WriteByte(')')
	if f.PAN != "" {
		fmt.Fprintf(&b, " AND subject = $%d", arg(f.PAN))
	}
	if !f.From.IsZero() {
		fmt.Fprintf(&b, " AND at_ns >= $%d", arg(f.From.UnixNano()))
	}
	if !f.Until.IsZero() {
		fmt.Fprintf(&b, " AND at_ns < $%d", arg(f.Until.UnixNano()))
	}
	return b.String(), args
}

// Issues lists the token requests the module answered with tokens
// that f chooses, newest first: at most limit of them from the offset-th,
// and how many f chooses in all ("token.list": officer, operator,
// auditor). The list is read from the audit log, where every issue is
// recorded in its transaction; a replayed answer is not a new issue.
func (m *Module) Issues(ctx context.Context, a Actor, f IssueFilter, offset, limit int) ([]IssueRecord, int, error) {
	if err := m.ready(a, "token.list"); err != nil {
		return nil, 0, err
	}
	if offset < 0 || limit < 1 {
		return nil, 0, refuse(ErrRange, "offset %d, limit %d (offset ≥ 0, limit ≥ 1)", offset, limit)
	}
	where, args := f.where(1)
	var total int
	if err := m.db.QueryRow(ctx, `SELECT COUNT(*) FROM audit_log`+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	q := fmt.Sprintf(`SELECT seq, at_ns, actor, action, subject, details FROM audit_log%s ORDER BY seq DESC LIMIT $%d OFFSET $%d`,
		where, len(args)+1, len(args)+2)
	out, err := store.All(ctx, m.db, q, append(args, int64(limit), int64(offset)), scanIssue)
	return out, total, err
}

// issuedDetails are the audit details of an issue that IssueRecord shows
// (sm/issue.go writes them).
type issuedDetails struct {
	Subclass  int         `json:"subclass"`
	TID       uint32      `json:"tid"`
	Amount    uint64      `json:"amount"`
	Currency  string      `json:"currency"`
	Value     int64       `json:"value"`
	SGC       uint32      `json:"sgc"`
	KRN       uint8       `json:"krn"`
	KT        sts.KeyType `json:"kt"`
	From      *issuedKey  `json:"from"`
	To        *issuedKey  `json:"to"`
	Hashes    []string    `json:"tokens_sha256"`
	RequestID string      `json:"request_id"`
}

// issuedKey is a register named in the details of a key change.
type issuedKey struct {
	SGC uint32      `json:"sgc"`
	KRN uint8       `json:"krn"`
	KT  sts.KeyType `json:"kt"`
}

func (k *issuedKey) key() RegisterKey {
	if k == nil {
		return RegisterKey{}
	}
	return RegisterKey{SGC: k.SGC, KRN: k.KRN, KT: k.KT}
}

// scanIssue reads a row of Issues' query.
func scanIssue(row store.Scanner) (IssueRecord, error) {
	var t IssueRecord
	var ns int64
	var action, details string
	if err := row.Scan(&t.Seq, &ns, &t.Actor, &action, &t.PAN, &details); err != nil {
		return t, err
	}
	var d issuedDetails
	if err := json.Unmarshal([]byte(details), &d); err != nil {
		return t, fmt.Errorf("sm: audit record %d (%s): %w", t.Seq, action, err)
	}
	t.Time, t.Class, t.Subclass = time.Unix(0, ns).UTC(), issueActions[action], sts.Subclass(d.Subclass)
	t.Register = RegisterKey{SGC: d.SGC, KRN: d.KRN, KT: d.KT}
	t.TID, t.Amount, t.Currency, t.Value = d.TID, d.Amount, d.Currency, d.Value
	t.Tokens, t.RequestID = len(d.Hashes), d.RequestID
	if action == "token.keychange" {
		t.Subclass, t.Register, t.To = sts.DecoderKey1, d.From.key(), d.To.key()
	}
	return t, nil
}

// IssueCount is how many token requests of one class the module answered
// with tokens in one period from Start.
type IssueCount struct {
	Start    time.Time // UTC, a multiple of the period since the Unix epoch
	Class    sts.Class
	Requests int
}

// IssueCounts counts the token requests f chooses per period (time.Hour,
// 24 * time.Hour: days from midnight UTC) and class, in time order, for a
// chart of tokens issued over time; periods without any are left out
// ("token.list").
func (m *Module) IssueCounts(ctx context.Context, a Actor, f IssueFilter, period time.Duration) ([]IssueCount, error) {
	if err := m.ready(a, "token.list"); err != nil {
		return nil, err
	}
	if period < time.Second {
		return nil, refuse(ErrRange, "period %v (at least a second)", period)
	}
	where, args := f.where(2)
	q := `SELECT (at_ns / $1) * $1, action, COUNT(*) FROM audit_log` + where + ` GROUP BY 1, 2 ORDER BY 1, 2`
	var out []IssueCount
	err := store.EachRow(ctx, m.db, q, append([]any{int64(period)}, args...), func(row store.Scanner) error {
		var start int64
		var action string
		var n int
		if err := row.Scan(&start, &action, &n); err != nil {
			return err
		}
		c := IssueCount{Start: time.Unix(0, start).UTC(), Class: issueActions[action], Requests: n}
		if k := len(out) - 1; k >= 0 && out[k].Start.Equal(c.Start) && out[k].Class == c.Class {
			out[k].Requests += n // token.keychange and token.manage, both class 2, come together
		} else {
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(x, y IssueCount) int {
		return cmp.Or(x.Start.Compare(y.Start), cmp.Compare(x.Class, y.Class))
	})
	return out, nil
}
