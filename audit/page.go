package audit

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Filter selects the records of a page of the log (Log.Page). Its zero
// value selects every record.
type Filter struct {
	Action string    // a prefix of the action ("token."), or "" for any
	Actor  string    // the actor exactly, or "" for any
	From   time.Time // records appended at or after From, if not zero
	To     time.Time // records appended before To, if not zero
	// Upto, if more than 0, leaves out the records after Seq Upto, so
	// that the pages of a list stay the same while the log grows.
	Upto int64
}

// unfiltered reports whether f selects by sequence number alone.
func (f Filter) unfiltered() bool {
	return f.Action == "" && f.Actor == "" && f.From.IsZero() && f.To.IsZero()
}

// where returns f's SQL condition and its arguments.
func (f Filter) where() (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, vals ...any) {
		for _, v := range vals {
			args = append(args, v)
			cond = strings.Replace(cond, "$?", "$"+strconv.Itoa(len(args)), 1)
		}
		conds = append(conds, cond)
	}
	if f.Upto > 0 {
		add(`seq <= $?`, f.Upto)
	}
	if f.Action != "" { // substr counts characters in both dialects
		add(`substr(action, 1, $?) = $?`, int64(utf8.RuneCountInString(f.Action)), f.Action)
	}
	if f.Actor != "" {
		add(`actor = $?`, f.Actor)
	}
	if !f.From.IsZero() {
		add(`at_ns >= $?`, f.From.UnixNano())
	}
	if !f.To.IsZero() {
		add(`at_ns < $?`, f.To.UnixNano())
	}
	if len(conds) == 0 {
		return "", nil
	}
	return "WHERE " + strings.Join(conds, " AND "), args
}

// Page returns at most n of the records f selects, newest (highest Seq)
// first, after the first skip of them, and how many f selects in all. It
// reads only the page's rows: without conditions but Upto, by a range of
// sequence numbers; with them, by one count and one limited query. It
// does not verify the chain (Verify does).
func (l *Log) Page(ctx context.Context, f Filter, skip, n int) ([]Record, int64, error) {
	if skip < 0 || n < 0 {
		return nil, 0, fmt.Errorf("audit: page: skip %d, n %d: want 0 or more", skip, n)
	}
	if f.unfiltered() {
		return l.seqPage(ctx, f.Upto, skip, n)
	}
	where, args := f.where()
	var total int64
	if err := l.db.QueryRow(ctx, `SELECT COUNT(*) FROM audit_log `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("audit: failed to count records: %w", err)
	}
	i := len(args)
	args = append(args, int64(n), int64(skip))
	rs, err := l.query(ctx, fmt.Sprintf(`%s ORDER BY seq DESC LIMIT $%d OFFSET $%d`, where, i+1, i+2), args...)
	return rs, total, err
}

// seqPage is Page without conditions: the records from Seq upto-skip
// down, by their sequence numbers (which have no gaps).
func (l *Log) seqPage(ctx context.Context, upto int64, skip, n int) ([]Record, int64, error) {
	size, err := l.Size(ctx)
	if err != nil {
		return nil, 0, err
	}
	if upto <= 0 || upto > size {
		upto = size
	}
	hi := upto - int64(skip)
	lo := max(hi-int64(n), 0)
	if hi <= 0 || n == 0 {
		return nil, upto, nil
	}
	rs, err := l.query(ctx, `WHERE seq > $1 AND seq <= $2 ORDER BY seq DESC`, lo, hi)
	return rs, upto, err
}

// query returns the records of selectRecords followed by rest.
func (l *Log) query(ctx context.Context, rest string, args ...any) ([]Record, error) {
	var rs []Record
	err := eachRecord(ctx, l.db, rest, args, func(r Record) error {
		rs = append(rs, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rs, nil
}
